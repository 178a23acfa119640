package health

import (
	"errors"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/monitor"
)

// A supercluster of three clusters: A (a1, a2), B (b1, b2, b3) and C
// (c1). Each server dials one server of every other cluster.

func conn(remoteID string) *monitor.RemoteGateway {
	return &monitor.RemoteGateway{Connection: &monitor.GatewayConn{RemoteID: remoteID, IP: "10.0.0.9", Port: 7222}}
}

// gwSnap is node's healthy reading in gateway A: outbound to B (b2) and
// C (c1), and the inbound connections given.
func gwSnap(node string, inbound map[string][]*monitor.RemoteGateway) *monitor.Snapshot {
	s := snap(node)
	s.Gatewayz = &monitor.Gatewayz{
		ServerID:         "ID-" + node,
		Name:             "A",
		OutboundGateways: map[string]*monitor.RemoteGateway{"B": conn("ID-b2"), "C": conn("ID-c1")},
		InboundGateways:  inbound,
	}
	if inbound == nil {
		s.Gatewayz.InboundGateways = map[string][]*monitor.RemoteGateway{}
	}
	return s
}

var supercluster = GatewayExpect{Name: "A", Remotes: []string{"A", "B", "C"}, RemoteNodes: map[string]int{"B": 3, "C": 1}}

// TestGatewaysReady: every reason a node's gateways are not up is a row.
func TestGatewaysReady(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*monitor.Snapshot)
		want   string // codes, "" = ready
		msg    string
	}{
		{"ready", func(*monitor.Snapshot) {}, "", ""},
		{"ready without any inbound connection: the remotes dialed the other node", func(s *monitor.Snapshot) {
			s.Gatewayz.InboundGateways = nil
		}, "", ""},
		{"unreachable", func(s *monitor.Snapshot) {
			s.Healthz, s.Varz, s.Routez, s.Jsz, s.Gatewayz = nil, nil, nil, nil, nil
			s.Errs["healthz"] = errors.New("connect: connection refused")
			s.Errs["gatewayz"] = errors.New("connect: connection refused")
		}, "a1:unreachable", "connection refused"},
		{"/gatewayz fails alone", func(s *monitor.Snapshot) {
			s.Gatewayz = nil
			s.Errs["gatewayz"] = errors.New("HTTP 404")
		}, "a1:monitoring-incomplete", "/gatewayz: HTTP 404"},
		{"/gatewayz not asked for", func(s *monitor.Snapshot) { s.Gatewayz = nil }, "a1:monitoring-incomplete", "/gatewayz of http://a1:8222 was not read"},
		{"no gateway", func(s *monitor.Snapshot) {
			s.Gatewayz = &monitor.Gatewayz{ServerID: "ID-a1"}
		}, "a1:gateway-name", `runs no gateway (its /gatewayz names none), want gateway "A"`},
		{"another cluster's gateway", func(s *monitor.Snapshot) { s.Gatewayz.Name = "B" }, "a1:gateway-name", `runs gateway "B", not "A"`},
		{"no outbound to C", func(s *monitor.Snapshot) {
			delete(s.Gatewayz.OutboundGateways, "C")
		}, "a1:gateway-outbound-missing", "no outbound gateway connection to cluster C (outbound to: B (ID-b2 at 10.0.0.9:7222))"},
		{"an outbound without its connection is none", func(s *monitor.Snapshot) {
			s.Gatewayz.OutboundGateways["B"] = &monitor.RemoteGateway{}
		}, "a1:gateway-outbound-missing", "to cluster B (outbound to: C (ID-c1"},
		{"no outbound at all: one reason per cluster", func(s *monitor.Snapshot) {
			s.Gatewayz.OutboundGateways = map[string]*monitor.RemoteGateway{}
		}, "a1:gateway-outbound-missing a1:gateway-outbound-missing", "to cluster B (outbound to: none)"},
		{"an inbound from C is no outbound to it", func(s *monitor.Snapshot) {
			delete(s.Gatewayz.OutboundGateways, "C")
			s.Gatewayz.InboundGateways["C"] = []*monitor.RemoteGateway{conn("ID-c1")}
		}, "a1:gateway-outbound-missing", "to cluster C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gwSnap("a1", nil)
			tc.mutate(s)
			rs := GatewaysReady("a1", s, supercluster)
			if got := codes(rs); got != tc.want {
				t.Fatalf("reasons %q, want %q: %v", got, tc.want, rs)
			}
			if tc.msg != "" && !strings.Contains(rs[0].Msg, tc.msg) {
				t.Errorf("message %q lacks %q", rs[0].Msg, tc.msg)
			}
		})
	}
	if rs := GatewaysReady("a1", nil, supercluster); codes(rs) != "a1:unreachable" {
		t.Errorf("no snapshot: %v", rs)
	}
}

// TestClusterGatewaysReady: inbound connections are counted over the
// cluster (distinct remote servers, whichever node they dialed).
func TestClusterGatewaysReady(t *testing.T) {
	nodes := []string{"a1", "a2"}
	all := func() map[string]*monitor.Snapshot {
		return map[string]*monitor.Snapshot{
			"a1": gwSnap("a1", map[string][]*monitor.RemoteGateway{"B": {conn("ID-b1"), conn("ID-b3")}}),
			"a2": gwSnap("a2", map[string][]*monitor.RemoteGateway{"B": {conn("ID-b2")}, "C": {conn("ID-c1")}}),
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]*monitor.Snapshot)
		expect GatewayExpect
		want   string
		msg    string
	}{
		{"ready", func(map[string]*monitor.Snapshot) {}, supercluster, "", ""},
		{"ready, sizes not known: one inbound server each", func(map[string]*monitor.Snapshot) {}, GatewayExpect{Name: "A", Remotes: []string{"B", "C"}}, "", ""},
		{"a remote server not connected", func(m map[string]*monitor.Snapshot) {
			m["a1"].Gatewayz.InboundGateways["B"] = m["a1"].Gatewayz.InboundGateways["B"][:1]
		}, supercluster, "cluster:gateway-inbound-missing", "cluster A has inbound gateway connections from 2 of cluster B's 3 servers (from: ID-b1 on a1, ID-b2 on a2)"},
		{"two connections from one remote server are one server", func(m map[string]*monitor.Snapshot) {
			m["a1"].Gatewayz.InboundGateways["B"] = []*monitor.RemoteGateway{conn("ID-b1"), conn("ID-b1")}
			m["a2"].Gatewayz.InboundGateways["B"] = []*monitor.RemoteGateway{conn("ID-b1")}
		}, supercluster, "cluster:gateway-inbound-missing", "from 1 of cluster B's 3 servers (from: ID-b1 on a1)"},
		{"no inbound from C", func(m map[string]*monitor.Snapshot) {
			delete(m["a2"].Gatewayz.InboundGateways, "C")
		}, supercluster, "cluster:gateway-inbound-missing", "from 0 of cluster C's 1 server (from: none)"},
		{"a node down", func(m map[string]*monitor.Snapshot) {
			delete(m, "a2")
		}, supercluster, "a2:unreachable cluster:gateway-inbound-missing cluster:gateway-inbound-missing", ""},
		{"a node down, its remotes redialed the other", func(m map[string]*monitor.Snapshot) {
			delete(m, "a2")
			m["a1"].Gatewayz.InboundGateways["B"] = []*monitor.RemoteGateway{conn("ID-b1"), conn("ID-b2"), conn("ID-b3")}
			m["a1"].Gatewayz.InboundGateways["C"] = []*monitor.RemoteGateway{conn("ID-c1")}
		}, supercluster, "a2:unreachable", ""},
		{"a node of another cluster's gateway: its inbound do not count", func(m map[string]*monitor.Snapshot) {
			m["a2"].Gatewayz.Name = "Z"
		}, supercluster, "a2:gateway-name cluster:gateway-inbound-missing cluster:gateway-inbound-missing", ""},
		{"a node's outbound missing", func(m map[string]*monitor.Snapshot) {
			delete(m["a1"].Gatewayz.OutboundGateways, "B")
		}, supercluster, "a1:gateway-outbound-missing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := all()
			tc.mutate(m)
			rs := ClusterGatewaysReady(m, nodes, tc.expect)
			if got := codes(rs); got != tc.want {
				t.Fatalf("reasons %q, want %q: %v", got, tc.want, rs)
			}
			if tc.msg != "" && !strings.Contains(rs[0].Msg, tc.msg) {
				t.Errorf("message %q lacks %q", rs[0].Msg, tc.msg)
			}
		})
	}
	m := all()
	delete(m, "a2")
	rs := ClusterGatewaysReady(m, nodes, supercluster)
	if len(rs) < 2 || !strings.HasSuffix(rs[1].Msg, "; not read: a2") {
		t.Errorf("a node not read is named: %v", rs)
	}
}

func spoke(b bool) *bool { return &b }

// leafSnap is l1 of leaf cluster L: its remote to hub A dials a1 bound
// to its local account APP.
func leafSnap(leafs ...monitor.Leaf) *monitor.Snapshot {
	s := snap("l1")
	s.Leafz = &monitor.Leafz{ServerID: "ID-l1", NumLeafs: len(leafs), Leafs: leafs}
	return s
}

var toHub = monitor.Leaf{Account: "APP", Name: "a1", IP: "10.0.0.1", Port: 7422, IsSpoke: spoke(true)}

// TestLeafsReady: a leaf node's own remotes, one row per case.
func TestLeafsReady(t *testing.T) {
	app := []LeafExpect{{Account: "APP", Remote: "A", Count: 1}}
	for _, tc := range []struct {
		name string
		snap *monitor.Snapshot
		want []LeafExpect
		codes,
		msg string
	}{
		{"ready", leafSnap(toHub), app, "", ""},
		{"ready, Count 0 means 1", leafSnap(toHub), []LeafExpect{{Account: "APP", Remote: "A"}}, "", ""},
		{"ready, 2.9.10 says neither the name nor the side", leafSnap(monitor.Leaf{Account: "APP", IP: "10.0.0.1", Port: 7422}), app, "", ""},
		{"nothing expected", leafSnap(), nil, "", ""},
		{"no connection", leafSnap(), app, "l1:leaf-missing", "0 of 1 leaf connections to cluster A bound to account APP are up (leaf connections: none)"},
		{"bound to another account", leafSnap(monitor.Leaf{Account: "$G", Name: "a1", IP: "10.0.0.1", Port: 7422, IsSpoke: spoke(true)}), app, "l1:leaf-missing", "(leaf connections: $G a1 (10.0.0.1:7422) dialed)"},
		{"one accepted is not one dialed", leafSnap(monitor.Leaf{Account: "APP", Name: "x9", IP: "10.0.0.7", Port: 51000, IsSpoke: spoke(false)}), app, "l1:leaf-missing", "APP x9 (10.0.0.7:51000) accepted"},
		{"two remotes, one up", leafSnap(toHub), []LeafExpect{{Account: "APP", Remote: "A", Count: 2}}, "l1:leaf-missing", "1 of 2 leaf connections to cluster A"},
		{"each expectation on its own", leafSnap(toHub), []LeafExpect{{Account: "APP", Remote: "A"}, {Account: "SYS"}}, "l1:leaf-missing", "0 of 1 leaf connections to the hub bound to account SYS"},
		{"/leafz fails", func() *monitor.Snapshot {
			s := leafSnap()
			s.Leafz = nil
			s.Errs["leafz"] = errors.New("HTTP 404")
			return s
		}(), app, "l1:monitoring-incomplete", "/leafz: HTTP 404"},
		{"unreachable", nil, app, "l1:unreachable", "no monitoring data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := LeafsReady("l1", tc.snap, tc.want)
			if got := codes(rs); got != tc.codes {
				t.Fatalf("reasons %q, want %q: %v", got, tc.codes, rs)
			}
			if tc.msg != "" && !strings.Contains(rs[0].Msg, tc.msg) {
				t.Errorf("message %q lacks %q", rs[0].Msg, tc.msg)
			}
		})
	}
}

// TestClusterLeafsReady: the hub cluster's count, over every hub node
// (each leaf dials one of them).
func TestClusterLeafsReady(t *testing.T) {
	hubs := []string{"a1", "a2"}
	from := func(name string) monitor.Leaf {
		return monitor.Leaf{Account: "APP", Name: name, IP: "10.0.1.1", Port: 40000, IsSpoke: spoke(false)}
	}
	hub := func(leafs ...monitor.Leaf) *monitor.Snapshot {
		s := snap("a1")
		s.Leafz = &monitor.Leafz{Leafs: leafs}
		return s
	}
	three := []LeafExpect{{Account: "APP", Remote: "L", Count: 3}}
	for _, tc := range []struct {
		name  string
		snaps map[string]*monitor.Snapshot
		want  []LeafExpect
		codes string
		msg   string
	}{
		{"ready: spread over the hub nodes", map[string]*monitor.Snapshot{"a1": hub(from("l1"), from("l3")), "a2": hub(from("l2"))}, three, "", ""},
		{"ready: all on one hub node", map[string]*monitor.Snapshot{"a1": hub(), "a2": hub(from("l1"), from("l2"), from("l3"))}, three, "", ""},
		{"ready: 2.9.10 does not say the side", map[string]*monitor.Snapshot{"a1": hub(monitor.Leaf{Account: "APP"}), "a2": hub()}, []LeafExpect{{Account: "APP", Remote: "L"}}, "", ""},
		{"one leaf missing", map[string]*monitor.Snapshot{"a1": hub(from("l1")), "a2": hub(from("l2"))}, three, "cluster:leaf-missing",
			"the hub nodes see 2 of 3 leaf connections from cluster L bound to account APP (APP l1 (10.0.1.1:40000) accepted on a1, APP l2 (10.0.1.1:40000) accepted on a2)"},
		{"a connection the hub dialed is not a leaf of it", map[string]*monitor.Snapshot{"a1": hub(monitor.Leaf{Account: "APP", Name: "x", IsSpoke: spoke(true)}), "a2": hub()}, []LeafExpect{{Account: "APP", Remote: "L"}}, "cluster:leaf-missing", "see 0 of 1"},
		{"another account's leafs do not count", map[string]*monitor.Snapshot{"a1": hub(monitor.Leaf{Account: "OTHER", IsSpoke: spoke(false)}), "a2": hub()}, []LeafExpect{{Account: "APP", Remote: "L"}}, "cluster:leaf-missing", "see 0 of 1 leaf connections from cluster L bound to account APP (none)"},
		{"a hub node not read, the rest short", map[string]*monitor.Snapshot{"a1": hub(from("l1"))}, three, "cluster:leaf-missing", "see 1 of 3 leaf connections from cluster L bound to account APP (APP l1 (10.0.1.1:40000) accepted on a1); not read: a2"},
		{"a hub node not read, the rest enough", map[string]*monitor.Snapshot{"a1": hub(from("l1"), from("l2"), from("l3"))}, three, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := ClusterLeafsReady(tc.snaps, hubs, tc.want)
			if got := codes(rs); got != tc.codes {
				t.Fatalf("reasons %q, want %q: %v", got, tc.codes, rs)
			}
			if tc.msg != "" && !strings.Contains(rs[0].Msg, tc.msg) {
				t.Errorf("message %q lacks %q", rs[0].Msg, tc.msg)
			}
		})
	}
}
