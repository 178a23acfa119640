package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

type demoOptions struct {
	*globals
	graceful     bool
	keep         bool
	stop         string
	timeout      time.Duration
	supercluster bool
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

With --supercluster it starts an estate instead
(inventory/local-supercluster.toml): two 3-node regions, east and west,
joined by gateways, and a one-node edge site attached to east as a leaf
node (account APP, its own JetStream domain), with a system account.
Once every cluster is healthy, with its gateways both ways and its leaf
connections, it restarts every cluster, one at a time (the leaf first,
the hub of the JetStream meta leader last), each node gated on its
cluster and on the estate, as 'natsops restart' does over an estate,
while a client per path publishes with acks and a subscriber listens at
the other end: east->west and west->east through the gateways,
east->edge over the leaf connection, edge->west over both. The summary
gives every path's messages sent, acknowledged, received and read back.

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
  natsops demo --supercluster
  natsops demo --stop /tmp/natsops-demo-123456`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.graceful, "graceful", false, "stop each node through lame duck (clients moved away first; a few seconds per node) instead of --mode fast")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster running afterwards and print how to use and stop it")
	f.StringVar(&o.stop, "stop", "", "stop the kept demo cluster in `DIR` and remove DIR")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long the cluster may take to become healthy, and each restarted node to be back")
	f.BoolVar(&o.supercluster, "supercluster", false, "two 3-node regions joined by gateways and a leaf node site, restarted one cluster at a time under traffic on every path")
	return cmd
}

// demoSummary is the last line of -o json and the text summary's data.
type demoSummary struct {
	Step      string       `json:"step"`
	OK        bool         `json:"ok"`
	Dir       string       `json:"dir"`
	Inventory string       `json:"inventory"`
	Kept      bool         `json:"kept"`
	Removed   bool         `json:"removed"`
	Mode      service.Mode `json:"mode"`
	demo.Run
	PIDs    []int  `json:"pids"`
	Running []int  `json:"running"`
	TotalMS int64  `json:"total_ms"`
	Error   string `json:"error,omitempty"`
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
	create, run := demo.CreateWithAccounts, o.demo
	if o.supercluster {
		create, run = demo.CreateSupercluster, o.demoSupercluster
	}
	c, err := create("", exe)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sum := &demoSummary{Step: "summary", Dir: c.Dir, Inventory: c.InventoryPath(), Mode: mode, Run: demo.Run{Order: []string{}}, Running: []int{}}
	stopReaping := c.Reap()
	err = run(ctx, c, mode, sum)
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
		what := "cluster"
		if c.Supercluster() {
			what = "supercluster"
		}
		err = withCode(ExitCancelled, fmt.Errorf("demo: interrupted; the demo %s was stopped and %s removed", what, c.Dir))
	}
	sum.TotalMS = time.Since(begin).Milliseconds()
	sum.OK = err == nil
	if err != nil {
		sum.Error = err.Error()
	}
	o.printSummary(c, sum)
	if err != nil {
		code := exitCode(err)
		switch {
		case ctx.Err() != nil:
			code = ExitCancelled
		case errors.Is(err, demo.ErrNotHealthy):
			code = ExitUnhealthy
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
func (o *demoOptions) demo(ctx context.Context, c *demo.Cluster, mode service.Mode, sum *demoSummary) error {
	inv := c.Inventory
	w := o.sys.stdout
	if o.json() {
		writeJSONLine(w, map[string]any{"step": "setup", "dir": c.Dir, "inventory": c.InventoryPath(), "nats_server": server.VERSION, "nodes": inv.NodeNames()})
	} else {
		fmt.Fprintf(w, "natsops demo: a real %d-node NATS cluster on this machine, restarted one node at a time\n", len(inv.Nodes))
		fmt.Fprintf(w, "  directory  %s (inventory, configs, logs, JetStream data)\n", c.Dir)
		fmt.Fprintf(w, "  nodes      %s, each `natsops server` (embedded nats-server v%s), pidfile mode\n\n", strings.Join(inv.NodeNames(), ", "), server.VERSION)
	}

	print := o.printEvent(time.Now())
	host, _ := os.Hostname()
	hooks := demo.Hooks{
		Healthy: func(ms int64, pids []int) {
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "healthy", "elapsed_ms": ms, "pids": pids})
			} else {
				fmt.Fprintf(w, "started %s: healthy after %s\n\n", strings.Join(inv.NodeNames(), ", "), msString(ms))
			}
		},
		Status: func(f *health.Fleet) {
			// natsops status, as the status command prints it.
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "status", "status": f})
				return
			}
			fmt.Fprintf(w, "$ natsops status -i %s\n", c.InventoryPath())
			o.printStatus(f)
			fmt.Fprintln(w)
		},
		Traffic: func() {
			// The rollout's lines time from its start, as restart's do.
			print = o.printEvent(time.Now())
			if !o.json() {
				fmt.Fprintf(w, "client: publishing to JetStream stream DEMO (R%d) with acks (timeout %s), every 5ms; a core subscriber listens on another connection\n", len(inv.Nodes), demo.AckTimeout)
				fmt.Fprintf(w, "$ natsops restart -i %s --mode %s --timeout %s --yes\n", c.InventoryPath(), mode, o.timeout)
			}
		},
		Event: func(e rollout.Event) { print(e) },
	}
	return c.Run(ctx, demo.RunOptions{Mode: mode, Timeout: o.timeout, Owner: "demo@" + host, PID: os.Getpid(), ProcessAlive: processAlive}, hooks, &sum.Run)
}

func msString(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// printSteps prints the restart step times of the nodes named, in that
// order.
func (o *demoOptions) printSteps(s *demoSummary, order []string, indent string) {
	byName := map[string]*demo.Node{}
	for _, n := range s.Nodes {
		byName[n.Node] = n
	}
	for _, name := range order {
		n := byName[name]
		if n == nil || len(n.Steps) == 0 {
			continue
		}
		var parts []string
		var total int64
		for _, st := range []string{rollout.StepStop, rollout.StepExit, rollout.StepStart, rollout.StepReady} {
			if v, ok := n.Steps[st]; ok {
				parts = append(parts, fmt.Sprintf("%s %s", st, msString(v)))
				total += v
			}
		}
		fmt.Fprintf(o.sys.stdout, "%s%-6s %s  (%s from stop to back)\n", indent, n.Node, strings.Join(parts, ", "), msString(total))
	}
}

// printSummary says what happened and what to try next.
func (o *demoOptions) printSummary(c *demo.Cluster, s *demoSummary) {
	if o.json() {
		writeJSONLine(o.sys.stdout, s)
		return
	}
	w := o.sys.stdout
	fmt.Fprintln(w, "\nsummary")
	if c.Supercluster() {
		o.printEstateSummary(s)
	} else if len(s.Nodes) > 0 && s.RolloutMS > 0 {
		var restarted, not []string
		for _, n := range s.Nodes {
			if n.Restarted {
				restarted = append(restarted, n.Node)
			} else {
				not = append(not, n.Node)
			}
		}
		fmt.Fprintf(w, "  rolling restart (%s): %s in %s, order %s", s.Mode, orNone(restarted), msString(s.RolloutMS), orNone(s.Order))
		if len(not) > 0 {
			fmt.Fprintf(w, "; not restarted: %s", strings.Join(not, ", "))
		}
		fmt.Fprintln(w)
		o.printSteps(s, s.Order, "    ")
	}
	if m := s.Messages; m != nil {
		fmt.Fprintf(w, "  messages: %d published with acks: %d acknowledged, %d not (error, or no ack within %s: the client's to retry)\n", m.Sent, m.Acked, m.Failed, demo.AckTimeout)
		fmt.Fprintf(w, "            %d received by the core subscriber; longest gap between two: %s (up to one ack timeout of it is a publish in flight to a stopping node)\n", m.Received, msString(m.MaxGapMS))
		fmt.Fprintf(w, "            acknowledged and read back from the stream: %d of %d, %d lost\n", m.Verified, m.Acked, m.Lost)
	}
	what := "cluster"
	if c.Supercluster() {
		what = "supercluster"
	}
	fmt.Fprintf(w, "  total: %s (%s healthy after %s)\n", msString(s.TotalMS), what, msString(s.HealthyMS))
	if s.Kept {
		bin := c.Natsops()
		fmt.Fprintf(w, "\nthe %s keeps running (pids %s). Try, with this demo's copy of natsops:\n", what, joinInts(s.Running))
		try := []string{"status", "check", "restart --yes", "deploy --check", "contexts --write"}
		if c.Supercluster() {
			try = []string{"status", "check", "restart --mode fast --yes", "restart --cluster west --mode fast --yes", "deploy --check"}
		}
		for _, cmd := range try {
			fmt.Fprintf(w, "  %s %s -i %s\n", bin, cmd, s.Inventory)
		}
		if !c.Supercluster() {
			fmt.Fprintf(w, "  nats --context local server ls   (natscli, after contexts --write)\n")
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
		var next [][2]string
		if c.Supercluster() {
			next = [][2]string{
				{"natsops demo --supercluster --graceful", "the same with lame duck: clients are moved away before each stop"},
				{"natsops demo --supercluster --keep", "leave the supercluster running and try status, restart, check, deploy on it"},
				{"natsops validate -i inventory/supercluster.toml", "an estate of real hosts: two regions, an edge site, accounts"},
			}
		} else {
			next = [][2]string{
				{"natsops demo --graceful", "the same with lame duck: clients are moved away before each stop"},
				{"natsops demo --keep", "leave the cluster running and try status, restart, check, deploy on it"},
				{"natsops demo --supercluster", "two regions joined by gateways and an edge leaf node, restarted cluster by cluster"},
			}
		}
		next = append(next,
			[2]string{"natsops init", "write a commented natsops.toml for your own cluster"},
			[2]string{"natsops validate -i natsops.toml", "render every node's config and check it with nats-server's own code"})
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, x := range next {
			fmt.Fprintf(tw, "  %s\t%s\n", x[0], x[1])
		}
		tw.Flush()
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
