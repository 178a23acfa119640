package health

import (
	"reflect"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// mustEstate is the shared estate (testinv.Estate): hubs east (2 nodes)
// and west (1) joined by gateways, a leaf cluster edge (1 node) dialling
// east as user "leaf", bound there to APP and locally to APP.
func mustEstate(t *testing.T) *cluster.Estate {
	t.Helper()
	est, err := cluster.ParseEstate("est.toml", []byte(testinv.Estate))
	if err != nil {
		t.Fatal(err)
	}
	return est
}

func TestExpectEstate(t *testing.T) {
	est := mustEstate(t)
	east, west, edge := est.Clusters[0], est.Clusters[1], est.Clusters[2]
	want := map[string]EstateExpect{
		"east": {Gateway: &GatewayExpect{Name: "east", Remotes: []string{"west"}, RemoteNodes: map[string]int{"west": 1}},
			Hub: []LeafExpect{{Account: "APP", Remote: "edge", Count: 1}}},
		"west": {Gateway: &GatewayExpect{Name: "west", Remotes: []string{"east"}, RemoteNodes: map[string]int{"east": 2}}},
		"edge": {Leaf: []LeafExpect{{Account: "APP", Remote: "east", Count: 1}}},
	}
	for _, c := range []*cluster.Inventory{east, west, edge} {
		if got := ExpectEstate(c); !reflect.DeepEqual(got, want[c.ClusterName()]) {
			t.Errorf("%s: got %+v (gateway %+v), want %+v", c.ClusterName(), got, got.Gateway, want[c.ClusterName()])
		}
	}
	single := mustParseSingle(t)
	if got := ExpectEstate(single); !reflect.DeepEqual(got, EstateExpect{}) {
		t.Errorf("a single cluster asks %+v", got)
	}
}

func mustParseSingle(t *testing.T) *cluster.Inventory {
	t.Helper()
	inv, err := cluster.Parse("one.toml", []byte("[cluster]\nname = \"c\"\n[[node]]\nname = \"a\"\nhost = \"h1\"\n[[node]]\nname = \"b\"\nhost = \"h2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// eastSnaps: e1 and e2 each dial west; west's one server dialled e2;
// the edge leaf is on e1.
func eastSnaps() map[string]*monitor.Snapshot {
	gw := func(node string, inbound map[string][]*monitor.RemoteGateway) *monitor.Snapshot {
		s := snap(node)
		s.Gatewayz = &monitor.Gatewayz{ServerID: "ID-" + node, Name: "east",
			OutboundGateways: map[string]*monitor.RemoteGateway{"west": conn("ID-w1")}, InboundGateways: inbound}
		s.Leafz = &monitor.Leafz{}
		return s
	}
	e1 := gw("e1", map[string][]*monitor.RemoteGateway{})
	e1.Leafz.Leafs = []monitor.Leaf{{Account: "APP", Name: "x1", IsSpoke: spoke(false)}}
	e2 := gw("e2", map[string][]*monitor.RemoteGateway{"west": {conn("ID-w1")}})
	return map[string]*monitor.Snapshot{"e1": e1, "e2": e2}
}

func TestEstateReady(t *testing.T) {
	est := mustEstate(t)
	east, edge := est.Clusters[0], est.Clusters[2]
	codes := func(rs []Reason) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Node+":"+r.Code)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		inv  *cluster.Inventory
		edit func(map[string]*monitor.Snapshot)
		want string
	}{
		{"healthy hub", east, func(map[string]*monitor.Snapshot) {}, ""},
		{"a node without its outbound gateway", east, func(s map[string]*monitor.Snapshot) { delete(s["e1"].Gatewayz.OutboundGateways, "west") }, "e1:" + ReasonGatewayOutbound},
		{"west's server dialled nobody", east, func(s map[string]*monitor.Snapshot) {
			s["e2"].Gatewayz.InboundGateways = map[string][]*monitor.RemoteGateway{}
		}, "cluster:" + ReasonGatewayInbound},
		{"the leaf is not on the hub", east, func(s map[string]*monitor.Snapshot) { s["e1"].Leafz.Leafs = nil }, "cluster:" + ReasonLeafMissing},
		{"the leaf moved to the other hub node", east, func(s map[string]*monitor.Snapshot) {
			s["e2"].Leafz.Leafs, s["e1"].Leafz.Leafs = s["e1"].Leafz.Leafs, nil
		}, ""},
		{"the leaf node's remote is up", edge, func(s map[string]*monitor.Snapshot) {
			x := snap("x1")
			x.Leafz = &monitor.Leafz{Leafs: []monitor.Leaf{{Account: "APP", Name: "e2", IsSpoke: spoke(true)}}}
			s["x1"] = x
		}, ""},
		{"the leaf node's remote is down", edge, func(s map[string]*monitor.Snapshot) {
			x := snap("x1")
			x.Leafz = &monitor.Leafz{}
			s["x1"] = x
		}, "x1:" + ReasonLeafMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := eastSnaps()
			tc.edit(s)
			if got := codes(EstateReady(tc.inv, s)); got != tc.want {
				t.Errorf("EstateReady = %q, want %q", got, tc.want)
			}
		})
	}
	if rs := EstateReady(mustParseSingle(t), map[string]*monitor.Snapshot{}); len(rs) != 0 {
		t.Errorf("a single cluster: %v", rs)
	}
}

// TestStatusNamesTheEstate: status of a cluster of an estate carries its
// name, its gateway reasons, and names its cluster-wide reasons by it.
func TestStatusNamesTheEstate(t *testing.T) {
	est := mustEstate(t)
	east := est.Clusters[0]
	s := eastSnaps()
	s["e2"].Gatewayz.InboundGateways = map[string][]*monitor.RemoteGateway{}
	for _, n := range []string{"e1", "e2"} {
		s[n].Routez = &monitor.Routez{Routes: []monitor.Route{{RemoteName: map[string]string{"e1": "e2", "e2": "e1"}[n]}}}
	}
	f := Status(east, east.Nodes, s, nil)
	if f.Cluster != "east" || f.Healthy {
		t.Fatalf("cluster %q healthy %v: %+v", f.Cluster, f.Healthy, f.Reasons)
	}
	found := false
	for _, r := range f.Reasons {
		if r.Code == ReasonGatewayInbound {
			found = r.Node == "cluster east"
		}
	}
	if !found {
		t.Errorf("no inbound gateway reason on \"cluster east\": %+v", f.Reasons)
	}
}
