// Package inventory is `natsops inventory import`: a natsops inventory
// from another tool's (Ansible's, pkg/ansible).
package inventory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/ansible"
	"github.com/natsops/natsops/pkg/cluster"
)

// NewCmd is `natsops inventory`, the group of import.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Make a natsops inventory from another tool's (import --ansible)",
		Args:  cmdutil.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(NewCmdImport(f, nil))
	return cmd
}

// ImportOptions are import's flags.
type ImportOptions struct {
	*cmdutil.Factory
	AnsibleFile string
	Group       string
	Out         string
	Force       bool
	ClusterName string
}

// NewCmdImport is `natsops inventory import`; runF, when set, gets the
// options instead of the run.
func NewCmdImport(f *cmdutil.Factory, runF func(*ImportOptions) error) *cobra.Command {
	o := &ImportOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "import --ansible FILE|- --group NAME [--out FILE|-] [--force] [--cluster-name NAME]",
		Short: "Write a natsops inventory for one group of an Ansible inventory",
		Long: `Read the JSON of 'ansible-inventory --list' (a file, or - for stdin) and
write a commented natsops inventory of one group's hosts (its children's
included, each host once): ansible_host (else the inventory hostname) as
host, ansible_port, ansible_user and ansible_ssh_private_key_file as the
node's ssh settings, a ProxyJump in ansible_ssh_common_args or
ansible_ssh_extra_args (-J, -o ProxyJump=, -o ProxyCommand="ssh -W %h:%p
host") as ssh.proxy_jump, and the natsops variables nats_server_name,
nats_cluster_name, nats_route_host and nats_tags. Every other variable is
named as ignored, in the file and on stderr, never with its value. The
shared settings are natsops's defaults (inventory/example.toml's).

  ansible-inventory -i hosts.ini --list | natsops inventory import --ansible - --group nats --out natsops.toml

The result is checked as natsops validate checks an inventory before it
is written; --out - (the default) prints it. A file is written atomically,
mode 0644, and never over an existing one without --force.

Exit codes: 0 written, 64 bad flags or a group that does not exist (the
groups are listed), 65 not an inventory, malformed JSON (with its line),
an empty group, a host with no address or values natsops cannot use,
1 the input unreadable or the output exists (without --force).`,
		Example: `  ansible-inventory -i hosts.ini --list > ansible.json
  natsops inventory import --ansible ansible.json --group nats --out natsops.toml
  natsops validate -i natsops.toml`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.AnsibleFile == "":
				return cmdutil.Usage("--ansible FILE is required: the JSON of ansible-inventory --list (- for stdin)")
			case o.Group == "":
				return cmdutil.Usage("--group NAME is required: the Ansible group of your NATS servers")
			case o.Out == "-" && o.JSON():
				return cmdutil.Usage("-o json prints the result on stdout: write the inventory with --out FILE")
			}
			if runF != nil {
				return runF(o)
			}
			return runImport(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.AnsibleFile, "ansible", "", "the JSON of `ansible-inventory --list` (a FILE, or - for stdin)")
	fl.StringVar(&o.Group, "group", "", "the Ansible group whose hosts become the nodes")
	fl.StringVar(&o.Out, "out", "-", "where to write the inventory (FILE, or - for stdout)")
	fl.BoolVar(&o.Force, "force", false, "overwrite an existing --out file")
	fl.StringVar(&o.ClusterName, "cluster-name", "", "the cluster's name (default: nats_cluster_name of the hosts, else the group's name)")
	return cmd
}

func runImport(o *ImportOptions) error {
	source, data, err := o.read()
	if err != nil {
		return cmdutil.WithCode(cmdutil.ExitError, err)
	}
	inv, err := ansible.Parse(source, data)
	if err != nil {
		return invalid(err)
	}
	res, err := ansible.Import(inv, ansible.Options{Group: o.Group, ClusterName: o.ClusterName, Out: o.Out})
	if err != nil {
		return invalid(err)
	}
	if o.Out == "-" {
		if _, err := o.Sys.Stdout.Write(res.TOML); err != nil {
			return err
		}
	} else if err := atomicfile.Write(o.Out, res.TOML, 0o644, o.Force); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("%w; use --force to overwrite it, or --out to choose another path", err))
		}
		return cmdutil.WithCode(cmdutil.ExitError, err)
	}
	ignored := res.Ignored()
	if o.JSON() {
		o.Result(map[string]any{"out": o.Out, "group": res.Group, "cluster": res.Cluster, "cluster_from": res.ClusterFrom, "nodes": res.Nodes, "ignored": text.SortedKeys(ignored)})
		return nil
	}
	w := o.Sys.Stderr
	where := o.Out
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(w, "imported %d hosts of group %s as cluster %s (from %s) to %s\n", len(res.Nodes), cluster.Printable(res.Group), res.Cluster, res.ClusterFrom, where)
	for _, n := range res.Nodes {
		fmt.Fprintf(w, "  %-20s %s\n", n.Name, n.Host)
	}
	if len(ignored) > 0 {
		var parts []string
		for _, name := range text.SortedKeys(ignored) {
			// Names only (a value could be a password), and printable.
			parts = append(parts, fmt.Sprintf("%s (%d of %d hosts)", cluster.Printable(name), ignored[name], len(res.Nodes)))
		}
		fmt.Fprintf(w, "ignored (names only, natsops does not use them): %s\n", strings.Join(parts, ", "))
	}
	if o.Out != "-" {
		fmt.Fprintf(w, "next: review it, then run: natsops validate -i %s\n", o.Out)
	}
	return nil
}

// invalid is an import's problem: what the document says is invalid
// input (65); pkg/ansible's own errors carry their kind (a group that
// does not exist is a bad argument, 64: cmdutil.ExitCode).
func invalid(err error) error {
	var ae *ansible.Error
	if errors.As(err, &ae) {
		return err
	}
	return cmdutil.WithCode(cmdutil.ExitInvalid, err)
}

// read is --ansible's document and the name errors give it.
func (o *ImportOptions) read() (string, []byte, error) {
	if o.AnsibleFile == "-" {
		b, err := io.ReadAll(o.Sys.Stdin)
		if err != nil {
			return "", nil, fmt.Errorf("read stdin: %w", err)
		}
		return "stdin", b, nil
	}
	b, err := os.ReadFile(o.AnsibleFile)
	if err != nil {
		return "", nil, fmt.Errorf("read the Ansible inventory: %w", err)
	}
	return o.AnsibleFile, b, nil
}
