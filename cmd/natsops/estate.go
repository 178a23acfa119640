package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
)

// eachCluster runs one for every cluster of the estate that the flags
// select nodes of (--cluster, and --limit or the node patterns sel), one
// cluster at a time in rollout.EstateOrder, each with --cluster and
// --limit narrowed to it: the cluster's own rollout, its own lock. A
// single cluster runs as before. The first failure stops it; the
// clusters after it are not touched, and it says which.
//
// A canary (--stop-after) is a number of nodes of one cluster: with
// several clusters selected it is a usage error.
func (g *globals) eachCluster(ctx context.Context, verb string, sel []string, canary bool, one func(*globals) error) error {
	est, err := g.loadEstate()
	if err != nil {
		return err
	}
	if !est.Multi {
		return one(g)
	}
	picked, err := g.scope(est, sel)
	if err != nil {
		return err
	}
	narrow := func(sc scoped) *globals {
		gc := *g
		gc.clusters = []string{sc.inv.ClusterName()}
		if len(g.limit) > 0 {
			gc.limit = nodeNames(sc.nodes)
		}
		return &gc
	}
	if len(picked) == 1 {
		return one(narrow(picked[0]))
	}
	if canary {
		return usageError("--stop-after counts the nodes of one cluster, and this %s covers %d clusters: pick one with --cluster NAME", verb, len(picked))
	}
	byInv := map[*cluster.Inventory]scoped{}
	var cs []*cluster.Inventory
	for _, sc := range picked {
		byInv[sc.inv] = sc
		cs = append(cs, sc.inv)
	}
	order := rollout.EstateOrder(cs, g.metaLeader(ctx, cs))
	names := make([]string, len(order))
	for i, c := range order {
		names[i] = c.ClusterName()
	}
	for i, c := range order {
		if g.json() {
			writeJSONLine(g.sys.stdout, map[string]any{"step": "cluster", "cluster": c.ClusterName(), "index": i + 1, "of": len(order), "order": names})
		} else {
			fmt.Fprintf(g.sys.stdout, "== cluster %s (%d of %d: %s) ==\n", c.ClusterName(), i+1, len(order), strings.Join(names, " -> "))
		}
		if err := one(narrow(byInv[c])); err != nil {
			if rest := names[i+1:]; len(rest) > 0 && !g.json() {
				fmt.Fprintf(g.sys.stderr, "natsops: %s stopped in cluster %s; not touched: %s\n", verb, c.ClusterName(), strings.Join(rest, ", "))
			}
			return err
		}
	}
	return nil
}

// metaLeader is the JetStream meta leader the clusters' nodes agree on,
// or "" (one reading; a cluster that does not answer only loses the
// ordering, never the gates).
func (g *globals) metaLeader(ctx context.Context, cs []*cluster.Inventory) string {
	var nodes []*cluster.Node
	for _, c := range cs {
		if !c.IsLeaf() {
			nodes = append(nodes, c.Nodes...)
		}
	}
	return health.MetaLeader(g.fleetReader().Read(ctx, nodes, nil))
}
