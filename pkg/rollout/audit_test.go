package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
)

func TestOutcome(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"none", nil, audit.OK},
		{"ctrl-c mid node", fmt.Errorf("stop n1: %w", context.Canceled), audit.Interrupted},
		{"ctrl-c between nodes", &Error{Kind: KindInterrupted}, audit.Interrupted},
		{"lock held", &Error{Kind: KindLock, Err: errors.New("held")}, audit.Refused},
		{"preflight", &Error{Kind: KindPreflight}, audit.Refused},
		{"files changed", &Error{Kind: KindCheck, Err: errors.New("changed")}, audit.Refused},
		{"jetstream check up front", &Error{Kind: KindJetStream, Node: "n1", Upfront: true}, audit.Refused},
		{"jetstream check before a later node", &Error{Kind: KindJetStream, Node: "n2"}, audit.Failed},
		{"node failed", &Error{Kind: KindNode, Node: "n1", Err: errors.New("x")}, audit.Failed},
		{"other", errors.New("ssh"), audit.Failed},
	} {
		if got := AuditOutcome(tt.err); got != tt.want {
			t.Errorf("%s: Outcome = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestResult is FromRollout's test: the report's order and nodes, the
// node a node failure names, none for a refusal.
func TestResult(t *testing.T) {
	res := AuditResult(&Report{Order: []string{"a", "b"}, Done: []string{"a"}, NotDone: []string{"b"}}, &Error{Kind: KindNode, Node: "b", Err: errors.New("x")})
	if res.FailedNode != "b" || !slices.Equal(res.Done, []string{"a"}) || !slices.Equal(res.Order, []string{"a", "b"}) || res.Outcome != audit.Failed {
		t.Fatalf("%+v", res)
	}
	res = AuditResult(nil, &Error{Kind: KindLock, Err: errors.New("held")})
	if res.FailedNode != "" {
		t.Fatalf("a lock refusal blames %s", res.FailedNode)
	}
	if res.Outcome != audit.Refused {
		t.Errorf("a lock refusal's outcome %s", res.Outcome)
	}
}

func TestRestartPlan(t *testing.T) {
	if got := AuditRestartPlan([]string{"a"}, "fast"); len(got) != 1 || got[0].Change != "restart" || got[0].Items[0] != "mode fast" {
		t.Errorf("RestartPlan = %+v", got)
	}
}

// TestStep: an event is recorded with every field it has.
func TestStep(t *testing.T) {
	e := Event{Node: "n1", Step: "stop", Result: ResultFailed, ElapsedMS: 120, Detail: "timed out"}
	want := audit.Step{Node: "n1", Step: "stop", Result: audit.StepFailed, ElapsedMS: 120, Detail: "timed out"}
	if got := AuditStep(e); got != want {
		t.Errorf("Step = %+v, want %+v", got, want)
	}
}
