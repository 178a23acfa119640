package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
)

type statusOptions struct {
	*globals
	watch    bool
	interval time.Duration
}

func newStatusCmd(g *globals) *cobra.Command {
	o := &statusOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Fleet table from every node's monitoring endpoint (:8222)",
		Long: `Read /healthz, /varz, /routez and /jsz of every selected node and show one
line per node: reachable, version, uptime, connections / max_connections,
slow consumers, routes seen / expected (distinct peers, not pooled
connections), JetStream role, memory and CPU. Below the table, every reason
the cluster is not healthy, with the node it concerns.

Exit codes: 0 healthy, 3 not healthy.`,
		Example: `  natsops status
  natsops status --watch
  natsops status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.watch, "watch", false, "refresh in place until interrupted (terminal only)")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "refresh interval for --watch")
	return cmd
}

// nodeStatus is one row.
type nodeStatus struct {
	Node          string  `json:"node"`
	URL           string  `json:"url"`
	Reachable     bool    `json:"reachable"`
	Version       string  `json:"version,omitempty"`
	Uptime        string  `json:"uptime,omitempty"`
	Connections   int     `json:"connections"`
	MaxConns      int     `json:"max_connections"`
	SlowConsumers int64   `json:"slow_consumers"`
	RoutesSeen    int     `json:"routes_seen"`
	RoutesWant    int     `json:"routes_expected"`
	JetStream     string  `json:"jetstream"` // leader, follower, off, unknown
	MemBytes      int64   `json:"mem_bytes"`
	CPU           float64 `json:"cpu_percent"`
	Healthz       string  `json:"healthz,omitempty"`
}

// fleet is one reading of every selected node.
type fleet struct {
	Inventory string                       `json:"inventory"`
	Healthy   bool                         `json:"healthy"`
	Nodes     []nodeStatus                 `json:"nodes"`
	Reasons   []health.Reason              `json:"reasons"`
	snaps     map[string]*monitor.Snapshot `json:"-"`
}

// monitorURL is where natsops reads a node's monitoring endpoint: its
// route address (the host peers reach) and http(s) port.
func monitorURL(n *cluster.Node) string {
	if p := n.Server.HTTPSPort; p != nil {
		return "https://" + net.JoinHostPort(n.RouteHost, strconv.Itoa(*p))
	}
	return "http://" + net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.HTTPPort))
}

// readFleet snapshots every inventory node at once (peers' IDs name the
// routes of servers older than 2.10) and judges the selected ones.
func readFleet(ctx context.Context, inv *cluster.Inventory, nodes []*cluster.Node, parallel int) *fleet {
	c := &monitor.Client{}
	results := make([]*monitor.Snapshot, len(inv.Nodes))
	remote.Each(ctx, inv.Nodes, parallel, func(n *cluster.Node) string { return n.Name }, func(ctx context.Context, n *cluster.Node) error {
		results[n.Index] = c.Snapshot(ctx, monitorURL(n))
		return nil
	})
	snaps := make(map[string]*monitor.Snapshot, len(inv.Nodes))
	for i, n := range inv.Nodes {
		snaps[n.Name] = results[i]
	}
	monitor.NameRoutes(snaps)
	f := &fleet{Inventory: inv.Path, snaps: snaps}
	if len(nodes) == len(inv.Nodes) {
		f.Reasons = health.ClusterReady(inv, snaps)
	} else {
		for _, n := range nodes {
			f.Reasons = append(f.Reasons, health.NodeReady(n.Name, snaps[n.Name], expectFor(inv, n))...)
		}
	}
	f.Healthy = len(f.Reasons) == 0
	leader := health.MetaLeader(snaps)
	for _, n := range nodes {
		s := snaps[n.Name]
		row := nodeStatus{Node: n.Name, URL: s.URL, RoutesWant: len(inv.Nodes) - 1, JetStream: "off"}
		if n.JetStreamEnabled() {
			row.JetStream = "unknown"
		}
		if s.Varz != nil {
			v := s.Varz
			row.Reachable = true
			row.Version, row.Uptime = v.Version, v.Uptime
			row.Connections, row.MaxConns, row.SlowConsumers = v.Connections, v.MaxConnections, v.SlowConsumers
			row.MemBytes, row.CPU = v.Mem, v.CPU
		}
		if s.Routez != nil {
			row.RoutesSeen = len(s.Routez.Peers())
		}
		if s.Healthz != nil {
			row.Healthz = s.Healthz.Status
		}
		if n.JetStreamEnabled() && s.Jsz != nil && s.Jsz.Meta != nil {
			switch {
			case leader == n.Name:
				row.JetStream = "leader"
			case s.Jsz.Meta.Leader != "":
				row.JetStream = "follower"
			}
		}
		f.Nodes = append(f.Nodes, row)
	}
	return f
}

func expectFor(inv *cluster.Inventory, n *cluster.Node) health.Expect {
	e := health.Expect{JetStream: n.JetStreamEnabled()}
	for _, p := range inv.Nodes {
		if p != n {
			e.Peers = append(e.Peers, p.Name)
		}
	}
	return e
}

func (o *statusOptions) run(ctx context.Context) error {
	inv, nodes, err := o.loadSelected(o.limit)
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
	for {
		f := readFleet(ctx, inv, nodes, o.parallel)
		if o.watch {
			fmt.Fprint(o.sys.stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(o.sys.stdout, "natsops status — %s — every %s (Ctrl-C to stop)\n\n", time.Now().Format("15:04:05"), o.interval)
		}
		o.print(f)
		if !o.watch {
			if !f.Healthy {
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

func (o *statusOptions) print(f *fleet) {
	if o.json() {
		f.Reasons = nonNil(f.Reasons)
		writeJSON(o.sys.stdout, f)
		return
	}
	st := style{on: o.color()}
	tw := tabwriter.NewWriter(o.sys.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEALTH\tVERSION\tUPTIME\tCONNS\tSLOW\tROUTES\tJETSTREAM\tMEM\tCPU")
	for _, r := range f.Nodes {
		health := r.Healthz
		switch {
		case !r.Reachable:
			health = st.paint(ansiRed, "unreachable")
		case health == "ok":
			health = st.paint(ansiGreen, "ok")
		default:
			health = st.paint(ansiYellow, health)
		}
		if !r.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\t-\t-\n", r.Node, health, r.JetStream)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d/%d\t%s\t%s\t%.0f%%\n", r.Node, health, r.Version, r.Uptime,
			r.Connections, r.MaxConns, r.SlowConsumers, r.RoutesSeen, r.RoutesWant, r.JetStream, humanBytes(r.MemBytes), r.CPU)
	}
	tw.Flush()
	if f.Healthy {
		fmt.Fprintf(o.sys.stdout, "\n%s: %s healthy\n", f.Inventory, plural(len(f.Nodes), "node"))
		return
	}
	fmt.Fprintf(o.sys.stdout, "\nnot healthy:\n")
	sort.SliceStable(f.Reasons, func(i, j int) bool { return f.Reasons[i].Node < f.Reasons[j].Node })
	for _, r := range f.Reasons {
		fmt.Fprintf(o.sys.stdout, "  %s: %s [%s]\n", r.Node, r.Msg, r.Code)
	}
}

func humanBytes(n int64) string {
	const mib = 1 << 20
	if n >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (n+mib/2)/mib)
}
