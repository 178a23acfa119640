package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// inventoryOf returns an inventory of n nodes shaped like the example:
// users with permissions, JetStream, websocket, cluster routes to every
// peer (so config size grows with n).
func inventoryOf(n int) []byte {
	var b strings.Builder
	b.WriteString(`[cluster]
name = "bench"
user = "route"
password = "env:ROUTE_PW"
[server]
max_connections = 100000
max_payload = "64KB"
write_deadline = "3s"
[server.log]
file = "/var/log/nats/nats.log"
size_limit = "100MB"
[[server.auth.users]]
user = "app"
password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'
permissions.publish.allow = ["app.>"]
permissions.subscribe.allow = ["app.>", "_INBOX.>"]
[server.websocket]
port = 8080
no_tls = true
[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"
`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[[node]]\nname = \"nats-%03d\"\nhost = \"10.0.%d.%d\"\n", i, i/250, i%250+1)
	}
	return []byte(b.String())
}

// BenchmarkBuild200: load, render, validate (parser + NewServer) and lint
// a 200-node inventory. Target: well under 1s per op on 2 cores.
func BenchmarkBuild200(b *testing.B) {
	data := inventoryOf(200)
	env := cluster.MapEnv(map[string]string{"ROUTE_PW": "route-password-0123456789"})
	ts, err := LoadTemplates(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		inv, err := cluster.Parse("bench.toml", data)
		if err != nil {
			b.Fatal(err)
		}
		res := Build(inv, ts, inv.Nodes, env)
		if !res.OK(SevError) || len(res.Configs) != 200 {
			b.Fatalf("build failed:\n%s", findingsText(res.Findings))
		}
	}
}

// BenchmarkLoad200 is the inventory parse and check alone.
func BenchmarkLoad200(b *testing.B) {
	data := inventoryOf(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cluster.Parse("bench.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// estateOf is an estate of clusters × per nodes: the hubs joined by
// gateways (every node's config lists every other cluster's nodes),
// accounts, routes within each cluster.
func estateOf(clusters, per int) []byte {
	var b strings.Builder
	b.WriteString(`[cluster]
user = "route"
password = "env:ROUTE_PW"
[gateway]
user = "gateway"
password = "env:GW_PW"
[gateway.tls]
cert_file = "/etc/nats/gw.pem"
key_file = "/etc/nats/gw-key.pem"
[server]
max_connections = 100000
write_deadline = "3s"
[server.auth]
system_account = "SYS"
[accounts.SYS]
users = [{user = "sys", password = "env:SYS_PW"}]
[accounts.APP]
users = [{user = "app", password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'}]
exports = [{stream = "app.events.>"}]
[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"
`)
	for c := 0; c < clusters; c++ {
		fmt.Fprintf(&b, "[[clusters]]\nname = \"region-%d\"\n", c)
		for i := 0; i < per; i++ {
			fmt.Fprintf(&b, "[[clusters.node]]\nname = \"r%d-nats-%03d\"\nhost = \"10.%d.%d.%d\"\n", c, i, c, i/250, i%250+1)
		}
	}
	return []byte(b.String())
}

// BenchmarkBuildEstate201: load, render, validate (parser + NewServer)
// and lint an estate of 3 clusters × 67 nodes joined by gateways.
// Target (issue 15): under 1s per op on 2 cores.
func BenchmarkBuildEstate201(b *testing.B) {
	data := estateOf(3, 67)
	env := cluster.MapEnv(map[string]string{"ROUTE_PW": "route-password-0123456789", "GW_PW": "gateway-password-0123", "SYS_PW": "system-password-0123"})
	ts, err := LoadTemplates(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		est, err := cluster.ParseEstate("bench.toml", data)
		if err != nil {
			b.Fatal(err)
		}
		nodes := map[*cluster.Inventory][]*cluster.Node{}
		for _, c := range est.Clusters {
			nodes[c] = c.Nodes
		}
		res := BuildEstate(est, ts, nodes, env)
		if !res.OK(SevError) || len(res.Configs) != 201 {
			b.Fatalf("%d configs: %s", len(res.Configs), findingsText(res.Findings))
		}
	}
}
