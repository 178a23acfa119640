package rollout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/fleet"
)

// TestOperateLockGateRelease: an operation runs under the rollout lock
// on every node (held while it runs, released after), after the gate;
// an unhealthy cluster is refused before it runs; a held lock stops it
// before the gate; a dead node named Dead is judged absent.
func TestOperateLockGateRelease(t *testing.T) {
	w := newWorld()
	cfg, events := setup(t, w, Options{}, "n2")
	cfg.Command = "evacuate"
	ran := 0
	op := func(ctx context.Context, snaps fleet.Snapshots, event func(Event)) error {
		ran++
		for _, n := range []string{"n1", "n2", "n3"} {
			if w.files[n][LockPath] == "" {
				t.Errorf("%s: no lock while the operation runs", n)
			}
		}
		if snaps["n1"] == nil {
			t.Error("the operation got no reading")
		}
		return nil
	}
	rep, err := Operate(context.Background(), cfg, GateHealthy, op)
	if err != nil || ran != 1 || fmt.Sprint(rep.Done) != "[n2]" {
		t.Fatalf("healthy: %v, ran %d, done %v", err, ran, rep.Done)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, ok := w.files[n][LockPath]; ok {
			t.Errorf("%s: lock kept after the operation", n)
		}
		if len(w.touched(n)) > 0 {
			t.Errorf("%s: a node was stopped by an operation", n)
		}
	}
	if last := (*events)[len(*events)-1]; last.Step != StepUnlock {
		t.Errorf("last event %+v, want the unlock", last)
	}
	// The operation's error is returned as is, the lock released.
	boom := errors.New("boom")
	if _, err := Operate(context.Background(), cfg, GateHealthy, func(context.Context, fleet.Snapshots, func(Event)) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("failing op: %v", err)
	}
	if _, ok := w.files["n1"][LockPath]; ok {
		t.Error("lock kept after a failed operation")
	}
	// A node down: refused by the gate, the operation not run.
	w.running["n3"] = false
	ran = 0
	_, err = Operate(context.Background(), cfg, GateHealthy, op)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight || ran != 0 {
		t.Errorf("n3 down: %v, ran %d; want the preflight refusal", err, ran)
	}
	// ... unless it is the dead node being replaced.
	cfg.Dead = []string{"n3"}
	if _, err := Operate(context.Background(), cfg, GateHealthy, op); err != nil || ran != 1 {
		t.Errorf("n3 dead and named: %v, ran %d", err, ran)
	}
	// GateNone leaves the judgement to the operation.
	cfg.Dead = nil
	if _, err := Operate(context.Background(), cfg, GateNone, op); err != nil || ran != 2 {
		t.Errorf("ungated: %v, ran %d", err, ran)
	}
	// A held lock: refused before the gate.
	w.running["n3"] = true
	w.files["n2"][LockPath] = fmt.Sprintf(`{"id":"abc","owner":"bob@ops1","pid":77,"started":%q}`, w.now.Add(-time.Minute).Format(time.RFC3339))
	var held *LockHeldError
	if _, err := Operate(context.Background(), cfg, GateHealthy, op); !errors.As(err, &held) || ran != 2 {
		t.Errorf("lock held: %v, ran %d", err, ran)
	}
}
