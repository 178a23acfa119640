package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/natsops/natsops/pkg/ansible"
	"github.com/natsops/natsops/pkg/cluster"
)

func newInventoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Make a natsops inventory from another tool's (import --ansible)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newInventoryImportCmd(g))
	return cmd
}

type importOptions struct {
	*globals
	ansibleFile string
	group       string
	out         string
	force       bool
	clusterName string
}

func newInventoryImportCmd(g *globals) *cobra.Command {
	o := &importOptions{globals: g}
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run() },
	}
	f := cmd.Flags()
	f.StringVar(&o.ansibleFile, "ansible", "", "the JSON of `ansible-inventory --list` (a FILE, or - for stdin)")
	f.StringVar(&o.group, "group", "", "the Ansible group whose hosts become the nodes")
	f.StringVar(&o.out, "out", "-", "where to write the inventory (FILE, or - for stdout)")
	f.BoolVar(&o.force, "force", false, "overwrite an existing --out file")
	f.StringVar(&o.clusterName, "cluster-name", "", "the cluster's name (default: nats_cluster_name of the hosts, else the group's name)")
	return cmd
}

func (o *importOptions) run() error {
	switch {
	case o.ansibleFile == "":
		return usageError("--ansible FILE is required: the JSON of ansible-inventory --list (- for stdin)")
	case o.group == "":
		return usageError("--group NAME is required: the Ansible group of your NATS servers")
	case o.out == "-" && o.json():
		return usageError("-o json prints the result on stdout: write the inventory with --out FILE")
	}
	source, data, err := o.read()
	if err != nil {
		return withCode(ExitError, err)
	}
	inv, err := ansible.Parse(source, data)
	if err != nil {
		return importError(err)
	}
	res, err := ansible.Import(inv, ansible.Options{Group: o.group, ClusterName: o.clusterName, Out: o.out})
	if err != nil {
		return importError(err)
	}
	if o.out == "-" {
		if _, err := o.sys.stdout.Write(res.TOML); err != nil {
			return err
		}
	} else if err := atomicfile.Write(o.out, res.TOML, 0o644, o.force); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return withCode(ExitError, fmt.Errorf("%w; use --force to overwrite it, or --out to choose another path", err))
		}
		return withCode(ExitError, err)
	}
	ignored := res.Ignored()
	if o.json() {
		names := sortedNames(ignored)
		writeJSON(o.sys.stdout, map[string]any{"ok": true, "out": o.out, "group": res.Group, "cluster": res.Cluster, "cluster_from": res.ClusterFrom, "nodes": res.Nodes, "ignored": names})
		return nil
	}
	w := o.sys.stderr
	where := o.out
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(w, "imported %d hosts of group %s as cluster %s (from %s) to %s\n", len(res.Nodes), cluster.Printable(res.Group), res.Cluster, res.ClusterFrom, where)
	for _, n := range res.Nodes {
		fmt.Fprintf(w, "  %-20s %s\n", n.Name, n.Host)
	}
	if len(ignored) > 0 {
		var parts []string
		for _, name := range sortedNames(ignored) {
			// Names only (a value could be a password), and printable.
			parts = append(parts, fmt.Sprintf("%s (%d of %d hosts)", cluster.Printable(name), ignored[name], len(res.Nodes)))
		}
		fmt.Fprintf(w, "ignored (names only, natsops does not use them): %s\n", strings.Join(parts, ", "))
	}
	if o.out != "-" {
		fmt.Fprintf(w, "next: review it, then run: natsops validate -i %s\n", o.out)
	}
	return nil
}

// read is --ansible's document and the name errors give it.
func (o *importOptions) read() (string, []byte, error) {
	if o.ansibleFile == "-" {
		b, err := io.ReadAll(o.sys.stdin)
		if err != nil {
			return "", nil, fmt.Errorf("read stdin: %w", err)
		}
		return "stdin", b, nil
	}
	b, err := os.ReadFile(o.ansibleFile)
	if err != nil {
		return "", nil, fmt.Errorf("read the Ansible inventory: %w", err)
	}
	return o.ansibleFile, b, nil
}

// importError gives an import's problems their exit code: 64 for a group
// that does not exist, 65 for everything the document says.
func importError(err error) error {
	var ae *ansible.Error
	if errors.As(err, &ae) && ae.Kind == ansible.KindNoGroup {
		return withCode(ExitUsage, err)
	}
	return withCode(ExitInvalid, err)
}

func sortedNames(m map[string]int) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
