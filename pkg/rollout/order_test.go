package rollout

import (
	"strings"
	"testing"
	"time"
)

// TestDecideOrder: every rule of a rollout's order, and of what a
// resumed one skips, is a row.
func TestDecideOrder(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	set := func(ns ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range ns {
			m[n] = true
		}
		return m
	}
	done := func(op string, age time.Duration, ns ...string) *State {
		st := &State{ID: "old", Operation: op, Started: now.Add(-age), Done: map[string]time.Time{}}
		for _, n := range ns {
			st.Done[n] = now.Add(-age)
		}
		return st
	}
	all := []string{"n1", "n2", "n3"}
	for _, tc := range []struct {
		name string
		in   orderInput
		// order, todo and skipped as "a,b"; why the found state is not
		// resumed ("" when it is, or none was found).
		order, todo, skipped, why string
		resume                    bool
	}{
		{name: "followers first, the meta leader last", in: orderInput{Nodes: all, Stops: true, Leader: "n1"},
			order: "n2,n3,n1", todo: "n2,n3,n1"},
		{name: "no leader agreed on: inventory order", in: orderInput{Nodes: all, Stops: true},
			order: "n1,n2,n3", todo: "n1,n2,n3"},
		{name: "a node down first, the leader still last", in: orderInput{Nodes: all, Stops: true, Leader: "n2", Down: set("n3")},
			order: "n3,n1,n2", todo: "n3,n1,n2"},
		{name: "no node stops (reload, install): inventory order", in: orderInput{Nodes: all, Leader: "n1", Down: set("n3"), Removed: set("n2")},
			order: "n1,n2,n3", todo: "n1,n2,n3"},
		{name: "a removed node first, before the others drop their routes", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Removed: set("n3")},
			order: "n3,n2,n1", todo: "n3,n2,n1"},
		{name: "the removed leader still first", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Removed: set("n1")},
			order: "n1,n2,n3", todo: "n1,n2,n3"},
		{name: "joining nodes after every member", in: orderInput{Nodes: []string{"n1", "n4", "n2", "n3"}, Stops: true, Leader: "n1", Down: set("n4"), Joining: set("n4")},
			order: "n2,n3,n1,n4", todo: "n2,n3,n1,n4"},
		{name: "a leaving node already down is judged without, and goes after the members", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Down: set("n3"), Removed: set("n3"), Joining: set("n3")},
			order: "n2,n1,n3", todo: "n2,n1,n3"},
		{name: "resumed: the same operation within the hour skips what it did", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Operation: "restart graceful n1,n2,n3", Now: now,
			Found: done("restart graceful n1,n2,n3", time.Minute, "n2")},
			order: "n2,n3,n1", todo: "n3,n1", skipped: "n2", resume: true},
		{name: "not resumed: another operation", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Operation: "deploy abc", Now: now,
			Found: done("restart graceful n1,n2,n3", time.Minute, "n2")},
			order: "n2,n3,n1", todo: "n2,n3,n1", why: "it was another operation"},
		{name: "not resumed: older than ResumeWithin", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Operation: "op", Now: now,
			Found: done("op", ResumeWithin+time.Second, "n2")},
			order: "n2,n3,n1", todo: "n2,n3,n1", why: "it is older than 1h0m0s"},
		{name: "not resumed: --no-resume", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Operation: "op", Now: now, NoResume: true,
			Found: done("op", time.Minute, "n2")},
			order: "n2,n3,n1", todo: "n2,n3,n1", why: "--no-resume"},
		{name: "not resumed: it had done every node", in: orderInput{Nodes: all, Stops: true, Leader: "n1", Operation: "op", Now: now,
			Found: done("op", time.Minute, "n1", "n2", "n3")},
			order: "n2,n3,n1", todo: "n2,n3,n1", why: "it had done every node"},
		{name: "resumed without a stop: inventory order less what was done", in: orderInput{Nodes: all, Operation: "op", Now: now,
			Found: done("op", time.Minute, "n1")},
			order: "n1,n2,n3", todo: "n2,n3", skipped: "n1", resume: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOrder(tc.in)
			j := func(s []string) string { return strings.Join(s, ",") }
			if j(d.Order) != tc.order || j(d.Todo) != tc.todo || j(d.Skipped) != tc.skipped {
				t.Errorf("order %s todo %s skipped %s, want order %s todo %s skipped %s", j(d.Order), j(d.Todo), j(d.Skipped), tc.order, tc.todo, tc.skipped)
			}
			if d.Resume != tc.resume || d.NotResumed != tc.why {
				t.Errorf("resume %v (not: %q), want %v (not: %q)", d.Resume, d.NotResumed, tc.resume, tc.why)
			}
		})
	}
}

// TestReorder: after each node the rest keeps the meta leader (which may
// have moved) last and the joining nodes after the members.
func TestReorder(t *testing.T) {
	for _, tc := range []struct {
		rest    []string
		leader  string
		joining map[string]bool
		want    string
	}{
		{[]string{"n3", "n1"}, "n1", nil, "n3,n1"},
		{[]string{"n1", "n3"}, "n1", nil, "n3,n1"}, // the leader moved to n1
		{[]string{"n1", "n3"}, "", nil, "n1,n3"},   // no leader agreed on: as it was
		{[]string{"n1", "n3"}, "n9", nil, "n1,n3"}, // a leader not left to do
		{[]string{"n1", "n4", "n3"}, "n1", map[string]bool{"n4": true}, "n3,n1,n4"},
	} {
		rest := append([]string(nil), tc.rest...)
		if got := strings.Join(reorder(rest, tc.leader, tc.joining), ","); got != tc.want {
			t.Errorf("reorder(%v, %q, %v) = %s, want %s", tc.rest, tc.leader, tc.joining, got, tc.want)
		}
		if strings.Join(rest, ",") != strings.Join(tc.rest, ",") {
			t.Errorf("reorder changed its input: %v", rest)
		}
	}
}
