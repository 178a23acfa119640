package health

import (
	"fmt"
	"sort"
	"strings"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/monitor"
)

// A supercluster's clusters are joined by gateways: every server dials
// one server of each other cluster (its outbound connection), picked by
// nats-server, so a server has an outbound connection to every remote
// cluster but inbound ones only from the remote servers that picked it,
// maybe none. Whether every remote server reached a cluster is a
// question about the whole cluster (ClusterGatewaysReady), not a node.
//
// A leaf node dials a hub the same way: one hub server per remote, so
// the hub's count of leaf connections is the whole hub cluster's
// (ClusterLeafsReady), and a leaf node's own reading says whether its
// remotes are up (LeafsReady).

// GatewayExpect is what a cluster's gateways must show.
type GatewayExpect struct {
	// Name is this cluster's gateway name: its cluster name (nats-server
	// refuses a gateway named otherwise).
	Name string
	// Remotes are the names of every other cluster of the supercluster.
	Remotes []string
	// RemoteNodes is how many servers each remote cluster runs: each
	// dials one server of this cluster, so the cluster as a whole has
	// that many distinct inbound servers from it. A remote not in it
	// needs at least one.
	RemoteNodes map[string]int
}

// GatewaysReady decides from one snapshot (read with
// monitor.SnapshotOptions.Gateways) whether node's gateways are up: it
// runs the gateway e.Name and has an outbound connection to every remote
// cluster. Inbound connections are the cluster's (ClusterGatewaysReady).
// Pure; an empty result means ready.
func GatewaysReady(node string, s *monitor.Snapshot, e GatewayExpect) []Reason {
	if rs := topology(node, s, "gatewayz", s != nil && s.Gatewayz != nil); rs != nil {
		return rs
	}
	g := s.Gatewayz
	switch {
	case g.Name == "":
		return []Reason{{Node: node, Code: ReasonGatewayName, Msg: fmt.Sprintf("%s runs no gateway (its /gatewayz names none), want gateway %q: deploy the supercluster's config to it", s.URL, e.Name)}}
	case g.Name != e.Name:
		return []Reason{{Node: node, Code: ReasonGatewayName, Msg: fmt.Sprintf("%s runs gateway %q, not %q: its config is another cluster's", s.URL, g.Name, e.Name)}}
	}
	var out []Reason
	for _, remote := range remotes(e) {
		if c := outbound(g, remote); c == nil {
			out = append(out, Reason{Node: node, Code: ReasonGatewayOutbound, Msg: fmt.Sprintf("no outbound gateway connection to cluster %s (outbound to: %s)", remote, outbounds(g))})
		}
	}
	return out
}

// ClusterGatewaysReady decides whether the cluster of nodes (its
// snapshots read with monitor.SnapshotOptions.Gateways) is joined to
// every remote cluster: every node GatewaysReady, and from each remote
// cluster inbound connections from as many distinct servers as it runs
// (e.RemoteNodes), counted over all the nodes. Nodes missing from snaps
// are unreachable. Pure.
func ClusterGatewaysReady(snaps map[string]*monitor.Snapshot, nodes []string, e GatewayExpect) []Reason {
	var out []Reason
	var unread []string
	for _, n := range nodes {
		out = append(out, GatewaysReady(n, snaps[n], e)...)
		if s := snaps[n]; s == nil || s.Gatewayz == nil {
			unread = append(unread, n)
		}
	}
	for _, remote := range remotes(e) {
		from := map[string]string{} // remote server ID -> the node it dialed
		for _, n := range nodes {
			s := snaps[n]
			if s == nil || s.Gatewayz == nil || s.Gatewayz.Name != e.Name {
				continue
			}
			for _, rg := range s.Gatewayz.InboundGateways[remote] {
				if rg != nil && rg.Connection != nil && rg.Connection.RemoteID != "" {
					if _, dup := from[rg.Connection.RemoteID]; !dup {
						from[rg.Connection.RemoteID] = n
					}
				}
			}
		}
		want := max(e.RemoteNodes[remote], 1)
		if len(from) >= want {
			continue
		}
		var seen []string
		for _, id := range text.SortedKeys(from) {
			seen = append(seen, id+" on "+from[id])
		}
		msg := fmt.Sprintf("cluster %s has inbound gateway connections from %d of cluster %s's %s (from: %s)", e.Name, len(from), remote, text.Plural(want, "server"), sortedOrNone(seen))
		if len(unread) > 0 {
			msg += "; not read: " + strings.Join(unread, ", ")
		}
		out = append(out, Reason{Node: "cluster", Code: ReasonGatewayInbound, Msg: msg})
	}
	return out
}

// LeafExpect is one set of leaf node connections that must be up.
type LeafExpect struct {
	// Account is the account the connections are bound to on the server
	// judged (monitor.Leaf.Account): on a leaf node, the local account of
	// its remote; on the hub, the account the leaf's credentials bind it
	// to.
	Account string
	// Remote names the other side, for the messages: the hub cluster on
	// a leaf node, the leaf cluster on the hub.
	Remote string
	// Count is how many connections there must be: on a leaf node, its
	// remotes bound to Account; on the hub, the leaf servers that dial it
	// on Account, over the whole hub cluster. 0 means 1.
	Count int
}

// LeafsReady decides from a leaf node's snapshot (read with
// monitor.SnapshotOptions.Leafs) whether the connections it dials to its
// hubs are up: for each expectation, Count connections bound to Account
// that it dialed (is_spoke; before 2.9.15, which does not say, every
// connection counts). Pure; an empty result means ready.
func LeafsReady(node string, s *monitor.Snapshot, want []LeafExpect) []Reason {
	if rs := topology(node, s, "leafz", s != nil && s.Leafz != nil); rs != nil {
		return rs
	}
	var out []Reason
	for _, w := range want {
		n := countLeafs(s.Leafz.Leafs, w.Account, true)
		if need := max(w.Count, 1); n < need {
			out = append(out, Reason{Node: node, Code: ReasonLeafMissing, Msg: fmt.Sprintf("%d of %d leaf connections to %s bound to account %s are up (leaf connections: %s)", n, need, clusterOr(w.Remote, "the hub"), w.Account, describeLeafs(s.Leafz.Leafs, ""))})
		}
	}
	return out
}

// ClusterLeafsReady decides whether the hub cluster of hubNodes (their
// snapshots read with monitor.SnapshotOptions.Leafs) sees every leaf
// connection expected: for each expectation, Count connections bound to
// Account that the hub accepted, over all of hubNodes (a leaf dials one
// hub server, not each). A hub node not read is named in the reason
// only when the count falls short; NodeReady reports it. Pure.
func ClusterLeafsReady(snaps map[string]*monitor.Snapshot, hubNodes []string, want []LeafExpect) []Reason {
	var out []Reason
	for _, w := range want {
		n := 0
		var seen, unread []string
		for _, h := range hubNodes {
			s := snaps[h]
			if s == nil || s.Leafz == nil {
				unread = append(unread, h)
				continue
			}
			n += countLeafs(s.Leafz.Leafs, w.Account, false)
			if d := describeLeafs(s.Leafz.Leafs, w.Account); d != "none" {
				seen = append(seen, d+" on "+h)
			}
		}
		need := max(w.Count, 1)
		if n >= need {
			continue
		}
		msg := fmt.Sprintf("the hub nodes see %d of %d leaf connections from %s bound to account %s (%s)", n, need, clusterOr(w.Remote, "leaf nodes"), w.Account, sortedOrNone(seen))
		if len(unread) > 0 {
			msg += "; not read: " + strings.Join(unread, ", ")
		}
		out = append(out, Reason{Node: "cluster", Code: ReasonLeafMissing, Msg: msg})
	}
	return out
}

// topology is the verdict on a snapshot that lacks the endpoint ep
// (unreachable, or that endpoint not read), or nil when it has it.
func topology(node string, s *monitor.Snapshot, ep string, has bool) []Reason {
	switch {
	case s == nil:
		return []Reason{{Node: node, Code: ReasonUnreachable, Msg: "no monitoring data"}}
	case has:
		return nil
	case s.Varz == nil && s.Healthz == nil && s.Err() != nil:
		return []Reason{{Node: node, Code: ReasonUnreachable, Msg: fmt.Sprintf("monitoring endpoint %s does not answer: %v", s.URL, s.Err())}}
	case s.Errs[ep] != nil:
		return []Reason{{Node: node, Code: ReasonMonitorIncomplete, Msg: fmt.Sprintf("monitoring endpoint %s answered only partly: /%s: %v", s.URL, ep, s.Errs[ep])}}
	default:
		return []Reason{{Node: node, Code: ReasonMonitorIncomplete, Msg: fmt.Sprintf("/%s of %s was not read", ep, s.URL)}}
	}
}

// clusterOr is "cluster name", or dflt when the name is not known.
func clusterOr(name, dflt string) string {
	if name == "" {
		return dflt
	}
	return "cluster " + name
}

// remotes are e's remote clusters, sorted, without the cluster itself.
func remotes(e GatewayExpect) []string {
	var out []string
	for _, r := range e.Remotes {
		if r != e.Name && r != "" {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func outbound(g *monitor.Gatewayz, remote string) *monitor.GatewayConn {
	if rg := g.OutboundGateways[remote]; rg != nil {
		return rg.Connection
	}
	return nil
}

// outbounds says where g's outbound connections go: "B (ID at ip:port)".
func outbounds(g *monitor.Gatewayz) string {
	var parts []string
	for _, name := range text.SortedKeys(g.OutboundGateways) {
		if c := outbound(g, name); c != nil {
			parts = append(parts, fmt.Sprintf("%s (%s at %s:%d)", name, c.RemoteID, c.IP, c.Port))
		}
	}
	return sortedOrNone(parts)
}

// countLeafs counts the connections bound to account that this server
// dialed (dialed) or accepted (!dialed). A 2.9 server before 2.9.15 does
// not say which: its connections count either way.
func countLeafs(ls []monitor.Leaf, account string, dialed bool) int {
	n := 0
	for _, l := range ls {
		if l.Account == account && (l.IsSpoke == nil || *l.IsSpoke == dialed) {
			n++
		}
	}
	return n
}

// describeLeafs lists the leaf connections (bound to account, or all
// when it is ""): "APP l1 (10.0.0.5:41234) accepted".
func describeLeafs(ls []monitor.Leaf, account string) string {
	var parts []string
	for _, l := range ls {
		if account != "" && l.Account != account {
			continue
		}
		who := fmt.Sprintf("%s:%d", l.IP, l.Port)
		if l.Name != "" {
			who = fmt.Sprintf("%s (%s)", l.Name, who)
		}
		side := ""
		if l.IsSpoke != nil && *l.IsSpoke {
			side = " dialed"
		} else if l.IsSpoke != nil {
			side = " accepted"
		}
		parts = append(parts, fmt.Sprintf("%s %s%s", l.Account, who, side))
	}
	return sortedOrNone(parts)
}
