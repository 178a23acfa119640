package cluster

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func mustEstate(t *testing.T, src string) *Estate {
	t.Helper()
	est, err := ParseEstate("est.toml", []byte(src))
	if err != nil {
		t.Fatalf("ParseEstate: %v\n--- inventory:\n%s", err, src)
	}
	return est
}

func TestEstateResolves(t *testing.T) {
	est := mustEstate(t, estate)
	if !est.Multi || !slices.Equal(est.Names(), []string{"east", "west", "edge"}) {
		t.Fatalf("clusters %v multi %v", est.Names(), est.Multi)
	}
	east, west, edge := est.Clusters[0], est.Clusters[1], est.Clusters[2]
	if !east.HasGateway() || !west.HasGateway() || edge.HasGateway() {
		t.Errorf("gateways: east %v west %v edge %v, want the hubs only", east.HasGateway(), west.HasGateway(), edge.HasGateway())
	}
	if !edge.IsLeaf() || !east.LeafListens() || west.LeafListens() {
		t.Errorf("leaf roles: edge leaf %v, east listens %v, west listens %v", edge.IsLeaf(), east.LeafListens(), west.LeafListens())
	}
	// Every member dials every other cluster, never its own.
	rs := east.GatewayRemotes()
	if len(rs) != 1 || rs[0].Name != "west" || len(rs[0].Nodes) != 2 {
		t.Fatalf("east's gateway remotes %+v, want west's 2 nodes", rs)
	}
	if got := rs[0].Nodes[0].GatewayAddr(); got != "10.0.2.1:7333" {
		t.Errorf("w1's gateway address %s, want its own port 7333", got)
	}
	if got := west.GatewayRemotes(); len(got) != 1 || got[0].Name != "east" {
		t.Errorf("west's gateway remotes %+v", got)
	}
	if edge.Nodes[0].Gateway.Port != nil || edge.Nodes[0].LeafNodes.Port != nil {
		t.Errorf("a leaf node listens on a gateway or leaf port: %+v %+v", edge.Nodes[0].Gateway, edge.Nodes[0].LeafNodes)
	}
	if hub := edge.Hub(edge.File.LeafNodes.Remotes[0]); hub != east || east.Nodes[1].LeafAddr() != "10.0.1.2:7422" {
		t.Errorf("edge's hub %v, e2 leaf address %s", hub, east.Nodes[1].LeafAddr())
	}
	// Estate defaults reach every cluster.
	for _, c := range est.Clusters {
		if *c.Nodes[0].Cluster.Port != 6222 || deref(c.Nodes[0].Server.Auth.SystemAccount, "") != "SYS" {
			t.Errorf("cluster %s did not get the estate's defaults", c.ClusterName())
		}
	}
	// Secrets of the estate are listed per node, so they are masked.
	var keys []string
	for _, f := range east.Secrets(east.Nodes[0]) {
		keys = append(keys, f.Key)
	}
	for _, want := range []string{"gateway.password", "leafnodes.users[0].password", "accounts.APP.users[0].password", "accounts.SYS.users[0].password"} {
		if !slices.Contains(keys, want) {
			t.Errorf("secret %s not listed for e1 (have %v)", want, keys)
		}
	}
	if _, err := est.Single(); err == nil || !strings.Contains(err.Error(), "3 clusters (east, west, edge)") {
		t.Errorf("Single on 3 clusters: %v", err)
	}
}

func TestEstateSelect(t *testing.T) {
	est := mustEstate(t, estate)
	got, err := est.Select([]string{"e*"})
	if err != nil || len(got) != 2 || got[0].ClusterName() != "east" || got[1].ClusterName() != "edge" {
		t.Fatalf("Select(e*) = %v, %v", got, err)
	}
	if _, err := est.Select([]string{"north"}); err == nil || !strings.Contains(err.Error(), `--cluster "north" matches no cluster in est.toml (clusters: east, west, edge)`) {
		t.Errorf("Select(north): %v", err)
	}
	nodes, err := SelectNodes(est.Clusters, []string{"e2", "x*"})
	if err != nil || len(nodes) != 2 || nodes[est.Clusters[0]][0].Name != "e2" || nodes[est.Clusters[2]][0].Name != "x1" {
		t.Errorf("SelectNodes: %v %v", nodes, err)
	}
	if _, err := SelectNodes(est.Clusters, []string{"zz"}); err == nil || !strings.Contains(err.Error(), "matches no node") {
		t.Errorf("SelectNodes(zz): %v", err)
	}
}

// TestSingleClusterFileIsAnEstateOfOne: today's file means what it meant.
func TestSingleClusterFileIsAnEstateOfOne(t *testing.T) {
	est := mustEstate(t, base)
	if est.Multi || len(est.Clusters) != 1 {
		t.Fatalf("multi %v, %d clusters", est.Multi, len(est.Clusters))
	}
	inv := mustParse(t, base)
	if inv.HasGateway() || inv.IsLeaf() || inv.LeafListens() || len(inv.GatewayRemotes()) != 0 {
		t.Errorf("a single cluster got supercluster parts")
	}
}

func TestEstateErrors(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		at      string // the text of the line the problem points at
		cluster string
		want    string // in the problem's text
		fix     string
	}{
		{"duplicate server name across clusters", strings.Replace(estate, `name = "w2"`, `name = "e1"`, 1), `name = "e1"`, "west",
			"node e1: name: server name also used in cluster east (line 41): server names must be unique across a supercluster", "rename one of the nodes"},
		{"duplicate cluster name", strings.Replace(estate, `name = "west"`, `name = "east"`, 1), `name = "east"`, "east",
			"duplicate cluster name (first defined at line 33)", "cluster names must be unique"},
		{"cluster without a name", strings.Replace(estate, "name = \"west\"\n", "", 1), "[[clusters]]", "",
			"cluster has no name", "give every [[clusters]] entry a unique name"},
		{"node list outside the clusters", estate + "\n[[node]]\nname = \"z\"\nhost = \"h\"\n", "[[node]]", "",
			"a file with [[clusters]] lists each cluster's nodes under it", "[[clusters.node]]"},
		{"leaf remote to an unknown hub", strings.Replace(estate, `hub = "east"`, `hub = "north"`, 1), `hub = "north"`, "edge",
			`hub "north" is not a cluster of this inventory (clusters: east, west, edge)`, "name one of the [[clusters]]"},
		{"leaf remote to a hub that does not listen", strings.Replace(estate, `hub = "east"`, `hub = "west"`, 1), `hub = "west"`, "edge",
			`hub "west" does not accept leaf nodes`, "add [clusters.leafnodes] with port and users to cluster west"},
		{"leaf remote bound to an account that does not exist", strings.Replace(estate, "account = \"APP\"\nuser = \"leaf\"", "account = \"NOPE\"\nuser = \"leaf\"", 1), `account = "NOPE"`, "edge",
			`account "NOPE" does not exist (accounts: APP, SHOP, SYS)`, "name an account under [accounts]"},
		{"hub leaf user bound to an account that does not exist", strings.Replace(estate, "account = \"APP\"\n[[clusters.node]]\nname = \"e1\"", "account = \"GONE\"\n[[clusters.node]]\nname = \"e1\"", 1), `account = "GONE"`, "east",
			`account "GONE" does not exist`, "name an account under [accounts]"},
		{"leaf remote with a user the hub does not know", strings.Replace(estate, "user = \"leaf\"\npassword = \"env:LEAF\"\n[[clusters.node]]\nname = \"x1\"", "user = \"other\"\npassword = \"env:LEAF\"\n[[clusters.node]]\nname = \"x1\"", 1), `user = "other"`, "edge",
			`hub east has no leaf node user "other"`, "[[clusters.leafnodes.users]]"},
		{"leaf remote with a user and no password", strings.Replace(estate, "user = \"leaf\"\npassword = \"env:LEAF\"\n[[clusters.node]]\nname = \"x1\"", "user = \"leaf\"\n[[clusters.node]]\nname = \"x1\"", 1), `user = "leaf"`, "edge",
			"a leaf remote needs both user and password", `credentials = "/path/on/node.creds"`},
		{"import of an export that does not exist", strings.Replace(estate, `stream = "events.orders"`, `stream = "billing.>"`, 1), `stream = "billing.>"`, "",
			`account APP exports no stream covering "billing.>"`, `add [[accounts.APP.exports]] stream = "billing.>"`},
		{"import wider than the export", strings.Replace(estate, `stream = "events.orders"`, `stream = ">"`, 1), `stream = ">"`, "",
			`account APP exports no stream covering ">"`, ""},
		{"import from an account that does not exist", strings.Replace(estate, "account = \"APP\"\n\n[accounts.SYS]", "account = \"BILLING\"\n\n[accounts.SYS]", 1), `account = "BILLING"`, "",
			`account "BILLING" does not exist (accounts: APP, SHOP, SYS)`, "name an account under [accounts]"},
		{"a user in two accounts", strings.Replace(estate, `user = "shop"`, `user = "app"`, 1), `user = "app"`, "",
			`user "app" is also a user of account APP: nats-server refuses a user in two accounts`, "give each account its own users"},
		{"system account that does not exist", strings.Replace(estate, `system_account = "SYS"`, `system_account = "SYSTEM"`, 1), `system_account = "SYSTEM"`, "east",
			`system_account "SYSTEM" is not an account (accounts: APP, SHOP, SYS)`, "name one of [accounts]"},
		{"system account used by clients", strings.Replace(estate, `system_account = "SYS"`, "system_account = \"SYS\"\nno_auth_user = \"admin\"", 1), `no_auth_user = "admin"`, "east",
			`no_auth_user "admin" is in the system account SYS: every client without credentials would be a system user`, "make it a user of an application account"},
		{"system account overridden by one cluster", strings.Replace(estate, "name = \"west\"\n", "name = \"west\"\n[clusters.server.auth]\nsystem_account = \"APP\"\n", 1), `system_account = "APP"`, "west",
			"system_account is estate-wide", "set it once, in the estate's [server.auth]"},
		{"gateway credentials that differ", strings.Replace(estate, "name = \"west\"\n", "name = \"west\"\n[clusters.gateway]\nuser = \"gw2\"\n", 1), `user = "gw2"`, "west",
			"gateway credentials differ from cluster east's", "set gateway.user and gateway.password once"},
		{"gateway password that is a bcrypt hash", strings.Replace(estate, `password = "env:GW"`, `password = '$2a$11$xEVXcYSbF5zs6k.tDD2eQuACso0dyS2bjqQbb31airMt/h8gNi0Sq'`, 1), "password = '$2a$11$", "east",
			"the gateway password cannot be a bcrypt hash", "env:NAME or file:PATH"},
		{"gateway port clashing with the client port", strings.Replace(estate, "port = 7333", "port = 4222", 1), "port = 4222", "west",
			"port 4222 is also used by server.port", "[node.gateway]"},
		{"leaf cluster with its own gateway", strings.Replace(estate, "name = \"edge\"\n", "name = \"edge\"\n[clusters.gateway]\nport = 7444\n", 1), "[clusters.gateway]", "edge",
			"a leaf cluster does not join the gateways", "remove [clusters.gateway] from the leaf cluster"},
		{"JetStream domain that nats-server refuses", strings.Replace(estate, "name = \"edge\"\n", "name = \"edge\"\n[clusters.jetstream]\ndomain = \"shop.12\"\n", 1), `domain = "shop.12"`, "edge",
			`JetStream domain "shop.12" must be letters, digits`, `"edge"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEstate("est.toml", []byte(tc.src))
			var ie *InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("accepted or not an InventoryError: %v", err)
			}
			for _, p := range ie.Problems {
				if strings.Contains(p.String(), tc.want) {
					lines := strings.Split(tc.src, "\n")
					if p.Line < 1 || p.Line > len(lines) || !strings.Contains(lines[p.Line-1], tc.at) {
						got := ""
						if p.Line >= 1 && p.Line <= len(lines) {
							got = lines[p.Line-1]
						}
						t.Errorf("points at line %d %q, want the line with %q: %s", p.Line, got, tc.at, p)
					}
					if p.Cluster != tc.cluster {
						t.Errorf("names cluster %q, want %q: %s", p.Cluster, tc.cluster, p)
					}
					if !strings.Contains(p.Fix, tc.fix) {
						t.Errorf("fix %q does not say %q", p.Fix, tc.fix)
					}
					if p.File != "est.toml" {
						t.Errorf("file %q", p.File)
					}
					return
				}
			}
			t.Fatalf("no problem says %q; got:\n%v", tc.want, err)
		})
	}
}

func TestSubjectCovers(t *testing.T) {
	for _, c := range []struct {
		pattern, sub string
		want         bool
	}{
		{"events.>", "events.orders", true},
		{"events.>", "events.orders.new", true},
		{"events.>", "events.*", true},
		{"events.>", "events.>", true},
		{"events.>", "events", false},
		{"events.*", "events.orders", true},
		{"events.*", "events.>", false},
		{"events.*", "events.a.b", false},
		{"events.orders", "events.orders", true},
		{"events.orders", "events.*", false},
		{"*.orders", "x.orders", true},
		{">", "anything.at.all", true},
	} {
		if got := SubjectCovers(c.pattern, c.sub); got != c.want {
			t.Errorf("SubjectCovers(%q, %q) = %v, want %v", c.pattern, c.sub, got, c.want)
		}
	}
}

// TestSuperclusterExample: the shipped example loads, every cluster.
func TestSuperclusterExample(t *testing.T) {
	data, err := os.ReadFile("../../inventory/supercluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	est := mustEstate(t, string(data))
	if !slices.Equal(est.Names(), []string{"east", "west", "edge"}) {
		t.Fatalf("clusters %v", est.Names())
	}
	n := 0
	for _, c := range est.Clusters {
		n += len(c.Nodes)
	}
	if n != 7 {
		t.Errorf("%d nodes, want 2 regions of 3 and one edge node", n)
	}
}
