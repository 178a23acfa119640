package rollout

import (
	"slices"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
)

// AcrossFor is what inv's estate adds to its rollout: the nodes of the
// other clusters of its supercluster to read along (its JetStream meta
// group spans them), the estate's gate for inv (health.EstateReady), and
// the endpoints every node needs read. The zero Across for a cluster on
// its own.
func AcrossFor(inv *cluster.Inventory) Across {
	if inv.Estate == nil || !inv.Estate.Multi {
		return Across{}
	}
	a := Across{Options: fleet.EstateOptions(inv.Estate)}
	for _, r := range inv.GatewayRemotes() {
		a.Observe = append(a.Observe, r.Nodes...)
	}
	e := health.ExpectEstate(inv)
	if e.Gateway != nil || len(e.Hub) > 0 || len(e.Leaf) > 0 {
		a.Gate = health.EstateReady
	}
	return a
}

// EstateOrder is the order a rollout over several clusters takes them,
// one at a time: leaf clusters first (their hubs stay up while they
// redial), then the hubs, the one whose node leads the supercluster's
// JetStream meta group last (one leader election, at the end, as within
// a cluster). Otherwise file order. leader is the meta leader's name as
// the readings say ("" unknown).
func EstateOrder(clusters []*cluster.Inventory, leader string) []*cluster.Inventory {
	out := make([]*cluster.Inventory, 0, len(clusters))
	var hubs []*cluster.Inventory
	for _, c := range clusters {
		if c.IsLeaf() {
			out = append(out, c)
		} else {
			hubs = append(hubs, c)
		}
	}
	last := -1
	for i, c := range hubs {
		if slices.Contains(c.NodeNames(), leader) {
			last = i
		}
	}
	for i, c := range hubs {
		if i != last {
			out = append(out, c)
		}
	}
	if last >= 0 {
		out = append(out, hubs[last])
	}
	return out
}
