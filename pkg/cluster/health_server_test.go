package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/pkg/monitor"
)

// startCluster runs a real 3-node JetStream cluster in-process on loopback.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	var routes []*url.URL
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])})
	}
	var servers []*server.Server
	for i := range ports {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			HTTPHost: "127.0.0.1", HTTPPort: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
			NoLog:   true, NoSigs: true,
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	for i, s := range servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatalf("n%d did not start", i+1)
		}
	}
	return servers
}

func snapshots(c *monitor.Client, servers []*server.Server) map[string]*monitor.Snapshot {
	m := map[string]*monitor.Snapshot{}
	for i, s := range servers {
		if s.Running() {
			m[fmt.Sprintf("n%d", i+1)] = c.Snapshot(context.Background(), "http://"+s.MonitorAddr().String())
		}
	}
	return m
}

// waitFor polls until cond holds (bounded).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still not after 20s: %s", what, last)
}

// TestHealthAgainstRealServers: the monitoring client reads a real
// nats-server cluster, and the health model says ready once it is; a node
// shut down is reported unreachable and missing from its peers' routes.
func TestHealthAgainstRealServers(t *testing.T) {
	servers := startCluster(t)
	inv := mustParse(t, strings.NewReplacer(`name = "a"`, `name = "n1"`, `name = "b"`, `name = "n2"`, `name = "c"`, `name = "n3"`).Replace(base)+"\n[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats\"\n")
	c := &monitor.Client{}
	var snaps map[string]*monitor.Snapshot
	waitFor(t, "cluster ready", func() (bool, string) {
		snaps = snapshots(c, servers)
		rs := ClusterReady(inv, snaps)
		return len(rs) == 0, fmt.Sprint(rs)
	})
	n1 := snaps["n1"]
	if n1.Varz.ServerName != "n1" || n1.Varz.Start.IsZero() || n1.Varz.MaxConnections != server.DEFAULT_MAX_CONNECTIONS {
		t.Errorf("varz: %+v", n1.Varz)
	}
	if got := len(n1.Routez.Peers()); got != 2 {
		t.Errorf("n1 sees %d peers, want 2 (num_routes %d)", got, n1.Routez.NumRoutes)
	}
	t.Logf("n1: %d route connections to 2 peers (pooled)", n1.Routez.NumRoutes)
	if MetaLeader(snaps) == "" {
		t.Error("no meta leader agreed")
	}

	servers[2].Shutdown()
	waitFor(t, "n3 missing", func() (bool, string) {
		rs := ClusterReady(inv, snapshots(c, servers))
		got := codes(rs)
		return strings.Contains(got, "n3:unreachable") && strings.Contains(got, "n1:routes") && strings.Contains(got, "n2:routes"), got
	})
	// An address nothing listens on is unreachable, with the cause.
	s := c.Snapshot(context.Background(), "http://127.0.0.1:1")
	rs := NodeReady("n9", s, Expect{})
	if len(rs) != 1 || rs[0].Code != ReasonUnreachable || !strings.Contains(rs[0].Msg, "connection refused") {
		t.Errorf("unreachable: %v", rs)
	}
}
