package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/audit"
)

type historyOptions struct {
	*globals
	node  string
	limit int
}

func newHistoryCmd(g *globals) *cobra.Command {
	o := &historyOptions{globals: g}
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
run id). -o json: one record per line, as stored.

Exit codes: 0 shown (also when there is nothing yet), 1 the log or the
node's host could not be read, 64 bad flags (--limit negative, an unknown
node).`,
		Example: `  natsops history
  natsops history --limit 5
  natsops history --node nats-1 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&o.node, "node", "", "read this node's own log on its host")
	cmd.Flags().IntVar(&o.limit, "limit", 20, "show the last K runs (0: all)")
	return cmd
}

func (o *historyOptions) run(ctx context.Context) error {
	if o.limit < 0 {
		return usageError("--limit must be 0 (all) or more, not %d", o.limit)
	}
	var data []byte
	var name string
	if o.node == "" {
		env, err := o.sys.sshEnv()
		if err != nil {
			return err
		}
		name = audit.LocalPath(o.sys.getenv, env.Home)
		if name == "" {
			return fmt.Errorf("no audit log here: set %s or XDG_STATE_HOME", audit.EnvLog)
		}
		if data, err = audit.ReadLocal(name); err != nil {
			return err
		}
	} else {
		inv, nodes, err := o.loadSelected([]string{o.node})
		if err != nil {
			return err
		}
		if len(nodes) != 1 {
			return usageError("--node names one node, not %d", len(nodes))
		}
		n := nodes[0]
		conn, err := o.connector(inv)
		if err != nil {
			return err
		}
		defer conn.close()
		h, err := conn.connect(ctx, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		if data, err = audit.ReadNode(ctx, h, n); err != nil {
			return err
		}
		name = n.Name + ":" + audit.PathFor(n)
	}
	recs, warns := audit.Parse(bytes.NewReader(data), name)
	for _, w := range warns {
		fmt.Fprintf(o.sys.stderr, "natsops: warning: %s\n", w)
	}
	recs = audit.Select(recs, "", o.limit)
	if o.json() {
		for _, r := range recs {
			writeJSONLine(o.sys.stdout, r)
		}
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintf(o.sys.stderr, "no runs recorded in %s\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(o.sys.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tCOMMAND\tOUTCOME\tNODES\tDURATION\tRUN")
	for _, r := range recs {
		nodes := strings.Join(r.Nodes, ",")
		if r.Node != "" {
			nodes = r.Node + " (" + orDash(r.NodeOutcome) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Who, r.Command, r.Outcome, orDash(nodes),
			(time.Duration(r.DurationMS) * time.Millisecond).Round(100*time.Millisecond), r.Run)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
