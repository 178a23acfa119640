package health

import (
	"strings"
	"testing"
	"time"
)

// TestMaintenanceExcusesTheRolloutsNode: while a live rollout works on
// n2, n2's critical problems, the others' missing route to n2 alone and
// their replicas catching up become warnings marked maintenance, and the
// rollout is a warning naming its holder, start and node; a problem the
// rollout does not explain (n3 missing a route to n1 as well) still
// pages, and a stale lock excuses nothing.
func TestMaintenanceExcusesTheRolloutsNode(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := Verdict{Nodes: 3, Problems: []Problem{
		{Critical, "n2", "not-running", "nats-server is not running"},
		{Critical, "n2", ReasonJSNotCurrent, "JetStream meta replica is not current"},
		{Critical, "n1", ReasonRoutes, "no route to n2 (routes to: n3)"},
		{Critical, "n1", ReasonHealthz, "/healthz: JetStream stream 'A > S' is not current"},
		{Critical, "n3", ReasonRoutes, "no route to n1, n2 (routes to: none)"},
		{Critical, "n3", ReasonHealthz, "/healthz: JetStream is not current with the meta leader"},
		{Warning, "n1", "slow-consumers", "3 slow consumers since start"},
	}}
	r := Rollout{ID: "r1", Holder: "ops@bastion", PID: 42, Since: since, Operation: "restart", Node: "n2", NodeSince: since.Add(time.Minute), Done: []string{"n1"}}
	got := Maintenance(v, []Rollout{r})
	for _, p := range got.Problems {
		if p.Severity == Warning && strings.HasPrefix(p.Message, "maintenance") && !strings.Contains(p.Message, "working on n2") {
			t.Errorf("maintenance note does not name the node: %q", p.Message)
		}
	}
	for _, p := range got.Problems {
		excusedWant := p.Node == "n2" || (p.Node == "n1" && (p.Code == ReasonRoutes || p.Code == ReasonHealthz))
		if excusedWant && (p.Severity != Warning || !strings.HasPrefix(p.Message, "maintenance (restart of rollout r1 is working on n2): ")) {
			t.Errorf("%s %s: %s %q, want a maintenance warning", p.Node, p.Code, p.Severity, p.Message)
		}
		if p.Node == "n3" && p.Severity != Critical {
			t.Errorf("n3 %s lowered to %s: the rollout does not explain it", p.Code, p.Severity)
		}
	}
	if got.Worst() != Critical {
		t.Errorf("worst %q: n3's problems still page", got.Worst())
	}
	var note *Problem
	for i, p := range got.Problems {
		if p.Code == CodeRollout {
			note = &got.Problems[i]
		}
	}
	if note == nil || note.Severity != Warning || note.Node != "cluster" {
		t.Fatalf("no rollout warning: %+v", got.Problems)
	}
	for _, w := range []string{"restart in progress by ops@bastion (pid 42) since 2026-01-02T03:04:05Z", "working on n2 since 2026-01-02T03:05:05Z", "done: n1"} {
		if !strings.Contains(note.Message, w) {
			t.Errorf("rollout note %q lacks %q", note.Message, w)
		}
	}
	if len(got.Rollouts) != 1 || got.Rollouts[0].Node != "n2" {
		t.Errorf("rollouts %+v", got.Rollouts)
	}

	// Only the rollout's node down: WARNING, not a page.
	only := Verdict{Problems: []Problem{{Critical, "n2", "not-running", "down"}, {Critical, "n1", ReasonRoutes, "no route to n2 (routes to: n3)"}}}
	if w := Maintenance(only, []Rollout{r}).Worst(); w != Warning {
		t.Errorf("a rollout's node down: worst %q, want warning", w)
	}
	// A stale lock: still critical, plus a warning about the lock.
	stale := r
	stale.Stale = true
	sv := Maintenance(only, []Rollout{stale})
	if sv.Worst() != Critical {
		t.Errorf("stale lock excused a page: %+v", sv.Problems)
	}
	found := false
	for _, p := range sv.Problems {
		found = found || (p.Code == CodeRolloutStale && strings.Contains(p.Message, "--break-lock"))
	}
	if !found {
		t.Errorf("no stale-lock warning naming --break-lock: %+v", sv.Problems)
	}
	// No rollout: the verdict as it was.
	if nv := Maintenance(only, nil); nv.Worst() != Critical || len(nv.Problems) != 2 {
		t.Errorf("no rollout changed the verdict: %+v", nv)
	}
}

// TestCheckGradesJetStreamUse: memory and storage against max_memory and
// max_storage, warning at WarnJSPct, critical at CritJSPct, the highest
// shares in the verdict; a node without JetStream limits is not graded.
func TestCheckGradesJetStreamUse(t *testing.T) {
	th := Thresholds{WarnConnPct: 80, CritConnPct: 95, WarnFDsPct: 80, CritFDsPct: 90, WarnSlow: 1, CritSlow: 100, WarnJSPct: 75, CritJSPct: 90}
	f := &Fleet{Nodes: []NodeStatus{
		{Node: "n1", Reachable: true, Version: "2.15.2", MaxConns: 100, JSMemory: 80, JSMaxMemory: 100, JSStore: 10, JSMaxStore: 100},
		{Node: "n2", Reachable: true, Version: "2.15.2", MaxConns: 100, JSMemory: 0, JSMaxMemory: 100, JSStore: 95, JSMaxStore: 100},
		{Node: "n3", Reachable: true, Version: "2.15.2", MaxConns: 100},
	}}
	v := Check(f, th)
	want := map[string]string{"n1/js-memory": Warning, "n2/js-storage": Critical}
	got := map[string]string{}
	for _, p := range v.Problems {
		if strings.HasPrefix(p.Code, "js-") {
			got[p.Node+"/"+p.Code] = p.Severity
			if !strings.Contains(p.Message, "jetstream.max_") {
				t.Errorf("%s: message names no inventory key: %q", p.Node, p.Message)
			}
		}
	}
	if len(got) != len(want) || got["n1/js-memory"] != Warning || got["n2/js-storage"] != Critical {
		t.Errorf("js problems %v, want %v", got, want)
	}
	if v.JSMemP != 80 || v.JSStoreP != 95 || v.JSRead != 2 {
		t.Errorf("js shares memory %.1f storage %.1f read %d; want 80, 95, 2", v.JSMemP, v.JSStoreP, v.JSRead)
	}
}
