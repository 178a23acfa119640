package health

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/monitor"
)

func snapshots(c *monitor.Client, servers []*server.Server) map[string]*monitor.Snapshot {
	m := map[string]*monitor.Snapshot{}
	for i, s := range servers {
		if s.Running() {
			m[fmt.Sprintf("n%d", i+1)] = c.Snapshot(context.Background(), "http://"+s.MonitorAddr().String())
		}
	}
	return m
}

// TestHealthAgainstRealServers: the monitoring client reads a real
// nats-server cluster, and the health model says ready once it is; a node
// shut down is reported unreachable and missing from its peers' routes.
func TestHealthAgainstRealServers(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	inv := testinv.MustParse(t, testinv.ThreeJS())
	c := &monitor.Client{}
	var snaps map[string]*monitor.Snapshot
	natstest.WaitFor(t, "cluster ready", func() (bool, string) {
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
	natstest.WaitFor(t, "n3 missing", func() (bool, string) {
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
