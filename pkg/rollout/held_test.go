package rollout

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// snoopHost records the state file as it is when a node's stop begins.
type snoopHost struct {
	*fakeHost
	atStop map[string]string
}

func (h *snoopHost) Run(ctx context.Context, cmd string, opts remote.RunOptions) (*remote.Result, error) {
	if strings.Contains(cmd, "natsops:begin") {
		h.w.mu.Lock()
		h.atStop[h.name] = h.w.files[h.name][StatePath]
		h.w.mu.Unlock()
	}
	return h.fakeHost.Run(ctx, cmd, opts)
}

// TestStateNamesTheNodeWorkedOn: while a node is stopped and started,
// the state on every node names it (check reads it to report that node
// in maintenance); ReadHeld finds the lock and that node.
func TestStateNamesTheNodeWorkedOn(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, _ := setup(t, w, Options{})
	atStop := map[string]string{}
	cfg.Connect = func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		return &snoopHost{fakeHost: &fakeHost{w: w, name: n.Name}, atStop: atStop}, nil
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		var st State
		if err := json.Unmarshal([]byte(atStop[n]), &st); err != nil {
			t.Fatalf("%s: no state when its stop began: %q", n, atStop[n])
		}
		if st.Current != n || st.CurrentSince.IsZero() {
			t.Errorf("%s stopping: state names %q since %v", n, st.Current, st.CurrentSince)
		}
	}
}

// TestReadHeld: a held lock is read with its state (holder, node worked
// on); no lock is nil; an old or foreign lock is stale.
func TestReadHeld(t *testing.T) {
	w := newWorld()
	inv, err := cluster.Parse("inv.toml", []byte(testInventory))
	if err != nil {
		t.Fatal(err)
	}
	connect := func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		return &readHost{files: w.files[n.Name]}, nil
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []string{"n1", "n2", "n3"} {
		w.files[n] = map[string]string{}
	}
	if h := ReadHeld(context.Background(), inv.Nodes, connect, now); h != nil {
		t.Fatalf("no lock: %+v", h)
	}
	w.files["n2"][LockPath] = `{"id":"r1","owner":"ops@bastion","pid":42,"started":"2026-01-02T03:00:00Z"}`
	w.files["n2"][StatePath] = `{"id":"r1","operation":"restart","owner":"ops@bastion","done":{"n1":"2026-01-02T03:01:00Z"},"current":"n3","current_since":"2026-01-02T03:02:00Z"}`
	h := ReadHeld(context.Background(), inv.Nodes, connect, now)
	if h == nil || h.From != "n2" || h.Lock.Owner != "ops@bastion" || h.Lock.PID != 42 || h.Stale || h.State == nil || h.State.Current != "n3" || h.State.Operation != "restart" {
		t.Fatalf("held %+v state %+v", h, h.State)
	}
	if h := ReadHeld(context.Background(), inv.Nodes, connect, now.Add(2*time.Hour)); h == nil || !h.Stale {
		t.Errorf("a lock two hours old is not stale: %+v", h)
	}
	w.files["n2"][LockPath] = "garbage"
	if h := ReadHeld(context.Background(), inv.Nodes, connect, now); h == nil || !h.Stale || h.Raw != "garbage" {
		t.Errorf("a foreign lock: %+v", h)
	}
}

// readHost answers readHeldScript from files.
type readHost struct{ files map[string]string }

func (h *readHost) Name() string { return "r" }
func (h *readHost) Close() error { return nil }
func (h *readHost) Run(ctx context.Context, cmd string, opts remote.RunOptions) (*remote.Result, error) {
	out := h.files[LockPath] + "\nnatsops:state\n" + h.files[StatePath]
	if !strings.Contains(cmd, "natsops:state") {
		return &remote.Result{ExitCode: 99}, nil
	}
	return &remote.Result{Stdout: []byte(out)}, nil
}
