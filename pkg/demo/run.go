package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/loadgen"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/probe"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// AckTimeout bounds each of the demo client's publishes: a publish in
// flight to the node being stopped gets no ack and would hold the
// publisher for the whole timeout; the gap the subscriber sees should
// show the cluster, not the client.
const AckTimeout = 500 * time.Millisecond

// ReadBackTimeout bounds reading back every acknowledged message after
// the rollout (a few thousand, milliseconds on a healthy cluster; the
// bound is for a cluster the rollout left without quorum).
const ReadBackTimeout = 20 * time.Second

// Node is one node in the demo's summary.
type Node struct {
	Node        string    `json:"node"`
	StartBefore time.Time `json:"start_before"`
	StartAfter  time.Time `json:"start_after,omitzero"`
	Restarted   bool      `json:"restarted"`
	// Steps are the rollout's per-step times (stop, exit, start, ready).
	Steps map[string]int64 `json:"steps_ms"`
}

// Run is what the demo saw: the nodes, the rollout's order and times,
// and what the client sent and read back. A supercluster's Order is
// every cluster's order, one cluster after another.
type Run struct {
	Nodes     []*Node         `json:"nodes"`
	Order     []string        `json:"order"`
	HealthyMS int64           `json:"healthy_ms"`
	RolloutMS int64           `json:"rollout_ms"`
	Messages  *loadgen.Result `json:"messages,omitempty"`
	// A supercluster's: the clusters in the order they were restarted
	// (rollout.EstateOrder), each cluster's rollout, and what each path
	// sent and read back.
	ClusterOrder []string      `json:"cluster_order,omitempty"`
	Clusters     []*ClusterRun `json:"clusters,omitempty"`
	Paths        []*PathRun    `json:"paths,omitempty"`
}

// RunOptions are how the demo runs its rolling restart.
type RunOptions struct {
	Mode service.Mode
	// Timeout bounds the cluster's start and each node's restart.
	Timeout time.Duration
	// Owner and PID go into the rollout's lock; ProcessAlive tells a
	// stale lock of this machine.
	Owner        string
	PID          int
	ProcessAlive func(pid int) bool
	// HealthyFor is the soak of each node of the demo's rolling restart
	// (0: DemoHealthyFor).
	HealthyFor time.Duration
	// Progress, when set, is told what the demo waits for and sees, at
	// least every progress.Every: the cluster becoming healthy after its
	// start, and every wait of the rolling restarts it runs
	// (rollout.Config.Progress). Nil: no reports.
	Progress progress.Func
}

// DemoHealthyFor is the soak of each node of the demo's rolling restart:
// shorter than rollout.DefaultHealthyFor (10s) so the demo takes seconds,
// not half a minute; its nodes are fresh local processes. natsops restart
// on the kept demo soaks the default.
const DemoHealthyFor = 2 * time.Second

func demoSoak(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return DemoHealthyFor
}

// Hooks show the demo as it goes; any may be nil.
type Hooks struct {
	Healthy func(ms int64, pids []int)
	Status  func(f *health.Fleet)
	Traffic func()
	Event   func(rollout.Event)
}

// ErrNotHealthy: the cluster did not become healthy at start.
var ErrNotHealthy = errors.New("the demo cluster is not healthy")

// RolloutError is a rolling restart that stopped, with what the demo
// knows of its processes; it unwraps to the rollout's error.
type RolloutError struct {
	msg string
	Err error
}

func (e *RolloutError) Error() string { return e.msg }
func (e *RolloutError) Unwrap() error { return e.Err }

// Run starts the cluster, waits until it is healthy, shows it, and
// rolling-restarts it through the restart engine while a client publishes
// with acks to an R3 stream; then it reads back every acknowledged
// message. run is filled in as it goes, also on failure; the caller stops
// and removes the cluster.
func (c *Cluster) Run(ctx context.Context, opts RunOptions, hooks Hooks, run *Run) error {
	inv := c.Inventory
	if err := c.startHealthy(ctx, opts, "cluster", hooks.Healthy, run); err != nil {
		return err
	}
	// The status shown is status's own: :8222 and each node's process
	// (descriptors, limits, capacity) at once.
	rd := probe.Reader{Fleet: c.Reader(), Connect: c.connect}.Read(ctx, inv.Nodes, inv.Nodes)
	if hooks.Status != nil {
		hooks.Status(health.Status(inv, inv.Nodes, rd.Snaps, rd.Hosts))
	}
	byNode := trackNodes(run, inv.Nodes, rd.Snaps)

	load, err := loadgen.Start(ctx, loadgen.Options{URLs: clientURLs(inv), Stream: "DEMO", Subject: "demo.msgs", Replicas: len(inv.Nodes), AckTimeout: AckTimeout})
	if err != nil {
		return fmt.Errorf("demo: start the client: %w", err)
	}
	if hooks.Traffic != nil {
		hooks.Traffic()
	}
	t := time.Now()
	rep, rerr := rollout.Run(ctx, c.restartConfig(inv, opts, fmt.Sprintf("demo restart %s", opts.Mode), stepEvents(byNode, hooks.Event)))
	run.RolloutMS = time.Since(t).Milliseconds()
	if rep != nil && rep.Order != nil {
		run.Order = rep.Order
	}

	// Read back what was acknowledged even after a failure: the cluster
	// is still up (or was left serving by the rollout).
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReadBackTimeout)
	res, verr := load.Stop(vctx)
	cancel()
	run.Messages = &res
	markRestarted(run.Nodes, c.Snapshots(context.WithoutCancel(ctx)))
	switch {
	case rerr != nil:
		// Not restart's advice (rerun to resume): the demo cluster is
		// stopped and removed after this.
		return &RolloutError{msg: "demo: the rolling restart stopped: " + rolloutWhat(rerr) + c.deadNodes(), Err: rerr}
	case verr != nil:
		return fmt.Errorf("demo: %w", verr)
	case res.Lost > 0:
		return fmt.Errorf("demo: %d acknowledged messages could not be read back (sequences %v)", res.Lost, res.LostSeqs)
	}
	return nil
}

// startHealthy starts every node and waits until the demo's clusters are
// healthy (what names them in errors), then sets run.HealthyMS and tells
// healthy (nil: nobody).
func (c *Cluster) startHealthy(ctx context.Context, opts RunOptions, what string, healthy func(ms int64, pids []int), run *Run) error {
	t := time.Now()
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("demo: start: %w", err)
	}
	if err := c.waitHealthy(ctx, fleet.RealClock{}, c.Snapshots, opts.Timeout, 50*time.Millisecond, opts.Progress); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("demo: interrupted while the %s was starting: %w", what, ctx.Err())
		}
		return fmt.Errorf("demo: %w: %w", ErrNotHealthy, err)
	}
	run.HealthyMS = time.Since(t).Milliseconds()
	if healthy != nil {
		healthy(run.HealthyMS, c.Running())
	}
	return nil
}

// connect reaches a demo node: the local transport, in the demo's
// directory.
func (c *Cluster) connect(ctx context.Context, n *cluster.Node) (remote.Host, error) {
	return remote.Connect(ctx, n, c.Dir, remote.Env{}, remote.DialOptions{})
}

// restartConfig is the rolling restart of every node of inv, as
// `natsops restart` runs it (with inv's estate, rollout.AcrossFor).
func (c *Cluster) restartConfig(inv *cluster.Inventory, opts RunOptions, operation string, events func(rollout.Event)) rollout.Config {
	return rollout.Config{
		Inventory: inv,
		Nodes:     inv.Nodes,
		Operation: operation,
		Command:   "restart",
		Connect:   c.connect,
		Monitor:   &monitor.Client{},
		Clock:     fleet.RealClock{},
		Events:    events,
		Progress:  opts.Progress,
		Across:    rollout.AcrossFor(inv),
		Options:   rollout.Options{Mode: opts.Mode, NodeTimeout: opts.Timeout, Owner: opts.Owner, PID: opts.PID, ProcessAlive: opts.ProcessAlive, HealthyFor: demoSoak(opts.HealthyFor)},
	}
}

// trackNodes adds one Node per node to run, with its start before the
// restart from snaps, and returns them by name.
func trackNodes(run *Run, nodes []*cluster.Node, snaps map[string]*monitor.Snapshot) map[string]*Node {
	byNode := map[string]*Node{}
	for _, n := range nodes {
		dn := &Node{Node: n.Name, Steps: map[string]int64{}}
		if s := snaps[n.Name]; s != nil && s.Varz != nil {
			dn.StartBefore = s.Varz.Start
		}
		run.Nodes = append(run.Nodes, dn)
		byNode[n.Name] = dn
	}
	return byNode
}

// stepEvents records each node's stop, exit, start and ready timings and
// passes every event on to hook (nil: nobody).
func stepEvents(byNode map[string]*Node, hook func(rollout.Event)) func(rollout.Event) {
	return func(e rollout.Event) {
		if dn := byNode[e.Node]; dn != nil && e.Result == rollout.ResultOK {
			switch e.Step {
			case rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady:
				dn.Steps[e.Step] = e.ElapsedMS
			}
		}
		if hook != nil {
			hook(e)
		}
	}
}

// markRestarted sets each node's start after the restart from after, and
// whether it was restarted (a later start than before).
func markRestarted(nodes []*Node, after map[string]*monitor.Snapshot) {
	for _, dn := range nodes {
		if s := after[dn.Node]; s != nil && s.Varz != nil {
			dn.StartAfter = s.Varz.Start
			dn.Restarted = !dn.StartBefore.IsZero() && s.Varz.Start.After(dn.StartBefore)
		}
	}
}

// rolloutWhat is a stopped rollout as the demo says it: the node's
// summary, not restart's advice to rerun (the demo is removed after it).
func rolloutWhat(err error) string {
	var re *rollout.Error
	if errors.As(err, &re) && re.Kind == rollout.KindNode {
		return re.Summary()
	}
	return err.Error()
}

// deadNodes says which nodes' processes are gone (the rollout sees only
// what the monitoring endpoints say; the demo knows its processes).
func (c *Cluster) deadNodes() string {
	var b strings.Builder
	dead := c.NotRunning()
	for _, n := range c.Nodes() {
		pid, ok := dead[n.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n%s: its server process (pid %d) is not running: it exited or was killed. Its last log lines:\n", n.Name, pid)
		for _, l := range strings.Split(c.Logs(n, 5), "\n") {
			fmt.Fprintf(&b, "  | %s\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// clientURLs are the nodes' client URLs.
func clientURLs(inv *cluster.Inventory) []string {
	var out []string
	for _, n := range inv.Nodes {
		out = append(out, "nats://"+n.ClientAddr())
	}
	return out
}
