// Package history is `natsops history`: the audit trail of tune, deploy
// and restart runs, read back (pkg/audit).
package history

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
)

// Options are history's flags.
type Options struct {
	*cmdutil.Factory
	Ctx   context.Context
	Node  string
	Limit int
}

// NewCmd is `natsops history`; runF, when set, gets the options instead
// of the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the audit trail of tune, provision, deploy and restart runs",
		Long: `Read back the audit trail: every tune, provision, deploy and restart that
got past its confirmation appends one JSON record per node to that node's
` + audit.NodePath + ` (a connection = "local" node: next to its
config, <config_path>` + audit.LocalNodeSuffix + `) and one for the whole run to
this machine's log: $` + audit.EnvLog + `, else $XDG_STATE_HOME/natsops/audit.jsonl,
else ~/.local/state/natsops/audit.jsonl. A record says when, who
(user@host) and from where, the natsops version, the inventory and its
SHA-256, the plan per node, every step with its result and time, and the
outcome: ok, failed, interrupted (Ctrl-C: the record is still written) or
refused (lock held, unhealthy cluster, files changed since the plan).
Secrets are never in it. A record that cannot be written is a warning;
it never changes a run's exit code.

Without --node, this machine's log is read (no inventory needed); with
--node N, node N's own log on its host (the last ` + fmt.Sprint(audit.ReadLines) + ` lines, over
SSH as the other commands reach it). Oldest first, the newest last;
--limit K shows the last K (0: all). A line that is not a record is
skipped with a warning naming the file and line.

Text: one line per run (time, who, command, outcome, nodes, duration,
run id, reason). NODES says what the run did: "done n1; not done n2,n3"
for a --stop-after canary, "done n1; failed n2; not done n3" for a run
that stopped at n2 (a record of an older natsops: the nodes it was asked
to change); REASON is why a run failed or was refused. -o json: one document, {"source": FILE, "records": [...]},
each record as stored.

Exit codes: 0 shown (also when there is nothing yet), 1 the log or the
node's host could not be read, 64 bad flags (--limit negative, an unknown
node).`,
		Example: `  natsops history
  natsops history --limit 5
  natsops history --node nats-1 -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if o.Limit < 0 {
				return cmdutil.Usage("--limit must be 0 (all) or more, not %d", o.Limit)
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().StringVar(&o.Node, "node", "", "read this node's own log on its host")
	_ = cmd.RegisterFlagCompletionFunc("node", f.CompleteNodes)
	cmd.Flags().IntVar(&o.Limit, "limit", 20, "show the last K runs (0: all)")
	return cmd
}

// read is the log history reads and the name it gives it.
func read(o *Options) ([]byte, string, error) {
	if o.Node == "" {
		env, err := o.Sys.SSHEnv()
		if err != nil {
			return nil, "", err
		}
		name := audit.LocalPath(o.Sys.Getenv, env.Home)
		if name == "" {
			return nil, "", fmt.Errorf("no audit log here: set %s or XDG_STATE_HOME", audit.EnvLog)
		}
		data, err := audit.ReadLocal(name)
		return data, name, err
	}
	inv, err := o.Load()
	if err != nil {
		return nil, "", err
	}
	var n *cluster.Node
	for _, c := range inv.Nodes {
		if c.Name == o.Node {
			n = c
		}
	}
	if n == nil {
		return nil, "", cmdutil.Usage("--node %q is not a node of %s (nodes: %s)", o.Node, inv.Path, strings.Join(inv.NodeNames(), ", "))
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	h, err := conn.Connect(o.Ctx, n)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", n.Name, err)
	}
	data, err := audit.ReadNode(o.Ctx, h, n)
	return data, n.Name + ":" + audit.PathFor(n), err
}

func run(o *Options) error {
	data, name, err := read(o)
	if err != nil {
		return err
	}
	recs, warns := audit.Parse(bytes.NewReader(data), name)
	for _, w := range warns {
		o.Warn("%s", w)
	}
	recs = audit.Select(recs, "", o.Limit)
	if o.JSON() {
		o.Result(map[string]any{"source": name, "records": text.NonNil(recs)})
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintf(o.Sys.Stderr, "no runs recorded in %s\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(o.Sys.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tCOMMAND\tOUTCOME\tNODES\tDURATION\tRUN\tREASON")
	for _, r := range recs {
		nodes := nodesColumn(r)
		if r.Node != "" {
			nodes = r.Node + " (" + text.OrDash(r.NodeOutcome) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Who, r.Command, r.Outcome, text.OrDash(nodes),
			(time.Duration(r.DurationMS) * time.Millisecond).Round(100*time.Millisecond), r.Run, text.OrDash(text.OneLine(r.Error)))
	}
	return tw.Flush()
}

// nodesColumn is what a run did to its nodes: "done n1; not done n2,n3",
// with the node it failed at and those it skipped; a record written
// before natsops kept them has only the nodes it was asked to change.
func nodesColumn(r audit.Record) string {
	if r.Done == nil && r.NotDone == nil && r.Skipped == nil && r.FailedNode == "" {
		return strings.Join(r.Nodes, ",")
	}
	var parts []string
	add := func(what string, ns []string) {
		if len(ns) > 0 {
			parts = append(parts, what+" "+strings.Join(ns, ","))
		}
	}
	add("done", r.Done)
	if r.FailedNode != "" {
		parts = append(parts, "failed "+r.FailedNode)
	}
	add("skipped", r.Skipped)
	add("not done", r.NotDone)
	if len(parts) == 0 {
		return "none done"
	}
	return strings.Join(parts, "; ")
}
