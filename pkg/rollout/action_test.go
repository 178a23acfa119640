package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
)

// fakeAction installs a new config into the fake world (w.conf) and
// restores the previous one.
type fakeAction struct {
	w          *world
	node       string
	kind       Kind
	conf       string
	prev       string
	installed  bool
	checkErr   error
	installErr error
	restoreErr error
	calls      []string
}

func (a *fakeAction) Kind() Kind { return a.kind }

func (a *fakeAction) Check(ctx context.Context, h remote.Host) error {
	a.calls = append(a.calls, "check")
	return a.checkErr
}

func (a *fakeAction) Install(ctx context.Context, h remote.Host) error {
	a.calls = append(a.calls, "install")
	if a.installErr != nil {
		return a.installErr
	}
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	a.prev, a.w.conf[a.node], a.installed = a.w.conf[a.node], a.conf, true
	a.w.steps = append(a.w.steps, a.node+":install")
	return nil
}

func (a *fakeAction) Restore(ctx context.Context, h remote.Host) error {
	a.calls = append(a.calls, "restore")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if a.restoreErr != nil {
		return a.restoreErr
	}
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	a.w.conf[a.node] = a.prev
	a.w.steps = append(a.w.steps, a.node+":restore")
	return nil
}

// deploySetup is setup with an action of kind with config conf on each of
// nodes (conf overrides per node).
func deploySetup(t *testing.T, w *world, opts Options, kind Kind, conf map[string]string) (Config, *[]Event, map[string]*fakeAction) {
	t.Helper()
	cfg, events := setup(t, w, opts)
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{}
	acts := map[string]*fakeAction{}
	for _, n := range cfg.Nodes {
		c, ok := conf[n.Name]
		if !ok {
			c = "v2"
		}
		a := &fakeAction{w: w, node: n.Name, kind: kind, conf: c}
		cfg.Actions[n.Name], acts[n.Name] = a, a
	}
	return cfg, events, acts
}

func TestDeployReloads(t *testing.T) {
	w := newWorld()
	cfg, _, _ := deploySetup(t, w, Options{}, Reload, nil)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if w.loaded[n] != "v2" || w.reloads[n] != 1 || rep.Applied[n] != Reload {
			t.Errorf("%s: loaded %q after %d reloads, applied %q", n, w.loaded[n], w.reloads[n], rep.Applied[n])
		}
	}
	if w.restarts != 0 {
		t.Errorf("%d restarts for a reload", w.restarts)
	}
	// One lock for the whole deploy: taken once, released once.
	locks := 0
	for _, c := range w.cmds["n1"] {
		if strings.Contains(c, "natsops:locked") {
			locks++
		}
	}
	if locks != 1 {
		t.Errorf("lock taken %d times on n1", locks)
	}
}

// A reload nats-server refuses (config_load_time does not move) is rolled
// back: the previous file restored and reloaded, that reload confirmed;
// the nodes after it are not touched.
func TestDeployReloadRefusedRollsBack(t *testing.T) {
	w := newWorld()
	w.leader = "n3"
	cfg, events, acts := deploySetup(t, w, Options{ReloadTimeout: 2 * time.Second}, Reload, map[string]string{"n2": "v2-refused"})
	rep, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" || re.Step != StepReload {
		t.Fatalf("err %v, want n2's reload to fail", err)
	}
	if !strings.Contains(re.RolledBack, "n2 runs its previous config again and serves (reloaded with it") || re.RollbackErr != nil {
		t.Errorf("rolled back %q, %v", re.RolledBack, re.RollbackErr)
	}
	if !strings.Contains(err.Error(), "config_load_time did not move") || !strings.Contains(err.Error(), "rolled back: n2 runs its previous config again") || !strings.Contains(err.Error(), "rerun natsops deploy") {
		t.Errorf("message: %v", err)
	}
	if w.conf["n2"] != "v1" || w.loaded["n2"] != "v1" || w.reloads["n2"] != 2 {
		t.Errorf("n2: file %q loaded %q after %d reloads, want v1 back and reloaded", w.conf["n2"], w.loaded["n2"], w.reloads["n2"])
	}
	if acts["n3"].installed {
		t.Error("n3 touched after n2 failed")
	}
	if strings.Join(rep.Done, ",") != "n1" || strings.Join(rep.NotDone, ",") != "n3" {
		t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
	}
	if !hasEvent(*events, "n2", StepRollback, ResultOK) {
		t.Error("no rollback event")
	}
}

// A server that restarts while it should reload (a crash, systemd
// restarting it) is not a reload: rolled back.
func TestDeployReloadThatRestartsIsNotAReload(t *testing.T) {
	w := newWorld()
	cfg, _, _ := deploySetup(t, w, Options{}, Reload, nil)
	cfg.Nodes = cfg.Nodes[:1]
	m := &restartingMonitor{w: w, node: "n1"}
	cfg.Monitor = m
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "the server restarted instead of reloading") {
		t.Fatalf("err %v", err)
	}
}

// restartingMonitor gives node a new start time once it was reloaded.
type restartingMonitor struct {
	w    *world
	node string
}

func (m *restartingMonitor) Snapshot(ctx context.Context, url string) *monitor.Snapshot {
	m.w.mu.Lock()
	if m.w.reloads[m.node] == 1 && strings.HasSuffix(url, m.node) {
		m.w.start[m.node] = m.w.now
	}
	m.w.mu.Unlock()
	return m.w.Snapshot(ctx, url)
}

// A deploy that needs a restart: each node's files installed right before
// its own restart, followers first; one lock.
func TestDeployRestarts(t *testing.T) {
	w := newWorld()
	w.leader = "n1"
	cfg, _, _ := deploySetup(t, w, Options{}, Restart, nil)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "n2:install n2:stop n2:start n3:install n3:stop n3:start n1:install n1:stop n1:start"
	if got := strings.Join(w.steps, " "); got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if w.loaded[n] != "v2" || rep.Applied[n] != Restart {
			t.Errorf("%s: loaded %q, applied %q", n, w.loaded[n], rep.Applied[n])
		}
	}
	if w.maxDown != 1 {
		t.Errorf("max down %d", w.maxDown)
	}
}

// The testbed case: a node restarted with a config it cannot become
// ready with is rolled back, and the report says so only after the node
// was restarted with its previous config and confirmed back (the old
// deploy said "rolled back" while the node still ran the new config).
func TestDeployRestartRollsBack(t *testing.T) {
	for _, tc := range []struct{ name, conf, why string }{
		{"dies at start", "v2-cannot-start", "exited after it was started"},
		{"never ready", "v2-unhealthy", "not back within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.leader = "n3"
			cfg, events, acts := deploySetup(t, w, Options{NodeTimeout: 5 * time.Second}, Restart, map[string]string{"n1": tc.conf})
			rep, err := Run(context.Background(), cfg)
			var re *Error
			if !errors.As(err, &re) || re.Node != "n1" || re.Step != StepReady {
				t.Fatalf("err %v, want n1's ready step to fail", err)
			}
			if !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "rolled back: n1 runs its previous config again and serves (restarted with it") {
				t.Errorf("message: %v", err)
			}
			if w.conf["n1"] != "v1" || w.loaded["n1"] != "v1" || !w.running["n1"] {
				t.Errorf("n1: file %q loaded %q running %v, want v1 back and running", w.conf["n1"], w.loaded["n1"], w.running["n1"])
			}
			if acts["n2"].installed || len(w.touched("n2")) > 0 || len(w.touched("n3")) > 0 {
				t.Error("nodes after n1 touched")
			}
			if strings.Join(rep.NotDone, ",") != "n2,n3" {
				t.Errorf("not done %v", rep.NotDone)
			}
			if !hasEvent(*events, "n1", StepRollback, ResultOK) {
				t.Error("no rollback event")
			}
		})
	}
}

// A rollback that does not bring the node back is reported as failed,
// never as done.
func TestDeployRollbackThatFailsIsSaid(t *testing.T) {
	w := newWorld()
	w.leader = "n3"
	cfg, _, acts := deploySetup(t, w, Options{NodeTimeout: 3 * time.Second}, Restart, map[string]string{"n1": "v2-cannot-start"})
	acts["n1"].restoreErr = errors.New("cp: cannot stat '/etc/nats-server.conf.natsops-bak'")
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.RolledBack != "" || re.RollbackErr == nil {
		t.Fatalf("err %v (rolled back %q), want a failed rollback", err, re.RolledBack)
	}
	if !strings.Contains(err.Error(), "rolling n1 back failed: restoring the previous files: cp: cannot stat") || strings.Contains(err.Error(), "rolled back:") {
		t.Errorf("message: %v", err)
	}
	// The previous config is back but does not start either.
	w2 := newWorld()
	w2.leader = "n3"
	w2.conf["n1"] = "v1-cannot-start"
	cfg, _, _ = deploySetup(t, w2, Options{NodeTimeout: 3 * time.Second}, Restart, map[string]string{"n1": "v2-cannot-start"})
	_, err = Run(context.Background(), cfg)
	if !errors.As(err, &re) || re.RollbackErr == nil || !strings.Contains(err.Error(), "n1 did not come back with them either") {
		t.Fatalf("err %v, want the rollback's own failure", err)
	}
}

// Check runs on every node under the lock before any is touched: one node
// changed since the plan was read stops the deploy with nothing installed.
func TestDeployCheckStopsBeforeAnyChange(t *testing.T) {
	w := newWorld()
	cfg, _, acts := deploySetup(t, w, Options{}, Reload, nil)
	acts["n3"].checkErr = errors.New("n3: /etc/nats-server.conf changed since natsops read it")
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindCheck || !strings.Contains(err.Error(), "changed since natsops read it; nothing was changed") {
		t.Fatalf("err %v", err)
	}
	for n, a := range acts {
		if a.installed {
			t.Errorf("%s installed", n)
		}
	}
	if _, ok := w.files["n1"][LockPath]; ok {
		t.Error("lock kept")
	}
}

// A lock held by another run is a refusal naming the holder: no check, no
// install, no rollback.
func TestDeployLockHeldIsARefusal(t *testing.T) {
	w := newWorld()
	w.files["n2"][LockPath] = fmt.Sprintf(`{"id":"abc","owner":"bob@ops1","pid":77,"started":%q}`, w.now.Add(-time.Minute).Format(time.RFC3339))
	cfg, _, acts := deploySetup(t, w, Options{}, Restart, nil)
	_, err := Run(context.Background(), cfg)
	var re *Error
	var held *LockHeldError
	if !errors.As(err, &re) || re.Kind != KindLock || !errors.As(err, &held) || held.Holder.Owner != "bob@ops1" {
		t.Fatalf("err %v, want the lock held by bob@ops1", err)
	}
	for n, a := range acts {
		if len(a.calls) > 0 {
			t.Errorf("%s: %v", n, a.calls)
		}
	}
}

// Ctrl-C while a reload is being confirmed: interrupted, the new config
// stays (nothing is rolled back on a cancelled context).
func TestDeployInterruptMidReload(t *testing.T) {
	w := newWorld()
	w.leader = "n3"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _, acts := deploySetup(t, w, Options{}, Reload, map[string]string{"n2": "v2-refused"})
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Node == "n2" && e.Step == StepInstall {
			cancel()
		}
	}
	rep, err := Run(ctx, cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || re.Node != "n2" {
		t.Fatalf("err %v, want interrupted at n2", err)
	}
	if strings.Contains(strings.Join(acts["n2"].calls, " "), "restore") {
		t.Errorf("n2 restored on Ctrl-C: %v", acts["n2"].calls)
	}
	if strings.Join(rep.NotDone, ",") != "n2,n3" {
		t.Errorf("not done %v", rep.NotDone)
	}
}

// Ctrl-C while a deploy's restart is being confirmed comes back as
// interrupted, and a rollback that is under way finishes on its own
// context.
func TestDeployRollbackSurvivesCtrlC(t *testing.T) {
	w := newWorld()
	w.leader = "n3"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _, _ := deploySetup(t, w, Options{NodeTimeout: 3 * time.Second}, Restart, map[string]string{"n1": "v2-cannot-start"})
	inner := cfg.Events
	cfg.Events = func(e Event) {
		inner(e)
		if e.Node == "n1" && e.Step == StepLogs {
			cancel() // the operator gives up while the rollback starts
		}
	}
	_, err := Run(ctx, cfg)
	var re *Error
	if !errors.As(err, &re) || re.RolledBack == "" {
		t.Fatalf("err %v, want the rollback finished", err)
	}
	if w.conf["n1"] != "v1" || w.loaded["n1"] != "v1" || !w.running["n1"] {
		t.Errorf("n1: file %q loaded %q running %v", w.conf["n1"], w.loaded["n1"], w.running["n1"])
	}
}

// Reloads need no healthy cluster: an unhealthy one is said, not refused
// (a reload may be the fix); restarts are refused.
func TestDeployPreflightGatesRestartsOnly(t *testing.T) {
	w := newWorld()
	w.lagging["n3"] = 1 << 20
	cfg, events, _ := deploySetup(t, w, Options{Settle: time.Second}, Reload, nil)
	cfg.Nodes = cfg.Nodes[:2] // n3 itself could not confirm a reload
	delete(cfg.Actions, "n3")
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("reload-only deploy on an unhealthy cluster: %v", err)
	}
	if !hasEvent(*events, "n3", StepPreflight, ResultWarning) {
		t.Error("unhealthy cluster not said")
	}
	w2 := newWorld()
	w2.lagging["n3"] = 1 << 20
	cfg, _, acts := deploySetup(t, w2, Options{Settle: time.Second}, Restart, nil)
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight {
		t.Fatalf("err %v, want a preflight refusal", err)
	}
	for n, a := range acts {
		if a.installed {
			t.Errorf("%s installed before preflight refused", n)
		}
	}
}

// An install-only deploy (--restart never) puts files in place and
// touches no running server.
func TestDeployInstallOnly(t *testing.T) {
	w := newWorld()
	cfg, _, _ := deploySetup(t, w, Options{}, Install, nil)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if w.conf[n] != "v2" || w.loaded[n] != "v1" || w.reloads[n] != 0 || rep.Applied[n] != Install {
			t.Errorf("%s: file %q loaded %q reloads %d", n, w.conf[n], w.loaded[n], w.reloads[n])
		}
	}
	if w.restarts != 0 {
		t.Errorf("%d restarts", w.restarts)
	}
}

// A failed install stops the deploy there with that node unchanged.
func TestDeployInstallFails(t *testing.T) {
	w := newWorld()
	cfg, _, acts := deploySetup(t, w, Options{}, Restart, nil)
	acts["n2"].installErr = errors.New("n2: install /etc/nats-server.conf: exit 1: nats-server: unknown field logfile_max_num")
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Step != StepInstall || !strings.Contains(err.Error(), "nothing changed on n2") {
		t.Fatalf("err %v", err)
	}
	if len(w.touched("n2")) > 0 {
		t.Error("n2 restarted after its install failed")
	}
}

func hasEvent(es []Event, node, step, result string) bool {
	for _, e := range es {
		if e.Node == node && e.Step == step && e.Result == result {
			return true
		}
	}
	return false
}

// Resume only the operation that wrote the state, while it is fresh and
// not --no-resume; a rollout that had done every node is no reason to do
// nothing.
func TestResumeOnlyTheSameOperation(t *testing.T) {
	stopped := func(t *testing.T, op string) *world {
		w := newWorld()
		w.leader = "n1"
		w.failNext["n3"] = "start-error"
		cfg, _ := setup(t, w, Options{})
		cfg.Operation = op
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Fatal("want failure at n3")
		}
		delete(w.failNext, "n3")
		return w
	}
	for _, tc := range []struct {
		name    string
		op      string
		opts    Options
		age     time.Duration
		skipped string
		why     string
	}{
		{"same operation", "restart graceful n1,n2,n3", Options{Force: true}, 0, "n2", ""},
		{"another operation", "deploy abc", Options{Force: true}, 0, "", "it was another operation"},
		{"too old", "restart graceful n1,n2,n3", Options{Force: true}, ResumeWithin + time.Minute, "", "older than"},
		{"--no-resume", "restart graceful n1,n2,n3", Options{Force: true, NoResume: true}, 0, "", "--no-resume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stopped(t, "restart graceful n1,n2,n3")
			w.now = w.now.Add(tc.age)
			w.steps = nil
			cfg, events := setup(t, w, tc.opts)
			cfg.Operation = tc.op
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rep.Skipped, ","); got != tc.skipped {
				t.Errorf("skipped %q, want %q", got, tc.skipped)
			}
			if tc.why != "" {
				said := false
				for _, e := range *events {
					if e.Step == StepResume && e.Result == ResultSkipped && strings.Contains(e.Detail, tc.why) && strings.Contains(e.Detail, "starting afresh") {
						said = true
					}
				}
				if !said || len(rep.Done) != 3 {
					t.Errorf("done %v; want all 3 and a resume event saying %q: %+v", rep.Done, tc.why, *events)
				}
			}
		})
	}
	// State left by a rollout that had done every node (its unlock
	// failed): a new run restarts every node again.
	w := newWorld()
	w.files["n1"][StatePath] = fmt.Sprintf(`{"id":"old","operation":"op","owner":"me@here","started":%q,"done":{"n1":%q,"n2":%q,"n3":%q}}`, w.now.Format(time.RFC3339), w.now.Format(time.RFC3339), w.now.Format(time.RFC3339), w.now.Format(time.RFC3339))
	cfg, _ := setup(t, w, Options{})
	cfg.Operation = "op"
	rep, err := Run(context.Background(), cfg)
	if err != nil || len(rep.Done) != 3 || len(rep.Skipped) != 0 {
		t.Fatalf("done %v skipped %v err %v, want every node restarted", rep.Done, rep.Skipped, err)
	}
}

// digestAction reports the digest its config should show once loaded.
type digestAction struct {
	fakeAction
	digest string
}

func (a *digestAction) Digest() string { return a.digest }

// With a digest (2.11+), a reload is confirmed only when the server runs
// the deployed config; a restart that comes back on another config (the
// unit reads another file) is a failure, rolled back.
func TestDeployConfirmsByDigest(t *testing.T) {
	w := newWorld()
	cfg, _ := setup(t, w, Options{ReloadTimeout: time.Second}, "n2")
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{"n2": &digestAction{fakeAction: fakeAction{w: w, node: "n2", kind: Reload, conf: "v2"}, digest: "d:v2"}}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("reload with the right digest: %v", err)
	}
	w = newWorld()
	cfg, _ = setup(t, w, Options{ReloadTimeout: time.Second}, "n2")
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{"n2": &digestAction{fakeAction: fakeAction{w: w, node: "n2", kind: Reload, conf: "v2"}, digest: "d:elsewhere"}}
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "the server runs a config with digest d:v2, not the deployed file's d:elsewhere") {
		t.Fatalf("reload with another digest: %v", err)
	}
	w = newWorld()
	cfg, _ = setup(t, w, Options{}, "n2")
	cfg.Command = "deploy"
	cfg.Actions = map[string]Action{"n2": &digestAction{fakeAction: fakeAction{w: w, node: "n2", kind: Restart, conf: "v2"}, digest: "d:elsewhere"}}
	_, err = Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "check the unit's ExecStart -c") || re.RolledBack == "" {
		t.Fatalf("restart onto another config: %v", err)
	}
}
