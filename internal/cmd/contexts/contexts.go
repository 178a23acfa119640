// Package contexts is `natsops contexts`: a natscli context per cluster
// (pkg/natscontext).
package contexts

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natscontext"
)

// Options are contexts' flags.
type Options struct {
	*cmdutil.Factory
	Write, Force, WithSecrets bool
	Dir, User, Suffix         string
}

// NewCmd is `natsops contexts`; runF, when set, gets the options instead
// of the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "contexts",
		Short: "Write a natscli context per cluster (nats --context CLUSTER ...)",
		Long: `Build one natscli context per cluster of the inventory (--cluster picks
some, --limit narrows the servers), named after the cluster: every node's
client URL (tls:// when the client port has TLS, with its CA file when that
path is readable here too), the JetStream
domain, and a user of the inventory: the system user by default (what
'nats server ls' and 'nats server report' need), or --user NAME.

Passwords are written as references natscli resolves when it connects:
env:NAME as env://NAME, file:PATH as file:///absolute/path. A password
the inventory has in plain text is written only with --with-secrets
(which writes every password in plain text); a bcrypt hash cannot log in
and is an error.

The system account has no JetStream of its own: for stream work write a
second context as a user of an account that has it, e.g. --user app
--suffix app (context CLUSTER-app).

Without --write it prints what it would write (secrets masked). With
--write the files go to $XDG_CONFIG_HOME/nats/context (default
~/.config/nats/context, or --dir), mode 0600, atomically. A context
natsops did not write is never overwritten without --force.`,
		Example: `  natsops contexts -i natsops.toml             # show what would be written
  natsops contexts -i natsops.toml --write
  nats --context local server ls
  natsops contexts -i natsops.toml --user app --suffix app --write
  nats --context local-app stream ls`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Write, "write", false, "write the contexts (default: print them)")
	fl.BoolVar(&o.Force, "force", false, "overwrite contexts of the same name that natsops did not write")
	fl.BoolVar(&o.WithSecrets, "with-secrets", false, "write passwords in plain text instead of env:// or file:// references")
	fl.StringVar(&o.Dir, "dir", "", "context directory (default $XDG_CONFIG_HOME/nats/context or ~/.config/nats/context)")
	fl.StringVar(&o.User, "user", "", "inventory user to log in as (default: the system user)")
	fl.StringVar(&o.Suffix, "suffix", "", "name the contexts CLUSTER-SUFFIX (a second context per cluster, e.g. --user app --suffix app)")
	return cmd
}

// contextResult is one context in the output.
type contextResult struct {
	*natscontext.Context
	Path   string `json:"path"`
	Action string `json:"action"`
	// File is the context's JSON, any plain-text secret masked.
	File json.RawMessage `json:"file"`
}

func run(o *Options) error {
	est, err := o.LoadEstate()
	if err != nil {
		return err
	}
	picked, err := o.Scope(est, o.Global.Limit)
	if err != nil {
		return err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = natscontext.Dir(o.Sys.Getenv, o.Sys.HomeDir()); err != nil {
			return cmdutil.Usage("%v", err)
		}
	}
	src, err := filepath.Abs(est.Path)
	if err != nil {
		return err
	}
	opts := natscontext.Options{User: o.User, WithSecrets: o.WithSecrets, Env: cluster.Env(o.Sys.Getenv), Source: src, Suffix: o.Suffix}
	// Every context is built and checked before any is written: a bad
	// user or a foreign file in one cluster writes nothing at all.
	var cs []*natscontext.Context
	for _, sc := range picked {
		c, err := natscontext.Build(sc.Inv, sc.Nodes, opts)
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return cmdutil.Usage("%s: no cluster with nodes selected", est.Path)
	}
	res := make([]contextResult, len(cs))
	for i, c := range cs {
		action, err := c.Check(dir, o.Force)
		if err != nil {
			return err
		}
		res[i] = contextResult{Context: c, Path: c.Path(dir), Action: action, File: json.RawMessage(c.Redacted())}
	}
	if o.Write {
		for i, c := range cs {
			action, err := c.Write(dir, o.Force)
			if err != nil {
				return err
			}
			res[i].Action = action
		}
	}
	if o.JSON() {
		o.Result(map[string]any{"written": o.Write, "dir": dir, "contexts": res})
		return nil
	}
	w := o.Sys.Stdout
	for _, r := range res {
		verb := r.Action
		if !o.Write {
			verb = "would be " + r.Action
		}
		fmt.Fprintf(w, "context %s: %s (%s)\n", r.Name, r.Path, verb)
		fmt.Fprintf(w, "  servers: %s\n", strings.Join(r.Servers, ", "))
		switch {
		case r.User != "":
			fmt.Fprintf(w, "  user: %s, %s; password: %s\n", r.User, r.Why, r.Credential)
		case r.Credential != "":
			fmt.Fprintf(w, "  token: %s\n", r.Credential)
		default:
			fmt.Fprintf(w, "  user: %s\n", r.Why)
		}
		if r.JSDomain != "" {
			fmt.Fprintf(w, "  jetstream domain: %s\n", r.JSDomain)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		if !o.Write {
			view.PrefixLines(w, "    ", string(r.File))
		}
	}
	if !o.Write {
		fmt.Fprintln(w, "dry run: nothing written; rerun with --write")
		return nil
	}
	fmt.Fprintf(w, "try: nats --context %s server ls\n", res[0].Name)
	return nil
}
