package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/rolloutaudit"
	"github.com/natsops/natsops/pkg/service"
)

type restartOptions struct {
	*globals
	node      string
	mode      string
	force     bool
	dryRun    bool
	timeout   time.Duration
	poll      time.Duration
	breakLock bool
	noResume  bool
	canary    canaryFlags
}

func newRestartCmd(g *globals) *cobra.Command {
	o := &restartOptions{globals: g}
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
--break-lock removes a stale one. A rerun of the same restart (same nodes
and mode) within an hour of a failure or Ctrl-C resumes it, and says so
before touching a node: the nodes that rollout confirmed back are skipped.
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
  natsops restart --node nats-2 --allow-unavailable --yes   # accept an R1 stream's outage`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.canary.check(cmd.Flags()); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "restart only this node (the incident case)")
	f.StringVar(&o.mode, "mode", "graceful", "graceful (lame duck) or fast (immediate stop)")
	f.BoolVar(&o.force, "force", false, "go on although preflight finds the cluster unhealthy (the warning says what was skipped)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the order, commands and gates; change nothing")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "per node: how long a started node may take to be back")
	f.DurationVar(&o.poll, "poll", 50*time.Millisecond, "health poll interval")
	f.BoolVar(&o.breakLock, "break-lock", false, "remove another rollout's lock first (only when that rollout is dead)")
	f.BoolVar(&o.noResume, "no-resume", false, "restart every selected node, even those a stopped rollout of the same restart already did")
	o.canary.register(f, false)
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"graceful", "fast"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// restartResult is the last line of -o json.
type restartResult struct {
	Step    string   `json:"step"`
	OK      bool     `json:"ok"`
	Rollout string   `json:"rollout"`
	Order   []string `json:"order"`
	Done    []string `json:"done"`
	Skipped []string `json:"skipped"`
	NotDone []string `json:"not_done"`
	// StoppedAfter: --stop-after stopped the rollout after this many
	// nodes (ok, exit 0; not_done are left for a rerun).
	StoppedAfter int    `json:"stopped_after,omitempty"`
	Error        string `json:"error,omitempty"`
	Logs         string `json:"logs,omitempty"`
}

func (o *restartOptions) run(ctx context.Context) error {
	mode, err := service.ParseMode(o.mode)
	if err != nil {
		return usageError("%v", err)
	}
	if o.node != "" && len(o.limit) > 0 {
		return usageError("use --node or --limit, not both")
	}
	if o.timeout <= 0 || o.poll <= 0 {
		return usageError("--timeout and --poll must be positive")
	}
	sel := o.limit
	if o.node != "" {
		sel = []string{o.node}
	}
	return o.eachCluster(ctx, "restart", sel, o.canary.stopAfter > 0, func(g *globals) error {
		oc := *o
		oc.globals = g
		if o.node == "" {
			sel = g.limit
		}
		return oc.runCluster(ctx, mode, sel)
	})
}

// runCluster restarts the nodes sel selects of one cluster.
func (o *restartOptions) runCluster(ctx context.Context, mode service.Mode, sel []string) error {
	inv, nodes, err := o.loadSelected(sel)
	if err != nil {
		return err
	}
	conn, err := o.connector(inv)
	if err != nil {
		return err
	}
	if !o.dryRun {
		if err := o.confirm(fmt.Sprintf("restart %s (%s) one at a time", strings.Join(nodeNames(nodes), ", "), mode)); err != nil {
			return err
		}
	}
	// Ctrl-C stops the rollout between steps; a node already stopped is
	// still started.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	var trail *auditRun
	if !o.dryRun {
		trail = o.startAudit("restart", inv, nodes, conn)
		trail.plan = rolloutaudit.RestartPlan(nodeNames(nodes), string(mode))
	}
	opts := rollout.Options{
		Mode: mode, NodeTimeout: o.timeout, Poll: o.poll,
		Force: o.force, DryRun: o.dryRun, BreakLock: o.breakLock, NoResume: o.noResume,
	}
	o.canary.apply(&opts)
	cfg := o.rolloutConfig(inv, nodes, conn, opts, trail.tee(o.printEvent(start)))
	cfg.Command, cfg.Pausing = "restart", o.countdown()
	// The operation leaves out --stop-after, --pause and --healthy-for: a
	// rerun with or without them resumes.
	cfg.Operation = fmt.Sprintf("restart %s %s", mode, strings.Join(nodeNames(nodes), ","))
	if trail != nil {
		trail.run.Operation = cfg.Operation
	}
	rep, err := rollout.Run(ctx, cfg)
	trail.endRollout(ctx, rep, err)
	return o.finish(rep, err, time.Since(start))
}

// rolloutConfig is the engine's input for this process: the lock's owner
// (user@host, pid) and the real monitor, clock and hosts.
func (g *globals) rolloutConfig(inv *cluster.Inventory, nodes []*cluster.Node, conn *connector, opts rollout.Options, events func(rollout.Event)) rollout.Config {
	opts.Owner, opts.PID, opts.ProcessAlive = owner(conn), os.Getpid(), processAlive
	return rollout.Config{
		Inventory: inv,
		Nodes:     nodes,
		Connect:   conn.connect,
		Monitor:   &monitor.Client{},
		Clock:     fleet.RealClock{},
		Events:    events,
		Across:    rollout.AcrossFor(inv),
		Options:   opts,
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// printEvent writes one line per node and step: text with the elapsed
// time, or one JSON object per line.
func (g *globals) printEvent(start time.Time) func(rollout.Event) {
	return func(e rollout.Event) {
		if g.json() {
			writeJSONLine(g.sys.stdout, e)
			return
		}
		if e.Step == rollout.StepLogs {
			fmt.Fprintf(g.sys.stderr, "%s: last log lines:\n", e.Node)
			prefixLines(g.sys.stderr, "  | ", e.Detail)
			return
		}
		st := style{on: g.color()}
		res := e.Result
		switch res {
		case rollout.ResultOK:
			res = st.paint(ansiGreen, res)
		case rollout.ResultFailed, rollout.ResultInterrupted:
			res = st.paint(ansiRed, res)
		case rollout.ResultWarning:
			res = st.paint(ansiYellow, res)
		}
		node := e.Node
		if node == "" {
			node = "-"
		}
		detail := e.Detail
		if e.Result == rollout.ResultPlanned {
			detail = strings.ReplaceAll(detail, "\n", "; ")
		}
		fmt.Fprintf(g.sys.stdout, "%7.2fs  %-6s %-9s %-7s %6dms  %s\n", time.Since(start).Seconds(), node, e.Step, res, e.ElapsedMS, detail)
	}
}

func (o *restartOptions) finish(rep *rollout.Report, err error, took time.Duration) error {
	res := restartResult{Step: "result", OK: err == nil, Rollout: rep.ID, Order: nonNil(rep.Order), Done: nonNil(rep.Done), Skipped: nonNil(rep.Skipped), NotDone: nonNil(rep.NotDone), StoppedAfter: rep.StoppedAfter}
	code := exitCode(err)
	var re *rollout.Error
	if errors.As(err, &re) {
		res.Logs = re.Logs
	}
	if err != nil {
		res.Error = err.Error()
	}
	if o.json() {
		writeJSONLine(o.sys.stdout, res)
		if code != ExitOK {
			return reported(code)
		}
		return nil
	}
	w := o.sys.stdout
	switch {
	case o.dryRun && err == nil:
		fmt.Fprintf(w, "dry run: would restart %s; nothing was changed\n", orNone(rep.NotDone))
		return nil
	case err == nil:
		fmt.Fprintf(w, "restarted %s in %s", orNone(rep.Done), took.Round(time.Millisecond))
		if len(rep.Skipped) > 0 {
			fmt.Fprintf(w, " (skipped, already restarted: %s)", strings.Join(rep.Skipped, ", "))
		}
		fmt.Fprintln(w)
		if rep.StoppedAfter > 0 {
			fmt.Fprintln(w, o.canary.stopped(rep, "restart", "restarted"))
		}
		return nil
	}
	fmt.Fprintf(w, "done: %s; not done: %s\n", orNone(rep.Done), orNone(rep.NotDone))
	return withCode(code, err)
}

func nodeNames(nodes []*cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}
