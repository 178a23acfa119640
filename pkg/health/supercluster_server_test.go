package health

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/monitor"
)

// gateway sets o up as a server of gateway name dialing the remote
// gateways at the given ports, with a system account (nats-server
// requires one where gateways and leaf nodes meet).
func gateway(o *server.Options, name string, port int, remotes map[string][]int) {
	o.Gateway = server.GatewayOpts{Name: name, Host: "127.0.0.1", Port: port}
	for remote, ports := range remotes {
		rg := &server.RemoteGatewayOpts{Name: remote}
		for _, p := range ports {
			rg.URLs = append(rg.URLs, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
		o.Gateway.Gateways = append(o.Gateway.Gateways, rg)
	}
	o.Accounts = append(o.Accounts, server.NewAccount("SYS"))
	o.SystemAccount = "SYS"
}

func readAll(c *monitor.Client, s *server.Server) *monitor.Snapshot {
	return c.SnapshotWith(context.Background(), "http://"+s.MonitorAddr().String(), monitor.SnapshotOptions{Gateways: true, Leafs: true})
}

// TestSuperclusterAgainstRealServers: two one-node clusters A and B
// joined by gateways, and a leaf node l1 dialing A as a user of its
// account APP. Read through monitor.Client from their monitoring ports,
// the health model says every gateway and leaf connection is up; with B
// shut down, A's reading names the missing gateway, outbound and
// inbound.
func TestSuperclusterAgainstRealServers(t *testing.T) {
	gwA, gwB, leafA := natstest.FreePort(t), natstest.FreePort(t), natstest.FreePort(t)
	a := natstest.StartServer(t, func(o *server.Options) {
		o.ServerName = "a1"
		gateway(o, "A", gwA, map[string][]int{"B": {gwB}})
		app := server.NewAccount("APP")
		o.Accounts = append(o.Accounts, app)
		o.Users = []*server.User{{Username: "leaf", Password: "s3cret", Account: app}}
		o.LeafNode = server.LeafNodeOpts{Host: "127.0.0.1", Port: leafA}
	})
	b := natstest.StartServer(t, func(o *server.Options) {
		o.ServerName = "b1"
		gateway(o, "B", gwB, map[string][]int{"A": {gwA}})
	})
	l := natstest.StartServer(t, func(o *server.Options) {
		o.ServerName = "l1"
		o.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{{Scheme: "nats-leaf", User: url.UserPassword("leaf", "s3cret"), Host: fmt.Sprintf("127.0.0.1:%d", leafA)}}}}
	})

	c := &monitor.Client{}
	eA := GatewayExpect{Name: "A", Remotes: []string{"A", "B"}, RemoteNodes: map[string]int{"B": 1}}
	eB := GatewayExpect{Name: "B", Remotes: []string{"A", "B"}, RemoteNodes: map[string]int{"A": 1}}
	leafToA := []LeafExpect{{Account: "$G", Remote: "A", Count: 1}}
	hubSeesL := []LeafExpect{{Account: "APP", Remote: "L", Count: 1}}
	var sa, sb, sl *monitor.Snapshot
	natstest.WaitFor(t, "gateways and leaf node up", func() (bool, string) {
		sa, sb, sl = readAll(c, a), readAll(c, b), readAll(c, l)
		var rs []Reason
		for node, s := range map[string]*monitor.Snapshot{"a1": sa, "b1": sb, "l1": sl} {
			rs = append(rs, NodeReady(node, s, Expect{})...)
		}
		rs = append(rs, GatewaysReady("a1", sa, eA)...)
		rs = append(rs, GatewaysReady("b1", sb, eB)...)
		rs = append(rs, ClusterGatewaysReady(map[string]*monitor.Snapshot{"a1": sa}, []string{"a1"}, eA)...)
		rs = append(rs, ClusterGatewaysReady(map[string]*monitor.Snapshot{"b1": sb}, []string{"b1"}, eB)...)
		rs = append(rs, LeafsReady("l1", sl, leafToA)...)
		rs = append(rs, ClusterLeafsReady(map[string]*monitor.Snapshot{"a1": sa}, []string{"a1"}, hubSeesL)...)
		return len(rs) == 0, fmt.Sprint(rs)
	})

	// What 2.15 reports, as decoded: the connection's name is the remote
	// server's ID; /leafz names the remote server and says who dialed.
	if out := sa.Gatewayz.OutboundGateways["B"]; out.Connection.RemoteID != b.ID() || out.Connection.Port != gwB {
		t.Errorf("a1's outbound to B: %+v, want %s on port %d", out.Connection, b.ID(), gwB)
	}
	if in := sa.Gatewayz.InboundGateways["B"]; len(in) != 1 || in[0].Connection.RemoteID != b.ID() {
		t.Errorf("a1's inbound from B: %+v", in)
	}
	if lf := sa.Leafz.Leafs; len(lf) != 1 || lf[0].Account != "APP" || lf[0].Name != "l1" || lf[0].IsSpoke == nil || *lf[0].IsSpoke {
		t.Errorf("a1's leafs: %+v", lf)
	}
	if lf := sl.Leafz.Leafs; len(lf) != 1 || lf[0].Account != "$G" || lf[0].Name != "a1" || lf[0].IsSpoke == nil || !*lf[0].IsSpoke || lf[0].Port != leafA {
		t.Errorf("l1's leafs: %+v", lf)
	}
	if sl.Gatewayz.Name != "" || len(sl.Gatewayz.OutboundGateways) != 0 {
		t.Errorf("l1 has no gateway: %+v", sl.Gatewayz)
	}

	b.Shutdown()
	natstest.WaitFor(t, "a1 names the missing gateway to B", func() (bool, string) {
		sa = readAll(c, a)
		rs := ClusterGatewaysReady(map[string]*monitor.Snapshot{"a1": sa}, []string{"a1"}, eA)
		got := codes(rs)
		return got == "a1:gateway-outbound-missing cluster:gateway-inbound-missing", fmt.Sprint(rs)
	})
	rs := GatewaysReady("a1", sa, eA)
	if len(rs) != 1 || rs[0].Code != ReasonGatewayOutbound || !strings.Contains(rs[0].Msg, "no outbound gateway connection to cluster B (outbound to: none)") {
		t.Errorf("a1 without B: %v", rs)
	}
	rs = ClusterGatewaysReady(map[string]*monitor.Snapshot{"a1": sa}, []string{"a1"}, eA)
	if !strings.Contains(rs[1].Msg, "from 0 of cluster B's 1 server") {
		t.Errorf("inbound: %v", rs[1])
	}
	// The leaf node does not depend on B.
	if rs := LeafsReady("l1", readAll(c, l), leafToA); len(rs) != 0 {
		t.Errorf("l1 without B: %v", rs)
	}
}

// TestInboundGatewaysAreTheClusters: B's one server dials ONE server of
// the two-node cluster A, so only one of A's nodes has an inbound
// connection from B, and A is joined to B all the same: why inbound
// connections are judged over the cluster, not per node.
func TestInboundGatewaysAreTheClusters(t *testing.T) {
	gwA := []int{natstest.FreePort(t), natstest.FreePort(t)}
	rtA := []int{natstest.FreePort(t), natstest.FreePort(t)}
	gwB := natstest.FreePort(t)
	var routes []*url.URL
	for _, p := range rtA {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var as []*server.Server
	for i := range gwA {
		as = append(as, natstest.StartServer(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("a%d", i+1)
			o.Cluster = server.ClusterOpts{Name: "A", Host: "127.0.0.1", Port: rtA[i]}
			o.Routes = routes
			gateway(o, "A", gwA[i], map[string][]int{"B": {gwB}})
		}))
	}
	b := natstest.StartServer(t, func(o *server.Options) {
		o.ServerName = "b1"
		gateway(o, "B", gwB, map[string][]int{"A": gwA})
	})
	c := &monitor.Client{}
	eA := GatewayExpect{Name: "A", Remotes: []string{"B"}, RemoteNodes: map[string]int{"B": 1}}
	nodes := []string{"a1", "a2"}
	var snaps map[string]*monitor.Snapshot
	var with []string
	natstest.WaitFor(t, "A joined to B, one inbound connection in all", func() (bool, string) {
		snaps = map[string]*monitor.Snapshot{"a1": readAll(c, as[0]), "a2": readAll(c, as[1])}
		rs := ClusterGatewaysReady(snaps, nodes, eA)
		with = nil
		for _, n := range nodes {
			if g := snaps[n].Gatewayz; g != nil && len(g.InboundGateways["B"]) > 0 {
				with = append(with, n)
			}
		}
		return len(rs) == 0 && len(with) == 1, fmt.Sprintf("%v; inbound from B on %v", rs, with)
	})
	t.Logf("b1 (%s) dialed %s", b.ID(), with[0])
}
