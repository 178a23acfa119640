package health

import (
	"sort"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// GlobalAccount is the account of users that name none (nats-server's
// $G): a leaf remote without an account binds its connection to it.
const GlobalAccount = "$G"

// EstateExpect is what the estate asks of one cluster beyond its routes
// and JetStream: its gateways, and its leaf connections as a hub and as a
// leaf cluster. The zero value (a single cluster) asks for nothing.
type EstateExpect struct {
	// Gateway is set when the cluster is joined to others by gateways.
	Gateway *GatewayExpect
	// Hub are the leaf connections the cluster as a whole must accept,
	// by the account they bind to on it.
	Hub []LeafExpect
	// Leaf are the connections each of its nodes must dial (a leaf
	// cluster), by its local account.
	Leaf []LeafExpect
}

// ExpectEstate is what inv's estate asks of inv. Pure.
func ExpectEstate(inv *cluster.Inventory) EstateExpect {
	var e EstateExpect
	if inv.HasGateway() {
		g := &GatewayExpect{Name: inv.ClusterName(), RemoteNodes: map[string]int{}}
		for _, r := range inv.GatewayRemotes() {
			g.Remotes = append(g.Remotes, r.Name)
			g.RemoteNodes[r.Name] = len(r.Nodes)
		}
		e.Gateway = g
	}
	if inv.Estate == nil {
		return e
	}
	if inv.LeafListens() {
		// Every node of a leaf cluster dials one server of this hub per
		// remote naming it; the hub binds it to its leaf user's account.
		byAccount := map[string]LeafExpect{}
		for _, c := range inv.Estate.Clusters {
			if !c.IsLeaf() {
				continue
			}
			for _, r := range c.File.LeafNodes.Remotes {
				if r.Hub != inv.ClusterName() {
					continue
				}
				acc := hubAccount(inv, r)
				x := byAccount[acc]
				x.Account, x.Remote, x.Count = acc, clusterJoin(x.Remote, c.ClusterName()), x.Count+len(c.Nodes)
				byAccount[acc] = x
			}
		}
		for _, a := range text.SortedKeys(byAccount) {
			e.Hub = append(e.Hub, byAccount[a])
		}
	}
	if inv.IsLeaf() {
		byAccount := map[string]LeafExpect{}
		for _, r := range inv.File.LeafNodes.Remotes {
			acc := r.Account
			if acc == "" {
				acc = GlobalAccount
			}
			x := byAccount[acc]
			x.Account, x.Remote, x.Count = acc, clusterJoin(x.Remote, r.Hub), x.Count+1
			byAccount[acc] = x
		}
		for _, a := range text.SortedKeys(byAccount) {
			e.Leaf = append(e.Leaf, byAccount[a])
		}
	}
	return e
}

// hubAccount is the account hub binds remote r's connection to: its leaf
// user's, or the global account.
func hubAccount(hub *cluster.Inventory, r cluster.LeafRemoteSpec) string {
	if r.User != nil {
		for _, u := range hub.File.LeafNodes.Users {
			if u.User == *r.User && u.Account != "" {
				return u.Account
			}
		}
	}
	return GlobalAccount
}

func clusterJoin(have, name string) string {
	if have == "" || have == name {
		return name
	}
	parts := append([]string{have}, name)
	sort.Strings(parts)
	return parts[0] + "," + parts[1]
}

// EstateReady decides whether inv, with every node read (with
// fleet.EstateOptions), has what its estate asks: every node an outbound
// gateway to every other cluster, the cluster inbound ones from every
// server of each, every leaf connection it accepts as a hub and every one
// each node dials as a leaf. Nothing for a single cluster. Pure.
//
// A cluster of no node yet (every one joining) is judged by nothing.
func EstateReady(inv *cluster.Inventory, snaps map[string]*monitor.Snapshot) []Reason {
	if len(inv.Nodes) == 0 {
		return nil
	}
	e := ExpectEstate(inv)
	names := inv.NodeNames()
	var out []Reason
	if e.Gateway != nil {
		out = append(out, ClusterGatewaysReady(snaps, names, *e.Gateway)...)
	}
	if len(e.Hub) > 0 {
		out = append(out, ClusterLeafsReady(snaps, names, e.Hub)...)
	}
	if len(e.Leaf) > 0 {
		for _, n := range names {
			out = append(out, LeafsReady(n, snaps[n], e.Leaf)...)
		}
	}
	return out
}
