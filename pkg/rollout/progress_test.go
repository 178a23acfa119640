package rollout

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// recorder keeps a rollout's progress reports.
type recorder struct {
	mu      sync.Mutex
	reports []progress.Report
}

func (rc *recorder) add(r progress.Report) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reports = append(rc.reports, r)
}

// of are the reports on subject waiting for what.
func (rc *recorder) of(subject, what string) []progress.Report {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []progress.Report
	for _, r := range rc.reports {
		if r.Subject == subject && r.Waiting == what {
			out = append(out, r)
		}
	}
	return out
}

func elapsedOf(rs []progress.Report) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.Elapsed)
	}
	return out
}

// spaced fails unless rs report a wait of total at least every gap: the
// first within gap of its start, each within gap of the one before, the
// last within gap of its end, each with limit.
func spaced(t *testing.T, rs []progress.Report, gap, total, limit time.Duration) {
	t.Helper()
	if len(rs) == 0 {
		t.Fatalf("no reports for a wait of %s", total)
	}
	prev := time.Duration(0)
	for i, r := range rs {
		if r.Elapsed-prev > gap || r.Elapsed <= prev {
			t.Errorf("report %d at %s, the one before at %s: want at most %s apart (%v)", i, r.Elapsed, prev, gap, elapsedOf(rs))
		}
		if r.Limit != limit {
			t.Errorf("report %d: limit %s, want %s", i, r.Limit, limit)
		}
		prev = r.Elapsed
	}
	if total-prev > gap {
		t.Errorf("last report at %s of a %s wait (%v)", prev, total, elapsedOf(rs))
	}
}

// A node that never becomes ready within its 2m timeout is reported at
// least every 5s of the rollout's clock: what it waits for, for how long
// of how long, and the reason it is not ready.
func TestProgressReadyWait(t *testing.T) {
	run := func(rec *recorder) ([]Event, error) {
		w := newWorld()
		w.leader = "n1"
		w.conf["n2"] = "unhealthy" // back, but /healthz 503 for good
		cfg, events := setup(t, w, Options{NodeTimeout: 2 * time.Minute})
		if rec != nil {
			cfg.Progress = rec.add
		}
		_, err := Run(context.Background(), cfg)
		return *events, err
	}
	rec := &recorder{}
	events, err := run(rec)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" || re.Step != StepReady || !strings.Contains(err.Error(), "not back within 2m0s") {
		t.Fatalf("err %v, want n2 not back within 2m", err)
	}
	rs := rec.of("n2", "ready")
	spaced(t, rs, progress.Every, 2*time.Minute, 2*time.Minute)
	const why = "/healthz: JetStream has not established contact with a meta leader"
	for _, r := range rs {
		if r.Seen != why {
			t.Errorf("seen %q, want %q", r.Seen, why)
		}
	}
	if len(rs) > 1 {
		if got, want := rs[1].String(), "n2 ready: waiting 10s of 2m0s: "+why; got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	// Reports are not events: the same rollout without Progress tells
	// the same events.
	without, _ := run(nil)
	if !reflect.DeepEqual(events, without) {
		t.Errorf("events with progress differ from those without:\n%v\n%v", events, without)
	}
}

// A 20s --healthy-for soak is reported at 5s, 10s and 15s, saying how
// long the node has been ready and that every reading was healthy.
func TestProgressSoak(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, _ := setup(t, w, Options{HealthyFor: 20 * time.Second})
	rec := &recorder{}
	cfg.Progress = rec.add
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n2", "n3", "n1"} {
		rs := rec.of(n, "healthy-for")
		if got, want := fmt.Sprint(elapsedOf(rs)), "[5s 10s 15s]"; got != want {
			t.Errorf("%s: reports at %s, want %s", n, got, want)
		}
		spaced(t, rs, 6*time.Second, 20*time.Second, 20*time.Second)
		if len(rs) > 1 && rs[1].Seen != "ready 10s of 20s; every reading healthy" {
			t.Errorf("%s: seen %q", n, rs[1].Seen)
		}
	}
}

// A soak that sees a replica catching up says so.
func TestProgressSoakCatchingUp(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, _, _ := deploySetup(t, w, Options{HealthyFor: 20 * time.Second}, Restart, map[string]string{"n2": "v2 lags-long"})
	rec := &recorder{}
	cfg.Progress = rec.add
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("want n2 to fail still catching up")
	}
	rs := rec.of("n2", "healthy-for")
	spaced(t, rs, progress.Every, 30*time.Second, 20*time.Second)
	if len(rs) == 0 || !strings.Contains(rs[0].Seen, "catching up: /healthz: JetStream stream '$G > ROLL' is not current") {
		t.Errorf("reports %+v", rs)
	}
}

// --pause reports through Progress too (a pause in CI with no terminal
// says what it waits for), beside the countdown Pausing draws.
func TestProgressPause(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, _ := setup(t, w, Options{Pause: 20 * time.Second})
	rec := &recorder{}
	cfg.Progress = rec.add
	ticks := 0
	cfg.Pausing = func(PauseTick) { ticks++ }
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rs := rec.of("", "pause after n2")
	spaced(t, rs, progress.Every, 20*time.Second, 20*time.Second)
	if got := fmt.Sprint(elapsedOf(rs)); got != "[5s 10s 15s]" {
		t.Errorf("reports at %s", got)
	}
	if len(rs) > 0 && rs[0].Seen != "n2 done; n3 next, in 15s" {
		t.Errorf("seen %q", rs[0].Seen)
	}
	if len(rec.of("", "pause after n3")) != 3 || len(rec.of("", "pause after n1")) != 0 {
		t.Errorf("pauses reported: %v", rec.reports)
	}
	if ticks != 2*21 {
		t.Errorf("%d countdown ticks, want 21 per pause", ticks)
	}
}

// Preflight's settling (up to Settle) is reported with what keeps the
// cluster unhealthy.
func TestProgressPreflightSettle(t *testing.T) {
	w := newWorld()
	w.lagging["n2"] = 1 << 30
	cfg, _ := setup(t, w, Options{})
	rec := &recorder{}
	cfg.Progress = rec.add
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight {
		t.Fatalf("err %v, want a preflight refusal", err)
	}
	rs := rec.of("", "preflight: cluster healthy")
	spaced(t, rs, progress.Every, DefaultSettle, DefaultSettle)
	for _, r := range rs {
		if !strings.Contains(r.Seen, "n2: /healthz: JetStream stream '$G > ROLL' is not current") {
			t.Errorf("seen %q", r.Seen)
		}
	}
}

// The wait for a replica to catch up before a stop is reported.
func TestProgressJetStreamCatchUp(t *testing.T) {
	w := newWorld()
	w.streams = []*fakeStream{{name: "ORDERS", peers: []string{"n1", "n2", "n3"}, level: "0", lagging: map[string]int{"n3": 1 << 30}}}
	cfg, _ := setup(t, w, Options{})
	rec := &recorder{}
	cfg.Progress = rec.add
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("want a refusal at n2")
	}
	rs := rec.of("n2", "jetstream catch-up")
	spaced(t, rs, progress.Every, DefaultSettle, DefaultSettle)
	if len(rs) == 0 || !strings.Contains(rs[0].Seen, "n3 (lag 812") {
		t.Errorf("reports %+v", rs)
	}
}

// A reload that is not confirmed is reported until its timeout.
func TestProgressReload(t *testing.T) {
	w := newWorld()
	cfg, _, _ := deploySetup(t, w, Options{}, Reload, map[string]string{"n2": "refused"})
	rec := &recorder{}
	cfg.Progress = rec.add
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("want n2's reload to fail")
	}
	rs := rec.of("n2", "reload")
	spaced(t, rs, progress.Every, DefaultReloadTimeout, DefaultReloadTimeout)
	if len(rs) == 0 || !strings.Contains(rs[0].Seen, "config_load_time did not move") {
		t.Errorf("reports %+v", rs)
	}
}

// A bootstrap's wait for the cluster to form is reported.
func TestProgressBootstrap(t *testing.T) {
	w := newWorld()
	cfg, _, _ := bootstrapSetup(t, w, map[string]string{"n3": "unhealthy"})
	rec := &recorder{}
	cfg.Progress = rec.add
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("want the cluster not to form")
	}
	rs := rec.of("", "cluster formed")
	spaced(t, rs, progress.Every, cfg.NodeTimeout, cfg.NodeTimeout)
	if len(rs) == 0 || !strings.Contains(rs[0].Seen, "n3: /healthz: JetStream has not established contact") {
		t.Errorf("reports %+v", rs)
	}
}

// blockingHost holds a node's stop-and-start script until released, as a
// lame duck with clients holds it for lame_duck_duration.
type blockingHost struct {
	*fakeHost
	release chan struct{}
}

func (h *blockingHost) Run(ctx context.Context, cmd string, opts remote.RunOptions) (*remote.Result, error) {
	if strings.Contains(cmd, "natsops:begin") {
		select {
		case <-h.release:
		case <-time.After(time.Minute): // a guard: the test fails below
		}
	}
	return h.fakeHost.Run(ctx, cmd, opts)
}

// The stop's exit, one blocking remote command, is reported on the wall
// clock while it runs, with the clients the lame duck has left; nothing
// is reported once it returned.
func TestProgressLameDuckExit(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	w.conns = map[string]int{"n2": 37}
	cfg, events := setup(t, w, Options{}, "n2")
	release := make(chan struct{})
	connect := cfg.Connect
	cfg.Connect = func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		h, err := connect(ctx, n)
		if n.Name == "n2" {
			return &blockingHost{fakeHost: h.(*fakeHost), release: release}, err
		}
		return h, err
	}
	cfg.ProgressEvery = time.Millisecond
	var mu sync.Mutex
	var log []string
	var once sync.Once
	exits := 0
	cfg.Progress = func(r progress.Report) {
		mu.Lock()
		defer mu.Unlock()
		if r.Waiting != "lame-duck exit" {
			return
		}
		log = append(log, "report: "+r.String())
		if r.Subject != "n2" || r.Seen != "lame duck: 37 clients left" || r.Limit != 45*time.Second || r.Elapsed <= 0 {
			t.Errorf("report %+v", r)
		}
		if exits++; exits == 2 {
			once.Do(func() { close(release) })
		}
	}
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Step == StepExit {
			mu.Lock()
			log = append(log, "event: "+e.Node+" exit "+e.Result)
			mu.Unlock()
		}
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if exits < 2 {
		t.Fatalf("%d exit reports, want the script held until 2: %v", exits, log)
	}
	if last := log[len(log)-1]; last != "event: n2 exit ok" {
		t.Errorf("after the exit event: %v", log)
	}
	if !hasEvent(*events, "n2", StepExit, ResultOK) {
		t.Error("no exit event")
	}
}

// TestExitSeen: what a reading of a node being stopped says.
func TestExitSeen(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	serving := func(start time.Time, conns int) *monitor.Snapshot {
		return &monitor.Snapshot{Varz: &monitor.Varz{Start: start, Connections: conns}}
	}
	for _, tc := range []struct {
		mode   service.Mode
		before time.Time
		s      *monitor.Snapshot
		want   string
	}{
		{service.Graceful, t0, serving(t0, 1), "lame duck: 1 client left"},
		{service.Graceful, t0, serving(t0, 0), "lame duck: 0 clients left"},
		{service.Fast, t0, serving(t0, 3), "still running: 3 clients"},
		{service.Graceful, t0, &monitor.Snapshot{Errs: map[string]error{"varz": errors.New("refused")}}, "no answer at the monitoring endpoint: exited, or not started yet"},
		{service.Graceful, t0, nil, "no answer at the monitoring endpoint: exited, or not started yet"},
		{service.Graceful, t0, serving(t0.Add(time.Minute), 0), "a new process answers; its start has not returned yet"},
		{service.Graceful, time.Time{}, serving(t0, 2), "lame duck: 2 clients left"},
	} {
		if got := exitSeen(tc.mode, tc.before, tc.s); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.mode, tc.s, got, tc.want)
		}
	}
}
