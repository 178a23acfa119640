package rolloutcmd

import (
	"errors"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/rollout"
)

// TestSummaryNamesTheFailedNode: a restart that stops at a node that is
// never ready names that node as failed and the nodes it did not reach,
// never "done: none; not done: none".
func TestSummaryNamesTheFailedNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  *rollout.Report
		err  error
		want string
	}{
		{"one node never ready", &rollout.Report{}, &rollout.Error{Kind: rollout.KindNode, Node: "n2", Step: "ready", Err: errors.New("not ready")},
			"done: none; failed: n2 (ready); not reached: none"},
		{"the second of three", &rollout.Report{Done: []string{"n1"}, NotDone: []string{"n3"}}, &rollout.Error{Kind: rollout.KindNode, Node: "n2", Step: "start", Err: errors.New("x")},
			"done: n1; failed: n2 (start); not reached: n3"},
		{"interrupted before a node", &rollout.Report{Done: []string{"n1"}, NotDone: []string{"n2", "n3"}}, &rollout.Error{Kind: rollout.KindInterrupted, Node: "n2", Err: errors.New("x")},
			"done: n1; not reached: n2, n3"},
		{"refused before any node", &rollout.Report{NotDone: []string{"n1", "n2"}}, errors.New("unhealthy"),
			"done: none; not reached: n1, n2"},
	} {
		if got := Summary(tc.rep, tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := NewResult(testInv(t), &rollout.Report{}, &rollout.Error{Kind: rollout.KindNode, Node: "n2", Err: errors.New("x")}); got.Failed != "n2" {
		t.Errorf("json result failed %q, want n2", got.Failed)
	}
}

func testInv(t *testing.T) *cluster.Inventory {
	t.Helper()
	inv, err := cluster.Parse("inv.toml", []byte("[cluster]\nname = \"c\"\n\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
