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
