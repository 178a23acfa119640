//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/rollout"
)

func serverIDsOf(snaps map[string]*monitor.Snapshot) map[string]string {
	out := map[string]string{}
	for n, s := range snaps {
		if s.Varz != nil {
			out[n] = s.Varz.ServerID
		}
	}
	return out
}

// TestRestartCanary: `natsops restart --stop-after 1 --yes` restarts
// exactly one node (a follower: a new server_id on it alone), says it
// stopped as asked and exits 0, releases the lock and keeps the resume
// state on every node; a plain `natsops restart --yes` then resumes,
// restarts the other two and not the canary again, and leaves nothing
// behind.
func TestRestartCanary(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	before := waitHealthy(c, t, inv)
	leader := health.MetaLeader(before)
	ids0 := serverIDsOf(before)

	out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--stop-after", "1", "--yes")
	if code != 0 {
		t.Fatalf("restart --stop-after 1: exit %d, want 0\n%s%s", code, out, stderr)
	}
	mid := waitHealthy(c, t, inv)
	ids1 := serverIDsOf(mid)
	var canary []string
	for n, id := range ids0 {
		if ids1[n] != id {
			canary = append(canary, n)
		}
	}
	if len(canary) != 1 || canary[0] == leader {
		t.Fatalf("restarted %v (server_id changed), want exactly one follower (meta leader %s)", canary, leader)
	}
	if want := "stopped after 1 node as asked (--stop-after 1): "; !strings.Contains(out, want) || !strings.Contains(out, "not restarted yet; rerun natsops restart to continue") {
		t.Errorf("output lacks %q ... rerun natsops restart to continue:\n%s", want, out)
	}
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "test -e "+rollout.LockPath+" && echo locked || echo free"); got != "free" {
			t.Errorf("%s: lock left after the canary", n.Name)
		}
		st := nodeOut(c, t, n.Name, "cat "+rollout.StatePath+" 2>/dev/null || true")
		var s rollout.State
		if err := json.Unmarshal([]byte(st), &s); err != nil {
			t.Errorf("%s: no resume state kept after the canary: %q", n.Name, st)
			continue
		}
		if _, ok := s.Done[canary[0]]; !ok || len(s.Done) != 1 {
			t.Errorf("%s: state done %v, want only %s", n.Name, s.Done, canary[0])
		}
	}

	out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "resuming rollout") || !strings.Contains(out, "(skipped, already restarted: "+canary[0]+")") {
		t.Errorf("rerun does not report the resume skipping %s:\n%s", canary[0], out)
	}
	ids2 := serverIDsOf(waitHealthy(c, t, inv))
	for n, id := range ids0 {
		switch {
		case n == canary[0] && ids2[n] != ids1[n]:
			t.Errorf("%s: restarted again by the rerun", n)
		case n != canary[0] && ids2[n] == id:
			t.Errorf("%s: not restarted by the rerun", n)
		}
	}
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "ls "+rollout.StateDir+" 2>/dev/null | tr '\\n' ' '; echo"); got != "" {
			t.Errorf("%s: lock or state left after the rerun finished: %s", n.Name, got)
		}
	}
	// The audit trail: both runs, on this machine and on the canary's
	// own host, newest last; the rerun resumed the canary's rollout, so
	// both carry its id.
	out, stderr, code = natsops(c, t, "-i", invPath, "history", "--limit", "2", "-o", "json")
	local := records(t, out)
	if code != 0 || len(local) != 2 || local[0].Command != "restart" || local[0].Outcome != "ok" || len(local[0].Nodes) != len(inv.Nodes) || local[1].Outcome != "ok" || local[0].Run != local[1].Run {
		t.Errorf("history --limit 2 -o json: exit %d, want the two restarts, ok, with one rollout id (the rerun resumed it)\n%s%s", code, out, stderr)
	}
	out, stderr, code = natsops(c, t, "-i", invPath, "history", "--node", canary[0], "--limit", "2", "-o", "json")
	onNode := records(t, out)
	if code != 0 || len(onNode) != 2 || onNode[0].Node != canary[0] || onNode[0].NodeOutcome != audit.NodeDone || onNode[1].NodeOutcome != audit.NodeSkipped || onNode[0].Run != local[0].Run {
		t.Errorf("history --node %s: exit %d, want the canary restarted, then skipped by the rerun\n%s%s", canary[0], code, out, stderr)
	}
	out, _, code = natsops(c, t, "-i", invPath, "history", "--limit", "2")
	if code != 0 || strings.Count(out, " restart ") != 2 || !strings.Contains(out, local[1].Run) {
		t.Errorf("history: exit %d, want a table of the two restarts\n%s", code, out)
	}
}

// records parses history -o json: one document, its records.
func records(t *testing.T, out string) []audit.Record {
	t.Helper()
	var doc struct {
		OK      bool           `json:"ok"`
		Records []audit.Record `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || !doc.OK {
		t.Fatalf("history -o json: %v\n%s", err, out)
	}
	return doc.Records
}

// TestRestartStaysReadyUnderTraffic: with a client publishing to an R3
// stream, rolling restarts (fast and graceful) with a long --healthy-for
// window: every node, once natsops found it back, stays ready for the
// whole window on every reading (no new process, no route or meta leader
// lost after the gate; a stream replica a few entries behind under the
// traffic is counted, not a flap, and is current again by the window's
// end): a long soak under traffic does not flap on healthy nodes (the
// default's length is chosen in docs/rollouts.md, bench/crash-after-start.sh).
// Each steady event's reading count, and how many saw a replica behind,
// is logged.
func TestRestartStaysReadyUnderTraffic(t *testing.T) {
	needCluster(t)
	c := ctx(t, 8*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	waitHealthy(c, t, inv)
	_, check := startTraffic(c, t, inv)
	defer check()
	time.Sleep(time.Second)
	for i, mode := range []string{"fast", "graceful", "fast"} {
		out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes", "--mode", mode, "--healthy-for", "5s", "--no-resume", "-o", "json")
		evs := parseEvents(t, out)
		steady := 0
		for _, e := range evs {
			if e.Step == rollout.StepSteady {
				t.Logf("run %d (%s): %s steady %s after %dms: %s", i+1, mode, e.Node, e.Result, e.ElapsedMS, e.Detail)
				if e.Result == rollout.ResultOK {
					steady++
				}
			}
		}
		if code != 0 || steady != len(inv.Nodes) {
			t.Fatalf("run %d (%s): exit %d, %d nodes steady for 5s, want 0 and every node\n%s", i+1, mode, code, steady, stderr)
		}
		waitHealthy(c, t, inv)
	}
}
