//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// TestRestartJetStreamGate: the JetStream check before a node's stop,
// against the real cluster. An R1 stream on a node makes `natsops
// restart` refuse before any node is touched (exit 3, the stream named
// with r1-stream); --allow-unavailable restarts that node and says what
// was unavailable. With one node's routes cut (its :8222 and SSH still
// answer, so it is not "down", but the meta leader stops hearing it),
// restarting another node is refused even with --force (which only
// skips the cluster preflight): the lagging peer is named as not
// current, the node asked for is not touched.
func TestRestartJetStreamGate(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	before := waitHealthy(c, t, inv)

	nc, err := nats.Connect(clientURLs(inv), nats.Timeout(2*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_ = js.DeleteStream(c, "R1GATE")
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "R1GATE", Subjects: []string{"r1gate.>"}, Replicas: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), "R1GATE") })
	host := s.CachedInfo().Cluster.Leader
	if _, ok := before[host]; !ok {
		t.Fatalf("the R1 stream is on server %q, not an inventory node (%v)", host, names())
	}

	out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 3 || !strings.Contains(stderr, "/R1GATE is R1 and its only replica is on "+host) || !strings.Contains(stderr, "(r1-stream)") || !strings.Contains(stderr, "nothing was changed") || !strings.Contains(stderr, "--allow-unavailable") {
		t.Fatalf("restart with an R1 stream on %s: exit %d, want 3 naming R1GATE (r1-stream)\n%s\n%s", host, code, out, stderr)
	}
	now := waitHealthy(c, t, inv)
	for _, n := range inv.Nodes {
		if !now[n.Name].Varz.Start.Equal(before[n.Name].Varz.Start) {
			t.Errorf("%s restarted by the refused restart", n.Name)
		}
	}

	out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--node", host, "--allow-unavailable", "--yes")
	if code != 0 || !strings.Contains(out, "--allow-unavailable: stream ") || !strings.Contains(out, "/R1GATE is R1") {
		t.Fatalf("restart --node %s --allow-unavailable: exit %d, want 0 and the outage said\n%s\n%s", host, code, out, stderr)
	}
	after := waitHealthy(c, t, inv)
	for _, n := range inv.Nodes {
		if moved := after[n.Name].Varz.Start.After(now[n.Name].Varz.Start); moved != (n.Name == host) {
			t.Errorf("%s restarted: %v, want only %s", n.Name, moved, host)
		}
	}
	if err := js.DeleteStream(c, "R1GATE"); err != nil {
		t.Fatal(err)
	}

	// A peer falling behind: its routes cut (it still answers on :8222,
	// so it is not "down"), the JetStream check refuses to stop another
	// node, --force or not, naming the lagging peer.
	leader := ""
	for n, snap := range after {
		if snap.Jsz != nil && snap.Jsz.Meta != nil && snap.Jsz.Meta.Leader == n {
			leader = n
		}
	}
	var lagging, target string
	for _, n := range inv.Nodes {
		switch {
		case n.Name == leader:
		case lagging == "":
			lagging = n.Name
		case target == "":
			target = n.Name
		}
	}
	if lagging == "" || target == "" {
		t.Fatalf("want two followers of meta leader %q among %v", leader, names())
	}
	t.Cleanup(func() { tb.HealRoutes(context.Background(), lagging) })
	if err := tb.CutRoutes(c, lagging); err != nil {
		t.Fatal(err)
	}
	lag := waitNotCurrent(c, t, inv, lagging)
	t.Logf("meta leader's view of %s with its routes cut: %+v", lagging, lag)

	out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--node", target, "--force", "--yes")
	if code != 3 || !strings.Contains(stderr, "JetStream meta peer "+lagging+" is not current on the meta leader") || !strings.Contains(stderr, "(meta-peer-lagging)") || !strings.Contains(stderr, "the rollout stopped before "+target+"; it was not touched") {
		t.Fatalf("restart --node %s --force with %s's routes cut: exit %d, want 3 naming %s (meta-peer-lagging)\n%s\n%s", target, lagging, code, lagging, out, stderr)
	}
	if err := tb.HealRoutes(c, lagging); err != nil {
		t.Fatal(err)
	}
	end := waitHealthy(c, t, inv)
	if !end[target].Varz.Start.Equal(after[target].Varz.Start) {
		t.Errorf("%s was restarted although the check refused", target)
	}
}

// waitNotCurrent waits until a meta leader other than lagging reports
// lagging as not current (or offline) and returns that view of it.
func waitNotCurrent(c context.Context, t *testing.T, inv *cluster.Inventory, lagging string) monitor.MetaReplica {
	t.Helper()
	mc := &monitor.Client{}
	var got monitor.MetaReplica
	err := pollUntil(c, 90*time.Second, func() bool {
		for _, n := range inv.Nodes {
			if n.Name == lagging {
				continue
			}
			d, err := mc.Streams(c, nodeURL(n))
			if err != nil || d.Meta == nil || d.Meta.Leader != n.Name {
				continue
			}
			for _, r := range d.Meta.Replicas {
				if r.Name == lagging && (!r.Current || r.Offline) {
					got = r
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no meta leader reported lagging %s as not current: %v", lagging, err)
	}
	return got
}
