// Package restart is `natsops restart`: a rolling restart of the selected
// nodes, one at a time, gated on health (pkg/rollout does the work;
// internal/cmd/rolloutcmd the shared rollout plumbing).
package restart

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// Options are restart's flags.
type Options struct {
	*cmdutil.Factory
	Ctx      context.Context
	Node     string
	Mode     service.Mode
	Force    bool
	DryRun   bool
	Timeout  time.Duration
	Poll     time.Duration
	NoResume bool
	Canary   rolloutcmd.Flags
}

// NewCmd is `natsops restart`; runF, when set, gets the options instead
// of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	var mode string
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Rolling restart, one node at a time, gated on :8222 health",
		Long: `Restart the selected nodes one at a time, never two down at once.

Preflight: every node of the cluster reachable over SSH and on its
monitoring port, full /healthz ok, routes to every peer, one JetStream meta
leader. An unhealthy cluster is reread for up to 10s (a replica a moment
behind under traffic settles); if it stays unhealthy natsops refuses and
names each failing node and condition; --force skips that refusal (and
says what it skipped).

Order: nodes already down first, then followers, the JetStream meta leader
last. Per node: stop (graceful: lame duck via SIGUSR2 / --signal ldm;
fast: systemctl stop / --signal quit), wait for the process to exit, start,
then wait until /varz shows a new start, full /healthz is ok, the node and
its peers have routes to each other and JetStream is current on the meta
leader. Any failure stops the rollout there with the node's last log lines;
later nodes are not touched.

A lock (` + rollout.LockPath + `; a local node's sits next to its config,
<config_path>` + rollout.LocalLockSuffix + `) on every node stops a second rollout;
a lock whose holder ran on this machine and is gone (its pid runs no
more, or runs another process: the lock records the pid's start) is said
to be; --break-lock removes a stale one.

Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or a closed output pipe
(SIGPIPE, as ` + "`| head`" + ` does) stops between nodes (exit 5): the node being
restarted is finished first (started and confirmed back, never left
stopped), then the lock is released and the run recorded as interrupted
with the nodes done; a rerun resumes. A second Ctrl-C stops waiting for
the node (its stop and start still run to their end).

A rerun of the same restart (same nodes and mode) within an hour of a
failure or an interruption resumes it, and says so before touching a
node: the nodes that rollout confirmed back are skipped.
--no-resume restarts every node again; any other operation, or older
state, starts afresh.

Canary and soak: --stop-after N stops cleanly once N nodes of this run
are done and healthy: the lock is released, the resume state kept, and a
rerun of the same restart (with or without --stop-after) continues with
the rest (exit 0; -o json: "stopped_after"). --pause D waits D between
nodes (not after the last), with a countdown on a terminal; Ctrl-C during
it stops cleanly (exit 5), and a rerun continues. --healthy-for D (default
` + rollout.DefaultHealthyFor.String() + `): once a node is back it must stay ready for D, every
reading healthy (the node, its routes both ways, JetStream current on the
meta leader, the same process), before the next node; a reading that
fails restarts nothing and stops the rollout at that node (exit 3): a
node whose /healthz said ok while it was still catching up
(nats-server#4875, #5976).

JetStream: before any node is touched, and again right before each stop,
natsops reads every node's streams and consumers (/jsz) and refuses to
stop a node whose stop would make one unavailable: an R1 stream or
consumer whose only replica it holds (nats-io/k8s#614), or an Rn one
whose other replicas, as its group leader sees them, are too few current
to keep a quorum; and a node while a JetStream meta peer is lagging or
not seen. Each is named as account/stream with its reason code; a peer
catching up is reread for up to 10s first. --allow-unavailable goes on
and says what will be unavailable.

With an inventory of several clusters ([[clusters]]), the clusters go one at
a time, each its own rollout and lock: leaf clusters first, then the hubs,
the one whose node leads the JetStream meta group last; a node is left
only once its gateways (both ways) and leaf connections are back too. The
first failure stops the run; the clusters after it are not touched.
--cluster NAME picks clusters; --stop-after needs one.

--rebalance: once every node is done, the client connections are evened
across the cluster's nodes as natsops rebalance does (its own lock, health
gate and history record; needs the system account user): clients pile onto
the nodes restarted first. The spread before and after is shown (-o json:
"rebalance"); a rebalance that does not reach ±20 % exits 3.

Exit codes: 0 done (or stopped as --stop-after asked), 3 the cluster is
not healthy (preflight or the JetStream check refused, or a node did not
come back or did not stay ready), 1 any other failure (lock held, SSH, a
command), 5 cancelled or interrupted.`,
		Example: `  natsops restart --dry-run
  natsops restart --yes
  natsops restart --node nats-2 --force --yes
  natsops restart --mode fast -o json --yes
  natsops restart --stop-after 1 --yes      # a canary; then: natsops restart --yes
  natsops restart --pause 5m --yes
  natsops restart --node nats-2 --allow-unavailable --yes   # accept an R1 stream's outage
  natsops restart --rebalance --yes        # then even the clients across the nodes`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.Canary.Validate(cmd.Flags(), o.Sys.Getenv); err != nil {
				return err
			}
			m, err := service.ParseMode(mode)
			if err != nil {
				return cmdutil.Usage("%v", err)
			}
			o.Mode = m
			if o.Node != "" && len(o.Global.Limit) > 0 {
				return cmdutil.Usage("use --node or --limit, not both")
			}
			if o.Timeout <= 0 || o.Poll <= 0 {
				return cmdutil.Usage("--timeout and --poll must be positive")
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	fl := cmd.Flags()
	fl.StringVar(&o.Node, "node", "", "restart only this node (the incident case)")
	_ = cmd.RegisterFlagCompletionFunc("node", f.CompleteNodes)
	fl.StringVar(&mode, "mode", string(service.Graceful), "graceful (lame duck) or fast (immediate stop)")
	fl.BoolVar(&o.Force, "force", false, "go on although preflight finds the cluster unhealthy (the warning says what was skipped)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print the order, commands and gates; change nothing")
	fl.DurationVar(&o.Timeout, "timeout", rollout.DefaultNodeTimeout, "per node: how long a started node may take to be back")
	fl.DurationVar(&o.Poll, "poll", rollout.DefaultPoll, "health poll interval")
	fl.BoolVar(&o.NoResume, "no-resume", false, "restart every selected node, even those a stopped rollout of the same restart already did")
	o.Canary.Register(fl, false)
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{string(service.Graceful), string(service.Fast)}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func run(o *Options) error {
	sel := o.Global.Limit
	if o.Node != "" {
		sel = []string{o.Node}
	}
	return rolloutcmd.EachCluster(o.Ctx, o.Factory, "restart", sel, o.Canary.StopAfter > 0, func(f *cmdutil.Factory) (any, error) {
		oc := *o
		oc.Factory = f
		if o.Node == "" {
			sel = f.Global.Limit
		}
		return oc.runCluster(sel)
	})
}

// runCluster restarts the nodes sel selects of one cluster.
func (o *Options) runCluster(sel []string) (any, error) {
	inv, nodes, err := o.LoadSelected(sel)
	if err != nil {
		return nil, err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	names := cmdutil.NodeNames(nodes)
	if !o.DryRun {
		if err := o.Confirm(fmt.Sprintf("restart %s (%s) one at a time", strings.Join(names, ", "), o.Mode)); err != nil {
			return nil, err
		}
	}
	opts := rollout.Options{
		Mode: o.Mode, NodeTimeout: o.Timeout, Poll: o.Poll,
		Force: o.Force, DryRun: o.DryRun, NoResume: o.NoResume,
	}
	o.Canary.Apply(&opts)
	start := o.Sys.Clock.Now()
	rep, err := rolloutcmd.Run(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "restart", Inv: inv, Nodes: nodes, Conn: conn, Options: opts,
		Plan: rollout.AuditRestartPlan(names, string(o.Mode)),
		Edit: func(cfg *rollout.Config) {
			// The operation leaves out --stop-after, --pause and
			// --healthy-for: a rerun with or without them resumes.
			cfg.Operation = fmt.Sprintf("restart %s %s", o.Mode, strings.Join(names, ","))
		},
	})
	res := rolloutcmd.NewResult(inv, rep, err)
	err = o.finish(rep, err, o.Sys.Clock.Now().Sub(start))
	err = o.Canary.AfterRollout(o.Ctx, o.Factory, inv, conn, rep, res, o.DryRun, err)
	return res, err
}

// finish says what was restarted (text) and passes err on.
func (o *Options) finish(rep *rollout.Report, err error, took time.Duration) error {
	if o.JSON() {
		return err
	}
	w := o.Sys.Stdout
	switch {
	case o.DryRun && err == nil:
		fmt.Fprintf(w, "dry run: would restart %s; nothing was changed\n", text.OrNone(rep.NotDone))
		return nil
	case err == nil:
		fmt.Fprintf(w, "restarted %s in %s", text.OrNone(rep.Done), took.Round(time.Millisecond))
		if len(rep.Skipped) > 0 {
			fmt.Fprintf(w, " (skipped, already restarted: %s)", strings.Join(rep.Skipped, ", "))
		}
		fmt.Fprintln(w)
		if rep.StoppedAfter > 0 {
			fmt.Fprintln(w, o.Canary.Stopped(rep, "restart", "restarted"))
		}
		return nil
	}
	fmt.Fprintln(w, rolloutcmd.Summary(rep, err))
	return err
}
