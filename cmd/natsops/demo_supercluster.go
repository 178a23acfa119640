package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// demoSupercluster starts the estate, shows it, restarts it cluster by
// cluster under traffic on every path and fills in sum. The caller stops
// and removes it.
func (o *demoOptions) demoSupercluster(ctx context.Context, c *demo.Cluster, mode service.Mode, sum *demoSummary) error {
	est := c.Estate
	w := o.sys.stdout
	nodes := len(c.Nodes())
	if o.json() {
		byCluster := map[string][]string{}
		var names []string
		for _, inv := range est.Clusters {
			byCluster[inv.ClusterName()] = inv.NodeNames()
			names = append(names, inv.NodeNames()...)
		}
		writeJSONLine(w, map[string]any{"step": "setup", "dir": c.Dir, "inventory": c.InventoryPath(), "nats_server": server.VERSION, "nodes": names, "cluster_nodes": byCluster})
	} else {
		fmt.Fprintf(w, "natsops demo --supercluster: a real NATS supercluster of %d clusters (%d nodes) on this machine, restarted one cluster at a time, one node at a time\n", len(est.Clusters), nodes)
		fmt.Fprintf(w, "  directory  %s (inventory, configs, logs, JetStream data)\n", c.Dir)
		for _, inv := range est.Clusters {
			fmt.Fprintf(w, "  %-10s %s: %s\n", inv.ClusterName(), strings.Join(inv.NodeNames(), ", "), demo.Role(inv))
		}
		fmt.Fprintf(w, "  nodes      each `natsops server` (embedded nats-server v%s), pidfile mode\n\n", server.VERSION)
	}

	print := o.printEvent(time.Now())
	host, _ := os.Hostname()
	hooks := demo.SuperclusterHooks{
		Healthy: func(ms int64, pids []int) {
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "healthy", "elapsed_ms": ms, "pids": pids})
			} else {
				fmt.Fprintf(w, "started %d nodes: healthy after %s (routes and JetStream in every cluster, gateways both ways, the leaf connection)\n\n", nodes, msString(ms))
			}
		},
		Status: func(fs []*health.Fleet) {
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "status", "clusters": fs})
				return
			}
			fmt.Fprintf(w, "$ natsops status -i %s\n", c.InventoryPath())
			for i, f := range fs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "cluster %s\n", f.Cluster)
				o.printStatus(f)
			}
			fmt.Fprintln(w)
		},
		Traffic: func(ps []demo.Path) {
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "traffic", "paths": ps})
				return
			}
			fmt.Fprintf(w, "clients, one per path: publishing with acks (timeout %s) every 5ms on one cluster to a JetStream stream of another; a core subscriber listens there\n", demo.AckTimeout)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, p := range ps {
				fmt.Fprintf(tw, "  %s\tvia %s\tpublisher on %s, stream %s (R%d) and subscriber on %s\n", p.Name, p.Via, p.From, p.Stream, p.Replicas, p.To)
			}
			tw.Flush()
			fmt.Fprintf(w, "$ natsops restart -i %s --mode %s --timeout %s --yes\n", c.InventoryPath(), mode, o.timeout)
		},
		Cluster: func(name string, i int, order []string) {
			// Each cluster's lines time from its own start, as restart's do.
			print = o.printEvent(time.Now())
			if o.json() {
				writeJSONLine(w, map[string]any{"step": "cluster", "cluster": name, "index": i, "of": len(order), "order": order})
			} else {
				fmt.Fprintf(w, "== cluster %s (%d of %d: %s) ==\n", name, i, len(order), strings.Join(order, " -> "))
			}
		},
		Event: func(e rollout.Event) { print(e) },
		Path: func(p *demo.PathRun) {
			if o.json() {
				writeJSONLine(w, struct {
					Step string `json:"step"`
					*demo.PathRun
				}{"path", p})
			}
		},
	}
	return c.RunSupercluster(ctx, demo.RunOptions{Mode: mode, Timeout: o.timeout, Owner: "demo@" + host, PID: os.Getpid(), ProcessAlive: processAlive}, hooks, &sum.Run)
}

// printEstateSummary is the supercluster's part of the text summary:
// every cluster's rollout with its nodes' step times, then one line per
// path.
func (o *demoOptions) printEstateSummary(s *demoSummary) {
	w := o.sys.stdout
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
		fmt.Fprintf(w, "  rolling restart (%s): %s of %d in %s, clusters in order %s", s.Mode, plural(restarted, "node"), len(s.Nodes), msString(s.RolloutMS), strings.Join(s.ClusterOrder, " -> "))
		if len(not) > 0 {
			fmt.Fprintf(w, "; not restarted: %s", strings.Join(not, ", "))
		}
		fmt.Fprintln(w)
		for _, cr := range s.Clusters {
			fmt.Fprintf(w, "    cluster %s: %s in %s, order %s\n", cr.Cluster, orNone(cr.Done), msString(cr.RolloutMS), orNone(cr.Order))
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
