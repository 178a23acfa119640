package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natscontext"
)

type contextsOpts struct {
	write, force, withSecrets bool
	dir, user, suffix         string
}

func newContextsCmd(g *globals) *cobra.Command {
	var o contextsOpts
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runContexts(g, o) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.write, "write", false, "write the contexts (default: print them)")
	f.BoolVar(&o.force, "force", false, "overwrite contexts of the same name that natsops did not write")
	f.BoolVar(&o.withSecrets, "with-secrets", false, "write passwords in plain text instead of env:// or file:// references")
	f.StringVar(&o.dir, "dir", "", "context directory (default $XDG_CONFIG_HOME/nats/context or ~/.config/nats/context)")
	f.StringVar(&o.user, "user", "", "inventory user to log in as (default: the system user)")
	f.StringVar(&o.suffix, "suffix", "", "name the contexts CLUSTER-SUFFIX (a second context per cluster, e.g. --user app --suffix app)")
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

func runContexts(g *globals, o contextsOpts) error {
	est, err := g.loadEstate()
	if err != nil {
		return err
	}
	picked, err := g.scope(est, g.limit)
	if err != nil {
		return err
	}
	dir := o.dir
	if dir == "" {
		home := ""
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
		if dir, err = natscontext.Dir(g.sys.getenv, home); err != nil {
			return usageError("%v", err)
		}
	}
	src, err := filepath.Abs(est.Path)
	if err != nil {
		return err
	}
	opts := natscontext.Options{User: o.user, WithSecrets: o.withSecrets, Env: cluster.Env(g.sys.getenv), Source: src, Suffix: o.suffix}
	// Every context is built and checked before any is written: a bad
	// user or a foreign file in one cluster writes nothing at all.
	var cs []*natscontext.Context
	for _, sc := range picked {
		c, err := natscontext.Build(sc.inv, sc.nodes, opts)
		if err != nil {
			return contextsError(err)
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return usageError("%s: no cluster with nodes selected", est.Path)
	}
	res := make([]contextResult, len(cs))
	for i, c := range cs {
		action, err := c.Check(dir, o.force)
		if err != nil {
			return contextsError(err)
		}
		res[i] = contextResult{Context: c, Path: c.Path(dir), Action: action, File: json.RawMessage(c.Redacted())}
	}
	if o.write {
		for i, c := range cs {
			action, err := c.Write(dir, o.force)
			if err != nil {
				return contextsError(err)
			}
			res[i].Action = action
		}
	}
	if g.json() {
		writeJSON(g.sys.stdout, map[string]any{"ok": true, "written": o.write, "dir": dir, "contexts": res})
		return nil
	}
	w := g.sys.stdout
	for _, r := range res {
		verb := r.Action
		if !o.write {
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
		if !o.write {
			prefixLines(w, "    ", string(r.File))
		}
	}
	if !o.write {
		fmt.Fprintln(w, "dry run: nothing written; rerun with --write")
		return nil
	}
	fmt.Fprintf(w, "try: nats --context %s server ls\n", res[0].Name)
	return nil
}

// contextsError maps a context that cannot be built, or a refused or
// failed write, to its exit code: a flag naming what the inventory does
// not have 64, an inventory that cannot give a working login 65, a
// context natsops did not write (and any I/O failure) 1.
func contextsError(err error) error {
	var fe *natscontext.ForeignError
	var ce *natscontext.Error
	switch {
	case errors.As(err, &fe):
		return withCode(ExitError, err)
	case errors.As(err, &ce) && ce.Usage:
		return withCode(ExitUsage, err)
	case errors.As(err, &ce):
		return withCode(ExitInvalid, err)
	}
	return err
}
