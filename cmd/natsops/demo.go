package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/loadgen"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// demoAckTimeout bounds each of the demo client's publishes.
const demoAckTimeout = 500 * time.Millisecond

// demoReadBackTimeout bounds the demo client's Stop: reading every
// acknowledged message back (one attempt takes well under a second on a
// healthy cluster; each JetStream request in it is bounded to 5s and
// retried), also after Ctrl-C or a failed rollout.
const demoReadBackTimeout = 20 * time.Second

type demoOptions struct {
	*globals
	graceful bool
	keep     bool
	stop     string
	timeout  time.Duration
}

func newDemoCmd(g *globals) *cobra.Command {
	o := &demoOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a real local 3-node cluster and rolling-restart it, gated on health",
		Long: `Start a real 3-node NATS cluster on this machine and show a health-gated
rolling restart of it, with nothing to install or configure.

The nodes are inventory/local.toml on free loopback ports, in a new
temporary directory (inventory, rendered configs, logs, JetStream data).
Each node is a separate process of this natsops binary running its
embedded nats-server (v` + server.VERSION + `), started in pidfile mode
through the local transport. Once the cluster is healthy natsops prints
its status, then restarts every node one at a time through the same
engine as 'natsops restart' (followers first, the JetStream meta leader
last, each node gated on /healthz, routes and JetStream), while a client
publishes with acks to an R3 stream and a subscriber listens. The summary
says what was restarted, the timings, how many messages were sent,
acknowledged and received, whether every acknowledged message can be read
back, and the longest gap the subscriber saw.

Then every process the demo started is stopped and its directory removed,
also on failure and on Ctrl-C; with --keep the cluster keeps running for
'status', 'restart', 'check' or 'deploy' with -i DIR/natsops.toml, and
'natsops demo --stop DIR' ends it.

Exit codes: 0 done, 3 the cluster did not become healthy or a node did
not come back, 5 interrupted, 1 any other failure (including an
acknowledged message that could not be read back).`,
		Example: `  natsops demo
  natsops demo --graceful
  natsops demo --keep
  natsops demo --stop /tmp/natsops-demo-123456`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.graceful, "graceful", false, "stop each node through lame duck (clients moved away first; a few seconds per node) instead of --mode fast")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster running afterwards and print how to use and stop it")
	f.StringVar(&o.stop, "stop", "", "stop the kept demo cluster in `DIR` and remove DIR")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long the cluster may take to become healthy, and each restarted node to be back")
	return cmd
}

// demoNode is one node in the summary.
type demoNode struct {
	Node        string    `json:"node"`
	StartBefore time.Time `json:"start_before"`
	StartAfter  time.Time `json:"start_after,omitzero"`
	Restarted   bool      `json:"restarted"`
	// Steps are the rollout's per-step times (stop, exit, start, ready).
	Steps map[string]int64 `json:"steps_ms"`
}

// demoSummary is the last line of -o json and the text summary's data.
type demoSummary struct {
	Step      string          `json:"step"`
	OK        bool            `json:"ok"`
	Dir       string          `json:"dir"`
	Inventory string          `json:"inventory"`
	Kept      bool            `json:"kept"`
	Removed   bool            `json:"removed"`
	Mode      service.Mode    `json:"mode"`
	Nodes     []*demoNode     `json:"nodes"`
	Order     []string        `json:"order"`
	PIDs      []int           `json:"pids"`
	Running   []int           `json:"running"`
	HealthyMS int64           `json:"healthy_ms"`
	RolloutMS int64           `json:"rollout_ms"`
	TotalMS   int64           `json:"total_ms"`
	Messages  *loadgen.Result `json:"messages,omitempty"`
	Error     string          `json:"error,omitempty"`
}

func (o *demoOptions) run(ctx context.Context) error {
	if o.stop != "" {
		return o.stopKept()
	}
	if o.timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	mode := service.Fast
	if o.graceful {
		mode = service.Graceful
	}
	// Ctrl-C cancels; the cleanup below still runs.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	begin := time.Now()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find the natsops binary the nodes run: %w", err)
	}
	c, err := demo.Create("", exe)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sum := &demoSummary{Step: "summary", Dir: c.Dir, Inventory: c.InventoryPath(), Mode: mode, Order: []string{}, Running: []int{}}
	stopReaping := c.Reap()
	err = o.demo(ctx, c, mode, sum, begin)
	if err == nil && o.keep {
		sum.Kept = true
		sum.PIDs, sum.Running = nonNil(c.Started()), nonNil(c.Running())
	} else {
		// Stop everything the demo started, whatever happened.
		if _, serr := c.Stop(10 * time.Second); serr != nil && err == nil {
			err = fmt.Errorf("demo: %w", serr)
		}
		sum.PIDs, sum.Running = nonNil(c.Started()), nonNil(c.Running())
		stopReaping()
		if rerr := c.Remove(); rerr != nil && err == nil {
			err = fmt.Errorf("demo: remove %s: %w", c.Dir, rerr)
		}
		_, statErr := os.Stat(c.Dir)
		sum.Removed = errors.Is(statErr, os.ErrNotExist)
	}
	if err != nil && ctx.Err() != nil {
		// The rollout's "rerun natsops restart to resume" does not apply:
		// the cluster is gone.
		err = withCode(ExitCancelled, fmt.Errorf("demo: interrupted; the demo cluster was stopped and %s removed", c.Dir))
	}
	sum.TotalMS = time.Since(begin).Milliseconds()
	sum.OK = err == nil
	if err != nil {
		sum.Error = err.Error()
	}
	o.printSummary(c, sum)
	if err != nil {
		code := ExitError
		var re *rollout.Error
		var ec *exitError
		switch {
		case ctx.Err() != nil:
			code = ExitCancelled
		case errors.As(err, &re):
			code = ExitError
			if re.Kind == rollout.KindPreflight || re.Kind == rollout.KindNode && re.Step == rollout.StepReady {
				code = ExitUnhealthy
			}
		case errors.As(err, &ec):
			code = ec.code
		}
		if o.json() {
			return reported(code)
		}
		return withCode(code, err)
	}
	return nil
}

// demo starts the cluster, shows it, restarts it under traffic and fills
// in sum. The caller stops and removes it.
func (o *demoOptions) demo(ctx context.Context, c *demo.Cluster, mode service.Mode, sum *demoSummary, begin time.Time) error {
	inv := c.Inventory
	w := o.sys.stdout
	if o.json() {
		writeJSONLine(w, map[string]any{"step": "setup", "dir": c.Dir, "inventory": c.InventoryPath(), "nats_server": server.VERSION, "nodes": inv.NodeNames()})
	} else {
		fmt.Fprintf(w, "natsops demo: a real %d-node NATS cluster on this machine, restarted one node at a time\n", len(inv.Nodes))
		fmt.Fprintf(w, "  directory  %s (inventory, configs, logs, JetStream data)\n", c.Dir)
		fmt.Fprintf(w, "  nodes      %s, each `natsops server` (embedded nats-server v%s), pidfile mode\n\n", strings.Join(inv.NodeNames(), ", "), server.VERSION)
	}

	t := time.Now()
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("demo: start: %w", err)
	}
	if err := c.WaitHealthy(ctx, o.timeout, 50*time.Millisecond); err != nil {
		if ctx.Err() != nil {
			return withCode(ExitCancelled, errors.New("demo: interrupted while the cluster was starting"))
		}
		return withCode(ExitUnhealthy, fmt.Errorf("demo: %w", err))
	}
	sum.HealthyMS = time.Since(t).Milliseconds()
	if o.json() {
		writeJSONLine(w, map[string]any{"step": "healthy", "elapsed_ms": sum.HealthyMS, "pids": c.Running()})
	} else {
		fmt.Fprintf(w, "started %s: healthy after %s\n\n", strings.Join(inv.NodeNames(), ", "), ms(sum.HealthyMS))
	}

	// natsops status, as the status command prints it.
	snaps := o.fleetReader().Read(ctx, inv.Nodes, nil)
	f := health.Status(inv, inv.Nodes, snaps)
	if o.json() {
		writeJSONLine(w, map[string]any{"step": "status", "status": f})
	} else {
		fmt.Fprintf(w, "$ natsops status -i %s\n", c.InventoryPath())
		o.printStatus(f)
		fmt.Fprintln(w)
	}
	for _, n := range inv.Nodes {
		dn := &demoNode{Node: n.Name, Steps: map[string]int64{}}
		if s := snaps[n.Name]; s != nil && s.Varz != nil {
			dn.StartBefore = s.Varz.Start
		}
		sum.Nodes = append(sum.Nodes, dn)
	}

	// A short ack timeout: a publish in flight to the node being stopped
	// gets no ack and would hold the publisher for the whole timeout; the
	// gap the subscriber sees should show the cluster, not the client.
	load, err := loadgen.Start(ctx, loadgen.Options{URLs: clientURLs(inv), Stream: "DEMO", Subject: "demo.msgs", Replicas: len(inv.Nodes), AckTimeout: demoAckTimeout})
	if err != nil {
		return fmt.Errorf("demo: start the client: %w", err)
	}
	if !o.json() {
		fmt.Fprintf(w, "client: publishing to JetStream stream DEMO (R%d) with acks (timeout %s), every 5ms; a core subscriber listens on another connection\n", len(inv.Nodes), demoAckTimeout)
		fmt.Fprintf(w, "$ natsops restart -i %s --mode %s --timeout %s --yes\n", c.InventoryPath(), mode, o.timeout)
	}

	conn, err := o.connector(inv)
	if err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), demoReadBackTimeout)
		_, _ = load.Stop(sctx)
		cancel()
		return fmt.Errorf("demo: %w", err)
	}
	t = time.Now()
	print := o.printEvent(t)
	byNode := map[string]*demoNode{}
	for _, dn := range sum.Nodes {
		byNode[dn.Node] = dn
	}
	events := func(e rollout.Event) {
		if dn := byNode[e.Node]; dn != nil && e.Result == rollout.ResultOK {
			switch e.Step {
			case rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady:
				dn.Steps[e.Step] = e.ElapsedMS
			}
		}
		print(e)
	}
	rep, rerr := rollout.Run(ctx, o.rolloutConfig(inv, inv.Nodes, conn, rollout.Options{Mode: mode, NodeTimeout: o.timeout, Poll: 50 * time.Millisecond}, events))
	sum.RolloutMS = time.Since(t).Milliseconds()
	if rep != nil {
		sum.Order = nonNil(rep.Order)
	}

	// Read back what was acknowledged even after a failure: the cluster
	// is still up (or was left serving by the rollout).
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), demoReadBackTimeout)
	res, verr := load.Stop(vctx)
	cancel()
	sum.Messages = &res
	after := c.Snapshots(context.WithoutCancel(ctx))
	for _, dn := range sum.Nodes {
		if s := after[dn.Node]; s != nil && s.Varz != nil {
			dn.StartAfter = s.Varz.Start
			dn.Restarted = !dn.StartBefore.IsZero() && s.Varz.Start.After(dn.StartBefore)
		}
	}
	switch {
	case rerr != nil:
		// Not restart's advice (rerun to resume): the demo cluster is
		// stopped and removed after this.
		var re *rollout.Error
		if errors.As(rerr, &re) && re.Kind == rollout.KindNode {
			code := ExitError
			if re.Step == rollout.StepReady {
				code = ExitUnhealthy
			}
			return withCode(code, fmt.Errorf("demo: the rolling restart stopped: %s%s", re.Summary(), o.deadNodes(c)))
		}
		return fmt.Errorf("demo: the rolling restart stopped: %w%s", rerr, o.deadNodes(c))
	case verr != nil:
		return fmt.Errorf("demo: %w", verr)
	case res.Lost > 0:
		return fmt.Errorf("demo: %d acknowledged messages could not be read back (sequences %v)", res.Lost, res.LostSeqs)
	}
	return nil
}

// deadNodes says which nodes' processes are gone (the rollout sees only
// what the monitoring endpoints say; the demo knows its processes).
func (o *demoOptions) deadNodes(c *demo.Cluster) string {
	var b strings.Builder
	dead := c.NotRunning()
	for _, n := range c.Inventory.Nodes {
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

func clientURLs(inv *cluster.Inventory) []string {
	var out []string
	for _, n := range inv.Nodes {
		out = append(out, "nats://"+net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.Port)))
	}
	return out
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// printSummary says what happened and what to try next.
func (o *demoOptions) printSummary(c *demo.Cluster, s *demoSummary) {
	if o.json() {
		writeJSONLine(o.sys.stdout, s)
		return
	}
	w := o.sys.stdout
	fmt.Fprintln(w, "\nsummary")
	if len(s.Nodes) > 0 && s.RolloutMS > 0 {
		var restarted, not []string
		for _, n := range s.Nodes {
			if n.Restarted {
				restarted = append(restarted, n.Node)
			} else {
				not = append(not, n.Node)
			}
		}
		fmt.Fprintf(w, "  rolling restart (%s): %s in %s, order %s", s.Mode, orNone(restarted), ms(s.RolloutMS), orNone(s.Order))
		if len(not) > 0 {
			fmt.Fprintf(w, "; not restarted: %s", strings.Join(not, ", "))
		}
		fmt.Fprintln(w)
		byName := map[string]*demoNode{}
		for _, n := range s.Nodes {
			byName[n.Node] = n
		}
		for _, name := range s.Order {
			n := byName[name]
			if n == nil || len(n.Steps) == 0 {
				continue
			}
			var parts []string
			var total int64
			for _, st := range []string{rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady} {
				if v, ok := n.Steps[st]; ok {
					parts = append(parts, fmt.Sprintf("%s %s", st, ms(v)))
					total += v
				}
			}
			fmt.Fprintf(w, "    %-6s %s  (%s from stop to back)\n", n.Node, strings.Join(parts, ", "), ms(total))
		}
	}
	if m := s.Messages; m != nil {
		fmt.Fprintf(w, "  messages: %d published with acks: %d acknowledged, %d not (error, or no ack within %s: the client's to retry)\n", m.Sent, m.Acked, m.Failed, demoAckTimeout)
		fmt.Fprintf(w, "            %d received by the core subscriber; longest gap between two: %s (up to one ack timeout of it is a publish in flight to a stopping node)\n", m.Received, ms(m.MaxGapMS))
		fmt.Fprintf(w, "            acknowledged and read back from the stream: %d of %d, %d lost\n", m.Verified, m.Acked, m.Lost)
	}
	fmt.Fprintf(w, "  total: %s (cluster healthy after %s)\n", ms(s.TotalMS), ms(s.HealthyMS))
	if s.Kept {
		bin := c.Natsops()
		fmt.Fprintf(w, "\nthe cluster keeps running (pids %s). Try, with this demo's copy of natsops:\n", joinInts(s.Running))
		for _, cmd := range []string{"status", "check", "restart --yes", "deploy --check"} {
			fmt.Fprintf(w, "  %s %s -i %s\n", bin, cmd, s.Inventory)
		}
		fmt.Fprintf(w, "stop it and remove %s:\n  %s demo --stop %s\n", s.Dir, bin, s.Dir)
		return
	}
	if s.Removed {
		fmt.Fprintf(w, "  stopped every node process the demo started (pids %s) and removed %s\n", joinInts(s.PIDs), s.Dir)
	} else {
		fmt.Fprintf(w, "  could not clean up everything: still running %s; %s is still there\n", joinInts(s.Running), s.Dir)
	}
	if s.OK {
		fmt.Fprintln(w, "\ntry next:")
		fmt.Fprintln(w, "  natsops demo --graceful           the same with lame duck: clients are moved away before each stop")
		fmt.Fprintln(w, "  natsops demo --keep               leave the cluster running and try status, restart, check, deploy on it")
		fmt.Fprintln(w, "  natsops init                      write a commented natsops.toml for your own cluster")
		fmt.Fprintln(w, "  natsops validate -i natsops.toml  render every node's config and check it with nats-server's own code")
	}
}

func joinInts(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// stopKept ends a cluster left by --keep and removes its directory.
func (o *demoOptions) stopKept() error {
	c, err := demo.Open(o.stop)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("demo --stop: %w", err))
	}
	pids, err := c.Stop(10 * time.Second)
	if err != nil {
		return fmt.Errorf("demo --stop: %w; %s is left in place", err, c.Dir)
	}
	if err := c.Remove(); err != nil {
		return fmt.Errorf("demo --stop: %w", err)
	}
	sort.Ints(pids)
	if o.json() {
		writeJSON(o.sys.stdout, map[string]any{"ok": true, "dir": c.Dir, "stopped": nonNil(pids), "removed": true})
		return nil
	}
	fmt.Fprintf(o.sys.stdout, "stopped %s (pids %s) and removed %s\n", plural(len(pids), "server"), joinInts(pids), c.Dir)
	return nil
}
