// Package health decides, from monitoring snapshots (pkg/monitor), whether
// a node is ready and whether the cluster is healthy: reachable, the right
// server, restarted when a restart is expected, full /healthz ok, routes to
// every inventory peer (distinct peers, never pooled connections), one
// JetStream meta leader with every replica current; for a supercluster,
// gateways to every other cluster and leaf node connections up; before a
// rollout, whether it may go on (Preflight) and which problems it goes on
// with (Baseline). Each verdict is a list of reasons with a stable code.
//
// It is pure: no I/O, no clock. Reading the endpoints is pkg/monitor;
// polling until a verdict holds is the caller's (pkg/rollout).
package health

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// Reason codes: why a node or the cluster is not ready. Stable: rollout
// output and `natsops check` report them.
const (
	ReasonUnreachable       = "unreachable"
	ReasonWrongServer       = "wrong-server"
	ReasonNotRestarted      = "not-restarted"
	ReasonHealthz           = "healthz"
	ReasonRoutes            = "routes"
	ReasonNoMetaLeader      = "jetstream-no-leader"
	ReasonLeaderSplit       = "jetstream-leader-disagreement"
	ReasonJSNotCurrent      = "jetstream-not-current"
	ReasonMonitorIncomplete = "monitoring-incomplete"
	// A cluster of a supercluster (GatewaysReady, ClusterGatewaysReady)
	// and leaf nodes (LeafsReady, ClusterLeafsReady).
	ReasonGatewayName     = "gateway-name"
	ReasonGatewayOutbound = "gateway-outbound-missing"
	ReasonGatewayInbound  = "gateway-inbound-missing"
	ReasonLeafMissing     = "leaf-missing"
)

// Reason is one thing keeping a node, or the cluster, from being ready.
type Reason struct {
	Node string `json:"node"`
	Code string `json:"code"`
	Msg  string `json:"message"`
	// Asset is the account/stream (and consumer) a JetStream reason is
	// about, or "".
	Asset string `json:"asset,omitempty"`
}

func (r Reason) String() string { return fmt.Sprintf("%s: %s (%s)", r.Node, r.Msg, r.Code) }

// Brief is reasons on one short line, for a wait that says what it sees:
// the first two (named by node, unless about subject), and how many more.
func Brief(subject string, rs []Reason) string {
	const shown = 2
	var parts []string
	for i, x := range rs {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-shown))
			break
		}
		if x.Node == subject {
			parts = append(parts, x.Msg)
		} else {
			parts = append(parts, x.Node+": "+x.Msg)
		}
	}
	return strings.Join(parts, "; ")
}

// Expect is what a node must show to count as ready.
type Expect struct {
	// Peers are the node names it must have routes to.
	Peers []string
	// JetStream: a meta leader must be known.
	JetStream bool
	// RestartedAfter, when set, requires a start time after it (or a new
	// server ID): a restarted node is recognised by its new start.
	RestartedAfter time.Time
	PrevServerID   string
}

// ExpectFor is what node n of inv must show to be ready in its cluster:
// routes to every inventory peer, and a meta leader when it runs
// JetStream.
func ExpectFor(inv *cluster.Inventory, n *cluster.Node) Expect {
	return Expect{Peers: inv.Peers(n), JetStream: ClusteredJetStream(inv, n)}
}

// ClusteredJetStream reports whether node n runs JetStream in a cluster,
// so it has a meta group with a leader; a lone server's JetStream has
// none, and is healthy without one.
func ClusteredJetStream(inv *cluster.Inventory, n *cluster.Node) bool {
	return n.JetStreamEnabled() && inv.Clustered()
}

// NodeReady decides from one snapshot whether node is ready: reachable,
// the right server, restarted if expected, full /healthz ok (JetStream
// included), routes to every expected peer (distinct names, never
// num_routes), and a JetStream meta leader. It is pure; an empty result
// means ready.
func NodeReady(node string, s *monitor.Snapshot, e Expect) []Reason {
	var out []Reason
	add := func(code, format string, args ...any) {
		out = append(out, Reason{Node: node, Code: code, Msg: fmt.Sprintf(format, args...)})
	}
	if s == nil {
		add(ReasonUnreachable, "no monitoring data")
		return out
	}
	if err := s.Err(); err != nil && s.Varz == nil && s.Healthz == nil && errors.Is(err, monitor.ErrNotMonitoring) {
		add(ReasonForeign, "%s is not a nats-server monitoring endpoint (%v): another process holds the port; natsops status names it when it can read the host over SSH", s.URL, err)
		return out
	}
	if err := s.Err(); err != nil && s.Varz == nil && s.Healthz == nil {
		add(ReasonUnreachable, "monitoring endpoint %s does not answer: %v", s.URL, err)
		return out
	}
	if s.Varz == nil || s.Healthz == nil || s.Routez == nil {
		add(ReasonMonitorIncomplete, "monitoring endpoint %s answered only partly: %v", s.URL, s.Err())
		return out
	}
	if s.Varz.ServerName != node {
		if s.Varz.ServerName == s.Varz.ServerID {
			add(ReasonWrongServer, "%s runs a config without server_name, so it cannot be told from its peers: deploy natsops's config to it", s.URL)
		} else {
			add(ReasonWrongServer, "%s is server %q, not %q: check http_port and the inventory's host", s.URL, s.Varz.ServerName, node)
		}
		return out
	}
	if !e.RestartedAfter.IsZero() && !s.Varz.Start.After(e.RestartedAfter) && (e.PrevServerID == "" || s.Varz.ServerID == e.PrevServerID) {
		add(ReasonNotRestarted, "still the process started at %s", s.Varz.Start.Format(time.RFC3339))
		return out
	}
	if !s.Healthz.OK() {
		add(ReasonHealthz, "/healthz: %s", strings.Join(s.Healthz.Reasons(), "; "))
	}
	// Routes of servers before 2.10 carry only IDs: callers name them with
	// monitor.NameRoutes over the whole fleet's snapshots first.
	seen := s.Routez.Peers()
	if missing := missingPeers(e.Peers, seen); len(missing) > 0 {
		add(ReasonRoutes, "no route to %s (routes to: %s)", strings.Join(missing, ", "), sortedOrNone(seen))
	}
	if e.JetStream {
		switch {
		case s.Jsz == nil:
			add(ReasonNoMetaLeader, "/jsz does not answer: %v", s.Errs["jsz"])
		case s.Jsz.Meta == nil || s.Jsz.Meta.Leader == "":
			add(ReasonNoMetaLeader, "JetStream has no meta leader")
		}
	}
	return out
}

// ClusterReady decides whether every node is ready with routes to all its
// inventory peers (snapshots named with monitor.NameRoutes), and the JetStream nodes agree on one meta leader whose
// replicas are all current (only the leader's view of them counts). Nodes
// missing from snaps are unreachable.
func ClusterReady(inv *cluster.Inventory, snaps map[string]*monitor.Snapshot) []Reason {
	var out []Reason
	leaders := map[string][]string{} // leader -> nodes that say so
	for _, n := range inv.Nodes {
		e := ExpectFor(inv, n)
		rs := NodeReady(n.Name, snaps[n.Name], e)
		out = append(out, rs...)
		if s := snaps[n.Name]; len(rs) == 0 && e.JetStream && s.Jsz.Meta != nil {
			leaders[s.Jsz.Meta.Leader] = append(leaders[s.Jsz.Meta.Leader], n.Name)
		}
	}
	if len(leaders) > 1 {
		var parts []string
		for _, l := range text.SortedKeys(leaders) {
			parts = append(parts, fmt.Sprintf("%s says %s", strings.Join(leaders[l], ","), l))
		}
		out = append(out, Reason{Node: "cluster", Code: ReasonLeaderSplit, Msg: "nodes disagree on the JetStream meta leader: " + strings.Join(parts, "; ")})
	}
	if len(leaders) == 1 {
		leader := text.SortedKeys(leaders)[0]
		if s := snaps[leader]; s != nil && s.Jsz != nil && s.Jsz.Meta != nil {
			for _, r := range s.Jsz.Meta.Replicas {
				if !r.Current || r.Offline {
					out = append(out, Reason{Node: r.Name, Code: ReasonJSNotCurrent, Msg: fmt.Sprintf("JetStream meta replica is not current on leader %s (lag %d, offline %v)", leader, r.Lag, r.Offline)})
				}
			}
		}
	}
	return out
}

// MetaLeader returns the JetStream meta leader the snapshots agree on, or
// "" (restart order: followers first, the leader last).
func MetaLeader(snaps map[string]*monitor.Snapshot) string {
	leader := ""
	for _, s := range snaps {
		if s == nil || s.Jsz == nil || s.Jsz.Meta == nil || s.Jsz.Meta.Leader == "" {
			continue
		}
		if leader != "" && leader != s.Jsz.Meta.Leader {
			return ""
		}
		leader = s.Jsz.Meta.Leader
	}
	return leader
}

func missingPeers(want, have []string) []string {
	got := map[string]bool{}
	for _, h := range have {
		got[h] = true
	}
	var out []string
	for _, w := range want {
		if !got[w] {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// sortedOrNone is s sorted and joined, or "none" when it is empty.
func sortedOrNone(s []string) string { return text.OrNone(slices.Sorted(slices.Values(s))) }

// CatchingUp reports whether a server's /healthz fails only because
// stream or consumer replicas on it are not current yet (nats-server's
// "JetStream stream 'A > S' is not current", "JetStream consumer 'A > S >
// C' is not current"): replicas catching up with their leader, as they do
// for a moment under traffic when a peer restarts. Anything else it
// reports, or no /healthz reading, is not catching up. Pure.
func CatchingUp(s *monitor.Snapshot) bool {
	if s == nil || s.Healthz == nil || s.Healthz.OK() {
		return false
	}
	rs := s.Healthz.Reasons()
	for _, r := range rs {
		if !(strings.HasPrefix(r, "JetStream stream '") || strings.HasPrefix(r, "JetStream consumer '")) || !strings.Contains(r, "' is not current") {
			return false
		}
	}
	return len(rs) > 0
}

// Gate decides, after node was restarted, whether the cluster has it back:
// every node ready with routes to all its inventory peers (so the peers
// see node again), one JetStream meta leader, and node current on it. The
// node's own restart (new start) is checked by NodeReady with Expect
// before. Pure.
func Gate(inv *cluster.Inventory, node string, snaps map[string]*monitor.Snapshot) []Reason {
	out := ClusterReady(inv, snaps)
	var js bool
	for _, n := range inv.Nodes {
		if n.Name == node {
			js = ClusteredJetStream(inv, n)
		}
	}
	if !js || len(out) > 0 {
		return out
	}
	leader := MetaLeader(snaps)
	if leader == "" || leader == node {
		return out
	}
	s := snaps[leader]
	if s == nil || s.Jsz == nil || s.Jsz.Meta == nil {
		return append(out, Reason{Node: node, Code: ReasonJSNotCurrent, Msg: "meta leader " + leader + " does not report its replicas"})
	}
	for _, rp := range s.Jsz.Meta.Replicas {
		if rp.Name == node {
			return out // ClusterReady checked current/offline
		}
	}
	names := make([]string, 0, len(s.Jsz.Meta.Replicas))
	for _, rp := range s.Jsz.Meta.Replicas {
		names = append(names, rp.Name)
	}
	sort.Strings(names)
	return append(out, Reason{Node: node, Code: ReasonJSNotCurrent, Msg: fmt.Sprintf("meta leader %s does not list %s among its replicas (%s)", leader, node, strings.Join(names, ", "))})
}
