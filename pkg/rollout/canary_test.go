package rollout

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/health"
)

// stateOn reports whether node keeps a resume state, and the lock.
func (w *world) stateOn(node string) (state, lock bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, state = w.files[node][StatePath]
	_, lock = w.files[node][LockPath]
	return state, lock
}

// --stop-after: the rollout stops after N nodes of this run, healthy, the
// lock released and the state kept; a rerun (with or without it)
// continues with the rest, and the last one removes the state.
func TestStopAfterKeepsStateAndRerunResumes(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, events := setup(t, w, Options{StopAfter: 1})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.steps, " "); got != "n2:stop n2:start" {
		t.Errorf("steps %s, want only n2 restarted", got)
	}
	if strings.Join(rep.Done, ",") != "n2" || strings.Join(rep.NotDone, ",") != "n3,n1" || rep.StoppedAfter != 1 {
		t.Errorf("done %v not done %v stopped after %d", rep.Done, rep.NotDone, rep.StoppedAfter)
	}
	if !hasEvent(*events, "", StepDone, ResultStopped) {
		t.Error("no stopped event")
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if state, lock := w.stateOn(n); !state || lock {
			t.Errorf("%s: state kept %v, lock kept %v; want the state kept and the lock released", n, state, lock)
		}
	}

	// A rerun with --stop-after 1 again does one more node.
	w.steps = nil
	cfg, _ = setup(t, w, Options{StopAfter: 1})
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Skipped, ",") != "n2" || strings.Join(rep.Done, ",") != "n3" || strings.Join(rep.NotDone, ",") != "n1" || rep.StoppedAfter != 1 {
		t.Errorf("second canary: skipped %v done %v not done %v stopped after %d", rep.Skipped, rep.Done, rep.NotDone, rep.StoppedAfter)
	}

	// A plain rerun finishes the rest and removes the state.
	w.steps = nil
	cfg, events = setup(t, w, Options{})
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Skipped, ",") != "n2,n3" || strings.Join(rep.Done, ",") != "n1" || rep.StoppedAfter != 0 || len(rep.NotDone) != 0 {
		t.Errorf("rerun: skipped %v done %v not done %v stopped after %d", rep.Skipped, rep.Done, rep.NotDone, rep.StoppedAfter)
	}
	if got := strings.Join(w.steps, " "); got != "n1:stop n1:start" {
		t.Errorf("rerun steps %s, want only n1", got)
	}
	if !hasEvent(*events, "", StepResume, ResultOK) {
		t.Error("the rerun did not say it resumed")
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if state, lock := w.stateOn(n); state || lock {
			t.Errorf("%s: state %v lock %v left after the rollout finished", n, state, lock)
		}
	}
}

// --stop-after at least the number of nodes left is a full rollout: no
// stop, the state removed.
func TestStopAfterCoveringEveryNodeFinishes(t *testing.T) {
	for _, n := range []int{3, 5} {
		w := newWorld()
		cfg, _ := setup(t, w, Options{StopAfter: n})
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Done) != 3 || rep.StoppedAfter != 0 || len(rep.NotDone) != 0 {
			t.Errorf("--stop-after %d: done %v not done %v stopped after %d", n, rep.Done, rep.NotDone, rep.StoppedAfter)
		}
		if state, _ := w.stateOn("n1"); state {
			t.Errorf("--stop-after %d: state left after every node was done", n)
		}
	}
}

// --pause: a soak between nodes, not after the last, told through
// Pausing every second; the next node is stopped only after it.
func TestPauseBetweenNodes(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, events := setup(t, w, Options{Pause: 2500 * time.Millisecond})
	var ticks []string
	cfg.Pausing = func(p PauseTick) {
		ticks = append(ticks, p.After+">"+p.Next+":"+p.Left.String())
		if p.Total != 2500*time.Millisecond {
			t.Errorf("tick total %s", p.Total)
		}
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want := "n2>n3:2.5s n2>n3:2s n2>n3:1s n2>n3:0s n3>n1:2.5s n3>n1:2s n3>n1:1s n3>n1:0s"
	if got := strings.Join(ticks, " "); got != want {
		t.Errorf("ticks %s\nwant  %s", got, want)
	}
	// Events in order: n2 steady, pause waiting, pause ok, n3 stop.
	var seq []string
	for _, e := range *events {
		if e.Step == StepPause || e.Step == StepSteady || (e.Step == StepStop && e.Result == ResultOK) {
			seq = append(seq, e.Node+"/"+e.Step+"/"+e.Result)
		}
	}
	wantSeq := "n2/stop/ok n2/steady/ok n2/pause/waiting n2/pause/ok n3/stop/ok n3/steady/ok n3/pause/waiting n3/pause/ok n1/stop/ok n1/steady/ok"
	if got := strings.Join(seq, " "); got != wantSeq {
		t.Errorf("events %s\nwant   %s", got, wantSeq)
	}
}

// Ctrl-C during a pause stops the rollout as interrupted: the next node
// untouched, the done one recorded, the lock released; a rerun resumes.
func TestPauseInterruptedKeepsState(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _ := setup(t, w, Options{Pause: time.Minute})
	cfg.Pausing = func(p PauseTick) {
		if p.Left < 50*time.Second {
			cancel()
		}
	}
	rep, err := Run(ctx, cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Step != StepPause || re.Node != "n3" {
		t.Fatalf("err %v, want interrupted during the pause before n3", err)
	}
	for _, want := range []string{"interrupted during the pause before n3", "rerun natsops restart to continue"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if strings.Join(rep.Done, ",") != "n2" || strings.Join(rep.NotDone, ",") != "n3,n1" {
		t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
	}
	if got := w.touched("n3"); len(got) > 0 {
		t.Errorf("n3 touched: %v", got)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if state, lock := w.stateOn(n); !state || lock {
			t.Errorf("%s: state kept %v, lock kept %v", n, state, lock)
		}
	}
	cfg, _ = setup(t, w, Options{})
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Skipped, ",") != "n2" || strings.Join(rep.Done, ",") != "n3,n1" {
		t.Errorf("rerun: skipped %v done %v", rep.Skipped, rep.Done)
	}
}

// --healthy-for: after a node is back every reading over the window must
// pass; one that fails (a flap) fails the node with the reason, restarts
// nothing more, and later nodes are not touched.
func TestHealthyFor(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conf       string
		healthyFor time.Duration
		// readings: the steady event's count; code: the failure's reason.
		readings int
		code     string
		// still: the failure is a replica still catching up, not a flap.
		still bool
	}{
		{name: "steady", conf: "v1", healthyFor: 150 * time.Millisecond, readings: 3},
		{name: "steady over a longer window", conf: "v1", healthyFor: time.Second, readings: 20},
		{name: "healthz flaps", conf: "v1-flaps", healthyFor: 150 * time.Millisecond, code: health.ReasonHealthz},
		{name: "flap after the window is not seen", conf: "v1-flaps", healthyFor: 50 * time.Millisecond, readings: 1},
		{name: "restarted again", conf: "v1-restarts-again", healthyFor: 150 * time.Millisecond, code: ReasonRestartedAgain},
		// A peer's replica catching up while n2 rejoins (seen on the
		// testbed under traffic) is not n2 flapping; a peer failing for
		// another reason is.
		// (How many readings depends on which node the fleet read first.)
		{name: "a peer's replica catching up is not a flap", conf: "v1-peer-lags", healthyFor: 150 * time.Millisecond, readings: -1},
		{name: "a peer failing otherwise is", conf: "v1-peer-breaks", healthyFor: 150 * time.Millisecond, code: health.ReasonHealthz},
		// Its own replica a few entries behind for a moment: the window
		// goes on until it is current (two readings behind, then one ok).
		{name: "its own replica catching up for a moment", conf: "v1-lags-briefly", healthyFor: 150 * time.Millisecond, readings: 4},
		{name: "still catching up after the window and the settle time", conf: "v1-lags-long", healthyFor: 150 * time.Millisecond, code: health.ReasonHealthz, still: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.leader = "n1"
			w.conf["n2"] = tc.conf
			cfg, events := setup(t, w, Options{HealthyFor: tc.healthyFor})
			rep, err := Run(context.Background(), cfg)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				detail := ""
				for _, e := range *events {
					if e.Node == "n2" && e.Step == StepSteady && e.Result == ResultOK {
						detail = e.Detail
					}
				}
				want := "stayed ready for " + tc.healthyFor.String() + ": " + strconv.Itoa(tc.readings) + " readings"
				if tc.readings < 0 {
					want = "stayed ready for " + tc.healthyFor.String() + ": "
				}
				if !strings.Contains(detail, want) {
					t.Errorf("steady event %q, want %q", detail, want)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.Kind != KindNode || re.Node != "n2" || re.Step != StepSteady {
				t.Fatalf("err %v, want n2's steady step to fail", err)
			}
			what := "flapped: back, then not ready"
			if tc.still {
				what = "still catching up 10s after the 150ms it had to stay ready"
			}
			if !strings.Contains(err.Error(), what) || !hasReason(re.Reasons, tc.code) {
				t.Errorf("err %v reasons %v, want %q with %s", err, re.Reasons, what, tc.code)
			}
			if w.restarts != 1 {
				t.Errorf("%d restarts, want n2's only (a flap restarts nothing)", w.restarts)
			}
			if got := w.touched("n3"); len(got) > 0 {
				t.Errorf("n3 touched after n2 flapped: %v", got)
			}
			if strings.Join(rep.Done, ",") != "" || strings.Join(rep.NotDone, ",") != "n3,n1" {
				t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
			}
		})
	}
}

func hasReason(rs []health.Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

// A deployed node that flaps during --healthy-for is rolled back like one
// that never came back: its previous files restored and restarted.
func TestHealthyForFlapRollsBackDeploy(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, events, acts := deploySetup(t, w, Options{}, Restart, map[string]string{"n2": "v2-flaps"})
	rep, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" || re.Step != StepSteady {
		t.Fatalf("err %v, want n2's steady step to fail", err)
	}
	if !strings.Contains(re.RolledBack, "n2 runs its previous config again and serves") || re.RollbackErr != nil {
		t.Errorf("rolled back %q, %v", re.RolledBack, re.RollbackErr)
	}
	if w.loaded["n2"] != "v1" || !w.running["n2"] {
		t.Errorf("n2 runs %q (running %v), want v1 back", w.loaded["n2"], w.running["n2"])
	}
	if acts["n3"].installed {
		t.Error("n3 touched after n2 flapped")
	}
	if !hasEvent(*events, "n2", StepRollback, ResultOK) || len(rep.Done) != 0 {
		t.Errorf("rollback event %v, done %v", hasEvent(*events, "n2", StepRollback, ResultOK), rep.Done)
	}
}

// upgradeAction is a fakeAction whose node changes its binary.
type upgradeAction struct {
	*fakeAction
	upgrade bool
}

func (a *upgradeAction) Upgrade() bool { return a.upgrade }

// --start-timeout bounds only the first start of an upgraded node; the
// others keep --timeout; it is never shorter than --timeout.
func TestStartTimeoutOnlyForUpgradedNode(t *testing.T) {
	for _, tc := range []struct {
		name         string
		upgrade      bool
		slow         time.Duration
		startTimeout time.Duration
		fail         string
	}{
		{name: "upgraded, long first start", upgrade: true, slow: 5 * time.Minute, startTimeout: 10 * time.Minute},
		{name: "upgraded, too long even so", upgrade: true, slow: 12 * time.Minute, startTimeout: 10 * time.Minute, fail: "not back within 10m0s"},
		{name: "not upgraded: --timeout", upgrade: false, slow: 5 * time.Minute, startTimeout: 10 * time.Minute, fail: "not back within 1m0s"},
		{name: "start timeout shorter than --timeout", upgrade: true, slow: 45 * time.Second, startTimeout: 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.leader = "n3"
			w.slow["n2"] = tc.slow
			cfg, _, acts := deploySetup(t, w, Options{NodeTimeout: time.Minute, StartTimeout: tc.startTimeout}, Restart, nil)
			for n, a := range acts {
				cfg.Actions[n] = &upgradeAction{fakeAction: a, upgrade: tc.upgrade && n == "n2"}
			}
			_, err := Run(context.Background(), cfg)
			if tc.fail == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.Node != "n2" || re.Step != StepReady || !strings.Contains(err.Error(), tc.fail) {
				t.Fatalf("err %v, want n2 %s", err, tc.fail)
			}
		})
	}
}
