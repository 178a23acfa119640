package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/probe"
)

type statusOptions struct {
	*globals
	watch       bool
	interval    time.Duration
	monitorOnly bool
}

func newStatusCmd(g *globals) *cobra.Command {
	o := &statusOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Fleet table from every node's monitoring endpoint (:8222)",
		Long: `Read /healthz, /varz, /routez and /jsz of every selected node and show one
line per node: reachable, version, uptime, connections / capacity, open
file descriptors / the server's soft limit (FDS), slow consumers, routes
seen / expected (distinct peers, not pooled connections), JetStream role,
memory and CPU. Below the table, every reason the cluster is not healthy,
with the node it concerns.

At the same time each selected node's host is read (over SSH, or locally
for connection = "local"; at most 5s per host, one round trip): the
running nats-server's pid and state, its open descriptors (/proc/<pid>/fd)
and "Max open files" (/proc/<pid>/limits), and the ports it listens on.
The capacity is min(max_connections, fd soft limit - reserve), the reserve
being the descriptors the server needs for itself (listeners, routes,
JetStream, monitoring; the larger of an estimate from the inventory and
what it holds beyond its clients now, plus a margin). When :8222 does not
answer, the host says why: out-of-fds, not-running, stopped (SIGSTOP) or
wrong-port, with the fix. A host that cannot be read shows why in FDS,
e.g. -(ssh: ...), -(no pid); --monitor-only reads no host at all.

With an inventory of several clusters ([[clusters]]), every cluster (or the
--cluster ones) is shown in turn, and a cluster is healthy only when each
node has its outbound gateway to every other cluster, the cluster inbound
ones from all their servers, and its leaf connections are up
(gateway-outbound-missing, gateway-inbound-missing, leaf-missing).

Exit codes: 0 healthy, 3 not healthy.`,
		Example: `  natsops status
  natsops status --watch
  natsops status -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.watch, "watch", false, "refresh in place until interrupted (terminal only)")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "refresh interval for --watch")
	cmd.Flags().BoolVar(&o.monitorOnly, "monitor-only", false, "read only the monitoring endpoints: no SSH, no host readings (FDS shows -(monitor-only))")
	return cmd
}

// readFleet reads every inventory node's monitoring endpoint (peers'
// readings name the routes of servers older than 2.10) and, through conn
// (nil: monitoring only), the selected nodes' hosts, and judges the
// selected nodes.
func (g *globals) readFleet(ctx context.Context, inv *cluster.Inventory, nodes []*cluster.Node, conn *connector) *health.Fleet {
	fr := g.fleetReader()
	if inv.Estate != nil && inv.Estate.Multi {
		fr.Options = fleet.EstateOptions(inv.Estate)
	}
	r := probe.Reader{Fleet: fr, Parallel: g.parallel}
	if conn != nil {
		r.Connect, r.Forget = conn.connect, conn.pool.Forget
	}
	rd := r.Read(ctx, inv.Nodes, nodes)
	return health.Status(inv, nodes, rd.Snaps, rd.Hosts)
}

// hostConnector is the connector status and check read hosts through, or
// nil with --monitor-only; close it when done.
func (g *globals) hostConnector(inv *cluster.Inventory, monitorOnly bool) (*connector, func(), error) {
	if monitorOnly {
		return nil, func() {}, nil
	}
	conn, err := g.connector(inv)
	if err != nil {
		return nil, nil, err
	}
	return conn, conn.close, nil
}

// fleetReader is the one way commands read monitoring endpoints.
func (g *globals) fleetReader() fleet.Reader {
	return fleet.Reader{Monitor: &monitor.Client{}, Parallel: g.parallel}
}

func (o *statusOptions) run(ctx context.Context) error {
	scope, err := o.selectScope()
	if err != nil {
		return err
	}
	if o.watch && (o.json() || !o.sys.isTTY(o.sys.stdout)) {
		return usageError("--watch needs a terminal and text output")
	}
	if o.watch {
		// Ctrl-C ends the watch, exit 0.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	conns := make([]*connector, len(scope))
	for i, s := range scope {
		conn, closeConn, err := o.hostConnector(s.inv, o.monitorOnly)
		if err != nil {
			return err
		}
		defer closeConn()
		conns[i] = conn
	}
	for {
		fs := make([]*health.Fleet, len(scope))
		for i, s := range scope {
			fs[i] = o.readFleet(ctx, s.inv, s.nodes, conns[i])
		}
		if o.watch {
			fmt.Fprint(o.sys.stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(o.sys.stdout, "natsops status — %s — every %s (Ctrl-C to stop)\n\n", time.Now().Format("15:04:05"), o.interval)
		}
		healthy := o.printEstate(fs)
		if !o.watch {
			if !healthy {
				return reported(ExitUnhealthy)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

// scoped is one cluster's part of a command over an estate: the cluster
// and its selected nodes.
type scoped struct {
	inv   *cluster.Inventory
	nodes []*cluster.Node
}

// selectScope is every --cluster cluster with --limit nodes (one for a
// single-cluster file), in file order.
func (g *globals) selectScope() ([]scoped, error) {
	est, err := g.loadEstate()
	if err != nil {
		return nil, err
	}
	return g.scope(est, g.limit)
}

// scope is every --cluster cluster of est with nodes matching sel (all
// with none), in file order; a cluster none of whose nodes match is left
// out, a pattern matching no node at all is a usage error.
func (g *globals) scope(est *cluster.Estate, sel []string) ([]scoped, error) {
	cs, err := g.selectClusters(est)
	if err != nil {
		return nil, err
	}
	by, err := cluster.SelectNodes(cs, sel)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	var out []scoped
	for _, c := range cs {
		if ns := by[c]; len(ns) > 0 {
			out = append(out, scoped{c, ns})
		}
	}
	return out, nil
}

// printEstate prints one cluster's status as always, several one after
// another under their names (-o json: {"clusters": [...]}), and says
// whether all are healthy.
func (g *globals) printEstate(fs []*health.Fleet) bool {
	healthy := true
	for _, f := range fs {
		healthy = healthy && f.Healthy
	}
	if len(fs) == 1 {
		g.printStatus(fs[0])
		return healthy
	}
	if g.json() {
		writeJSON(g.sys.stdout, map[string]any{"inventory": fs[0].Inventory, "healthy": healthy, "clusters": fs})
		return healthy
	}
	for i, f := range fs {
		if i > 0 {
			fmt.Fprintln(g.sys.stdout)
		}
		fmt.Fprintf(g.sys.stdout, "cluster %s\n", f.Cluster)
		g.printStatus(f)
	}
	return healthy
}

func (g *globals) printStatus(f *health.Fleet) {
	if g.json() {
		writeJSON(g.sys.stdout, f)
		return
	}
	st := style{on: g.color()}
	tw := tabwriter.NewWriter(g.sys.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEALTH\tVERSION\tUPTIME\tCONNS\tFDS\tSLOW\tROUTES\tJETSTREAM\tMEM\tCPU")
	for _, r := range f.Nodes {
		health := r.Healthz
		fds := r.FDs
		if len(fds) > 48 {
			fds = fds[:47] + "…)"
		}
		switch {
		case !r.Reachable && r.Diagnosis != "":
			health = st.paint(ansiRed, r.Diagnosis)
		case !r.Reachable:
			health = st.paint(ansiRed, "unreachable")
		case health == "ok":
			health = st.paint(ansiGreen, "ok")
		default:
			health = st.paint(ansiYellow, health)
		}
		if !r.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t-\t-\t%s\t-\t-\n", r.Node, health, fds, r.JetStream)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%d\t%d/%d\t%s\t%s\t%.0f%%\n", r.Node, health, r.Version, r.Uptime,
			r.Connections, r.Capacity, fds, r.SlowConsumers, r.RoutesSeen, r.RoutesWant, r.JetStream, humanBytes(r.MemBytes), r.CPU)
	}
	tw.Flush()
	if f.Healthy {
		if f.Cluster != "" {
			fmt.Fprintf(g.sys.stdout, "\n%s: cluster %s: %s healthy\n", f.Inventory, f.Cluster, plural(len(f.Nodes), "node"))
			return
		}
		fmt.Fprintf(g.sys.stdout, "\n%s: %s healthy\n", f.Inventory, plural(len(f.Nodes), "node"))
		return
	}
	fmt.Fprintf(g.sys.stdout, "\nnot healthy:\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(g.sys.stdout, "  %s: %s [%s]\n", r.Node, r.Msg, r.Code)
	}
}

func humanBytes(n int64) string {
	const mib = 1 << 20
	if n >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (n+mib/2)/mib)
}
