// Package demo is `natsops demo`: a real local cluster (or supercluster)
// started, rolling-restarted under traffic and removed, with nothing to
// install (pkg/demo does the work; this package shows it).
package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// Options are demo's flags.
type Options struct {
	*cmdutil.Factory
	Ctx          context.Context
	Graceful     bool
	Keep         bool
	Stop         string
	Timeout      time.Duration
	Supercluster bool
}

// NewCmd is `natsops demo`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
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

-o json: JSON Lines, "setup", "healthy", "status", the rollout's "step"
events and "progress" while it waits, then the result with the summary.

Exit codes: 0 done, 3 the cluster did not become healthy or a node did
not come back, 5 interrupted, 1 any other failure (including an
acknowledged message that could not be read back).`,
		Example: `  natsops demo
  natsops demo --graceful
  natsops demo --keep
  natsops demo --supercluster
  natsops demo --stop /tmp/natsops-demo-123456`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if o.Stop == "" && o.Timeout <= 0 {
				return cmdutil.Usage("--timeout must be positive")
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	fl := cmd.Flags()
	fl.BoolVar(&o.Graceful, "graceful", false, "stop each node through lame duck (clients moved away first; a few seconds per node) instead of --mode fast")
	fl.BoolVar(&o.Keep, "keep", false, "leave the cluster running afterwards and print how to use and stop it")
	fl.StringVar(&o.Stop, "stop", "", "stop the kept demo cluster in `DIR` and remove DIR")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long the cluster may take to become healthy, and each restarted node to be back")
	fl.BoolVar(&o.Supercluster, "supercluster", false, "two 3-node regions joined by gateways and a leaf node site, restarted one cluster at a time under traffic on every path")
	return cmd
}

// summary is the last line of -o json and the text summary's data.
type summary struct {
	Dir       string       `json:"dir"`
	Inventory string       `json:"inventory"`
	Kept      bool         `json:"kept"`
	Removed   bool         `json:"removed"`
	Mode      service.Mode `json:"mode"`
	demo.Run
	PIDs    []int `json:"pids"`
	Running []int `json:"running"`
	TotalMS int64 `json:"total_ms"`
	// ok is the run's outcome (the result carries it as "ok").
	ok bool
}

func run(o *Options) error {
	if o.Stop != "" {
		return o.stopKept()
	}
	mode := service.Fast
	if o.Graceful {
		mode = service.Graceful
	}
	// Ctrl-C cancels; the cleanup below still runs.
	ctx, stopSignals := o.Sys.Interruptible(o.Ctx)
	defer stopSignals()

	begin := o.Sys.Clock.Now()
	exe, err := o.Sys.Executable()
	if err != nil {
		return fmt.Errorf("demo: find the natsops binary the nodes run: %w", err)
	}
	create, run := demo.CreateWithAccounts, o.demo
	if o.Supercluster {
		create, run = demo.CreateSupercluster, o.demoSupercluster
	}
	c, err := create("", exe)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sum := &summary{Dir: c.Dir, Inventory: c.InventoryPath(), Mode: mode, Run: demo.Run{Order: []string{}}, Running: []int{}}
	stopReaping := c.Reap()
	err = run(ctx, c, mode, sum)
	if err == nil && o.Keep {
		sum.Kept = true
		sum.PIDs, sum.Running = text.NonNil(c.Started()), text.NonNil(c.Running())
	} else {
		// Stop everything the demo started, whatever happened.
		if _, serr := c.StopReporting(10*time.Second, o.Progress()); serr != nil && err == nil {
			err = fmt.Errorf("demo: %w", serr)
		}
		sum.PIDs, sum.Running = text.NonNil(c.Started()), text.NonNil(c.Running())
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
		err = cmdutil.WithCode(cmdutil.ExitCancelled, fmt.Errorf("demo: interrupted; the demo %s was stopped and %s removed", what, c.Dir))
	}
	sum.TotalMS = o.Sys.Clock.Now().Sub(begin).Milliseconds()
	sum.ok = err == nil
	o.printSummary(c, sum)
	switch {
	case err != nil && ctx.Err() != nil:
		return cmdutil.WithCode(cmdutil.ExitCancelled, err)
	case errors.Is(err, demo.ErrNotHealthy):
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	return err
}

// demo starts the cluster, shows it, restarts it under traffic and fills
// in sum. The caller stops and removes it.
func (o *Options) demo(ctx context.Context, c *demo.Cluster, mode service.Mode, sum *summary) error {
	inv := c.Inventory
	w := o.Sys.Stdout
	if o.JSON() {
		o.Event("setup", map[string]any{"dir": c.Dir, "inventory": c.InventoryPath(), "nats_server": server.VERSION, "nodes": inv.NodeNames()})
	} else {
		fmt.Fprintf(w, "natsops demo: a real %d-node NATS cluster on this machine, restarted one node at a time\n", len(inv.Nodes))
		fmt.Fprintf(w, "  directory  %s (inventory, configs, logs, JetStream data)\n", c.Dir)
		fmt.Fprintf(w, "  nodes      %s, each `natsops server` (embedded nats-server v%s), pidfile mode\n\n", strings.Join(inv.NodeNames(), ", "), server.VERSION)
	}

	printEvent := rolloutcmd.Printer(o.Factory, o.Sys.Clock.Now())
	hooks := demo.Hooks{
		Healthy: func(ms int64, pids []int) {
			if o.JSON() {
				o.Event("healthy", map[string]any{"elapsed_ms": ms, "pids": pids})
			} else {
				fmt.Fprintf(w, "started %s: healthy after %s\n\n", strings.Join(inv.NodeNames(), ", "), msString(ms))
			}
		},
		Status: func(f *health.Fleet) {
			// natsops status, as the status command prints it.
			if o.JSON() {
				o.Event("status", map[string]any{"status": f})
				return
			}
			fmt.Fprintf(w, "$ natsops status -i %s\n", c.InventoryPath())
			view.PrintFleet(w, o.Style(), f)
			fmt.Fprintln(w)
		},
		Traffic: func() {
			// The rollout's lines time from its start, as restart's do.
			printEvent = rolloutcmd.Printer(o.Factory, o.Sys.Clock.Now())
			if !o.JSON() {
				fmt.Fprintf(w, "client: publishing to JetStream stream DEMO (R%d) with acks (timeout %s), every 5ms; a core subscriber listens on another connection\n", len(inv.Nodes), demo.AckTimeout)
				fmt.Fprintf(w, "$ natsops restart -i %s --mode %s --timeout %s --yes\n", c.InventoryPath(), mode, o.Timeout)
			}
		},
		Event: func(e rollout.Event) { printEvent(e) },
	}
	return c.Run(ctx, demo.RunOptions{Mode: mode, Timeout: o.Timeout, Owner: "demo@" + o.Sys.Hostname(), PID: o.Sys.PID, ProcessAlive: o.Sys.ProcessAlive, Progress: o.Progress()}, hooks, &sum.Run)
}

func msString(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// printSteps prints the restart step times of the nodes named, in that
// order.
func (o *Options) printSteps(s *summary, order []string, indent string) {
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
		fmt.Fprintf(o.Sys.Stdout, "%s%-6s %s  (%s from stop to back)\n", indent, n.Node, strings.Join(parts, ", "), msString(total))
	}
}

// printSummary says what happened and what to try next.
func (o *Options) printSummary(c *demo.Cluster, s *summary) {
	if o.JSON() {
		o.Result(s)
		return
	}
	w := o.Sys.Stdout
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
		fmt.Fprintf(w, "  rolling restart (%s): %s in %s, order %s", s.Mode, text.OrNone(restarted), msString(s.RolloutMS), text.OrNone(s.Order))
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
	if s.ok {
		fmt.Fprintln(w, "\ntry next:")
		var next [][2]string
		if c.Supercluster() {
			next = [][2]string{
				{"natsops demo --supercluster --graceful", "the same with lame duck: clients are moved away before each stop"},
				{"natsops demo --supercluster --keep", "leave the supercluster running and try status, restart, check, deploy on it"},
				{"natsops validate -i inventory/supercluster.toml", "an estate of real hosts: two regions, an edge site, accounts (export the passwords its header names first)"},
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
func (o *Options) stopKept() error {
	c, err := demo.Open(o.Stop)
	if err != nil {
		return cmdutil.WithCode(cmdutil.ExitUsage, fmt.Errorf("demo --stop: %w", err))
	}
	pids, err := c.StopReporting(10*time.Second, o.Progress())
	if err != nil {
		return fmt.Errorf("demo --stop: %w; %s is left in place", err, c.Dir)
	}
	if err := c.Remove(); err != nil {
		return fmt.Errorf("demo --stop: %w", err)
	}
	sort.Ints(pids)
	if o.JSON() {
		o.Result(map[string]any{"dir": c.Dir, "stopped": text.NonNil(pids), "removed": true})
		return nil
	}
	fmt.Fprintf(o.Sys.Stdout, "stopped %s (pids %s) and removed %s\n", text.Plural(len(pids), "server"), joinInts(pids), c.Dir)
	return nil
}

// demoSupercluster starts the estate, shows it, restarts it cluster by
// cluster under traffic on every path and fills in sum. The caller stops
// and removes it.
func (o *Options) demoSupercluster(ctx context.Context, c *demo.Cluster, mode service.Mode, sum *summary) error {
	est := c.Estate
	w := o.Sys.Stdout
	nodes := len(c.Nodes())
	if o.JSON() {
		byCluster := map[string][]string{}
		var names []string
		for _, inv := range est.Clusters {
			byCluster[inv.ClusterName()] = inv.NodeNames()
			names = append(names, inv.NodeNames()...)
		}
		o.Event("setup", map[string]any{"dir": c.Dir, "inventory": c.InventoryPath(), "nats_server": server.VERSION, "nodes": names, "cluster_nodes": byCluster})
	} else {
		fmt.Fprintf(w, "natsops demo --supercluster: a real NATS supercluster of %d clusters (%d nodes) on this machine, restarted one cluster at a time, one node at a time\n", len(est.Clusters), nodes)
		fmt.Fprintf(w, "  directory  %s (inventory, configs, logs, JetStream data)\n", c.Dir)
		for _, inv := range est.Clusters {
			fmt.Fprintf(w, "  %-10s %s: %s\n", inv.ClusterName(), strings.Join(inv.NodeNames(), ", "), demo.Role(inv))
		}
		fmt.Fprintf(w, "  nodes      each `natsops server` (embedded nats-server v%s), pidfile mode\n\n", server.VERSION)
	}

	printEvent := rolloutcmd.Printer(o.Factory, o.Sys.Clock.Now())
	hooks := demo.SuperclusterHooks{
		Healthy: func(ms int64, pids []int) {
			if o.JSON() {
				o.Event("healthy", map[string]any{"elapsed_ms": ms, "pids": pids})
			} else {
				fmt.Fprintf(w, "started %d nodes: healthy after %s (routes and JetStream in every cluster, gateways both ways, the leaf connection)\n\n", nodes, msString(ms))
			}
		},
		Status: func(fs []*health.Fleet) {
			if o.JSON() {
				o.Event("status", map[string]any{"clusters": fs})
				return
			}
			fmt.Fprintf(w, "$ natsops status -i %s\n", c.InventoryPath())
			for i, f := range fs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "cluster %s\n", f.Cluster)
				view.PrintFleet(w, o.Style(), f)
			}
			fmt.Fprintln(w)
		},
		Traffic: func(ps []demo.Path) {
			if o.JSON() {
				o.Event("traffic", map[string]any{"paths": ps})
				return
			}
			fmt.Fprintf(w, "clients, one per path: publishing with acks (timeout %s) every 5ms on one cluster to a JetStream stream of another; a core subscriber listens there\n", demo.AckTimeout)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, p := range ps {
				fmt.Fprintf(tw, "  %s\tvia %s\tpublisher on %s, stream %s (R%d) and subscriber on %s\n", p.Name, p.Via, p.From, p.Stream, p.Replicas, p.To)
			}
			tw.Flush()
			fmt.Fprintf(w, "$ natsops restart -i %s --mode %s --timeout %s --yes\n", c.InventoryPath(), mode, o.Timeout)
		},
		Cluster: func(name string, i int, order []string) {
			// Each cluster's lines time from its own start, as restart's do.
			printEvent = rolloutcmd.Printer(o.Factory, o.Sys.Clock.Now())
			if o.JSON() {
				o.Event("cluster", map[string]any{"cluster": name, "index": i, "of": len(order), "order": order})
			} else {
				fmt.Fprintf(w, "== cluster %s (%d of %d: %s) ==\n", name, i, len(order), strings.Join(order, " -> "))
			}
		},
		Event: func(e rollout.Event) { printEvent(e) },
		Path: func(p *demo.PathRun) {
			if o.JSON() {
				o.Event("path", p)
			}
		},
	}
	return c.RunSupercluster(ctx, demo.RunOptions{Mode: mode, Timeout: o.Timeout, Owner: "demo@" + o.Sys.Hostname(), PID: o.Sys.PID, ProcessAlive: o.Sys.ProcessAlive, Progress: o.Progress()}, hooks, &sum.Run)
}

// printEstateSummary is the supercluster's part of the text summary:
// every cluster's rollout with its nodes' step times, then one line per
// path.
func (o *Options) printEstateSummary(s *summary) {
	w := o.Sys.Stdout
	if len(s.Clusters) > 0 {
		restarted := 0
		var not []string
		for _, n := range s.Nodes {
			if n.Restarted {
				restarted++
			} else {
				not = append(not, n.Node)
			}
		}
		fmt.Fprintf(w, "  rolling restart (%s): %s of %d in %s, clusters in order %s", s.Mode, text.Plural(restarted, "node"), len(s.Nodes), msString(s.RolloutMS), strings.Join(s.ClusterOrder, " -> "))
		if len(not) > 0 {
			fmt.Fprintf(w, "; not restarted: %s", strings.Join(not, ", "))
		}
		fmt.Fprintln(w)
		for _, cr := range s.Clusters {
			fmt.Fprintf(w, "    cluster %s: %s in %s, order %s\n", cr.Cluster, text.OrNone(cr.Done), msString(cr.RolloutMS), text.OrNone(cr.Order))
			o.printSteps(s, cr.Order, "      ")
		}
	}
	if len(s.Paths) == 0 {
		return
	}
	fmt.Fprintf(w, "  messages per path (published with acks; not acked: an error or no ack within %s, the client's to retry; lost: acknowledged but not read back from the stream):\n", demo.AckTimeout)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    PATH\tVIA\tSENT\tACKED\tNOT ACKED\tRECEIVED\tREAD BACK\tLOST\tLONGEST GAP")
	for _, p := range s.Paths {
		m := p.Messages
		if m == nil {
			fmt.Fprintf(tw, "    %s\t%s\t-\t-\t-\t-\t-\t-\t-\n", p.Name, p.Via)
			continue
		}
		back := fmt.Sprintf("%d of %d", m.Verified, m.Acked)
		if p.Error != "" {
			back = "failed"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", p.Name, p.Via, m.Sent, m.Acked, m.Failed, m.Received, back, m.Lost, msString(m.MaxGapMS))
	}
	tw.Flush()
	for _, p := range s.Paths {
		if p.Error != "" {
			fmt.Fprintf(w, "    %s: reading back failed: %s\n", p.Name, p.Error)
		}
	}
}
