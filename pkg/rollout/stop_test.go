package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type sigErr struct{}

func (sigErr) Error() string { return "interrupted by SIGPIPE" }

// TestStopFinishesTheNode: a soft stop (the first SIGPIPE, SIGHUP,
// SIGINT or SIGTERM) that arrives while a node is being restarted does
// not cut it: the node is started, confirmed back and soaked, then the
// rollout stops before the next node, says why, keeps the state of the
// done node and releases the lock.
func TestStopFinishesTheNode(t *testing.T) {
	for _, at := range []string{StepStop, StepStart, StepReady} {
		t.Run(at, func(t *testing.T) {
			w := newWorld()
			w.leader = "n1"
			stop, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			cfg, events := setup(t, w, Options{})
			cfg.Stop = stop
			inner := cfg.Events
			cfg.Events = func(e Event) {
				inner(e)
				if e.Node == "n2" && e.Step == at && e.Result == ResultOK {
					cancel(sigErr{})
				}
			}
			rep, err := Run(context.Background(), cfg)
			var re *Error
			if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Node != "n3" {
				t.Fatalf("err %v, want interrupted before n3", err)
			}
			if !strings.Contains(err.Error(), "SIGPIPE") || !errors.Is(err, sigErr{}) {
				t.Errorf("error %q does not say the signal", err)
			}
			if strings.Join(rep.Done, ",") != "n2" || strings.Join(rep.NotDone, ",") != "n3,n1" {
				t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
			}
			var ready, steady bool
			for _, e := range *events {
				ready = ready || e.Node == "n2" && e.Step == StepReady && e.Result == ResultOK
				steady = steady || e.Node == "n2" && e.Step == StepSteady && e.Result == ResultOK
			}
			if !ready || !steady {
				t.Errorf("n2 not finished after the stop (ready %v, steady %v)", ready, steady)
			}
			if w.down() != 0 || w.maxDown != 1 {
				t.Errorf("down now %d, at most %d", w.down(), w.maxDown)
			}
			for _, n := range []string{"n1", "n3"} {
				if got := w.touched(n); len(got) > 0 {
					t.Errorf("%s touched: %v", n, got)
				}
				if _, ok := w.files[n][LockPath]; ok {
					t.Errorf("%s: lock kept", n)
				}
			}
			if st := w.files["n1"][StatePath]; !strings.Contains(st, `"n2"`) {
				t.Errorf("state %q does not record n2 done", st)
			}
		})
	}
}

// TestStopBeforeANodeTouchesNothing: a soft stop before the first node
// stops the rollout with no node touched.
func TestStopBeforeANodeTouchesNothing(t *testing.T) {
	w := newWorld()
	stop, cancel := context.WithCancelCause(context.Background())
	cancel(sigErr{})
	cfg, _ := setup(t, w, Options{})
	cfg.Stop = stop
	rep, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || len(rep.Done) != 0 {
		t.Fatalf("err %v done %v, want interrupted before any node", err, rep.Done)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if got := w.touched(n); len(got) > 0 {
			t.Errorf("%s touched: %v", n, got)
		}
	}
}

// TestLockOfADeadProcess: a lock taken on this machine by a pid that no
// longer runs, or that runs a process started at another time (a reused
// pid), is said to be held by a dead process, with the flag of the
// command that met it; a live holder (same pid, same start) is not; the
// lock natsops takes records its own pid's start.
func TestLockOfADeadProcess(t *testing.T) {
	procs := map[int]uint64{4242: 500, 77: 900}
	start := func(pid int) (uint64, bool) { s, ok := procs[pid]; return s, ok }
	for _, tc := range []struct {
		name, lock string
		dead       bool
	}{
		{"gone", `{"id":"old","owner":"me@here","pid":31337,"pid_start":12,"started":"2026-01-02T03:00:00Z"}`, true},
		{"pid reused", `{"id":"old","owner":"me@here","pid":4242,"pid_start":12,"started":"2026-01-02T03:00:00Z"}`, true},
		{"alive", `{"id":"old","owner":"me@here","pid":4242,"pid_start":500,"started":"2026-01-02T03:00:00Z"}`, false},
		{"other machine", `{"id":"old","owner":"me@elsewhere","pid":31337,"started":"2026-01-02T03:00:00Z"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.files["n3"][LockPath] = tc.lock
			cfg, _ := setup(t, w, Options{PID: 77, ProcessStart: start})
			cfg.Command = "deploy"
			_, err := Run(context.Background(), cfg)
			var held *LockHeldError
			if !errors.As(err, &held) {
				t.Fatalf("err %v, want a held lock", err)
			}
			msg := err.Error()
			if held.Dead != tc.dead || strings.Contains(msg, "no longer running") != tc.dead {
				t.Errorf("dead %v, want %v: %s", held.Dead, tc.dead, msg)
			}
			if !strings.Contains(msg, "rerun natsops deploy with --break-lock") {
				t.Errorf("message does not name deploy's --break-lock: %s", msg)
			}
			if tc.dead && !strings.Contains(msg, fmt.Sprintf("held by pid %d on this machine", held.Holder.PID)) {
				t.Errorf("message: %s", msg)
			}
		})
	}
	// Ours records the pid's start.
	w := newWorld()
	cfg, _ := setup(t, w, Options{PID: 77, ProcessStart: start})
	var seen string
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Step == StepLock {
			seen = w.files["n1"][LockPath]
		}
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(seen, `"pid":77,"pid_start":900`) {
		t.Errorf("lock %q does not record the pid's start", seen)
	}
}
