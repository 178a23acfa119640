package hostrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
)

// fakeHost is one host's scripted steps: what it has, what it wants, and
// which step fails.
type fakeHost struct {
	Host
	changes, problems []string
	// after are the mismatches Check finds once applied; before, with
	// nothing to apply.
	after, before []string
	warning       string
	failObserve   int // the nth Observe fails (1: while planning)
	failApply     error
	observed      int
	applied       bool
}

func (f *fakeHost) Observe(ctx context.Context, c remote.Host) error {
	f.observed++
	if f.observed == f.failObserve {
		return fmt.Errorf("read %s: exit 1", c.Name())
	}
	return nil
}

func (f *fakeHost) MakePlan() Planned { return Planned{Changes: f.changes, Problems: f.problems} }

func (f *fakeHost) Apply(ctx context.Context, c remote.Host) error {
	if f.failApply != nil {
		return f.failApply
	}
	f.applied = true
	return nil
}

func (f *fakeHost) Check() Verified {
	if f.applied {
		return Verified{Mismatches: f.after, Warning: f.warning}
	}
	return Verified{Mismatches: f.before, Warning: f.warning}
}

func fake(name string) *fakeHost {
	return &fakeHost{Host: NewHost(&cluster.Node{Name: name, Host: "10.0.0." + name[len(name)-1:]})}
}

// connectAll reaches every host but those named in refuse; it counts the
// hosts reached.
func connectAll(reached *atomic.Int32, refuse ...string) Connect {
	return func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		if slices.Contains(refuse, n.Name) {
			return nil, fmt.Errorf("%s (%s:22): ssh: connection refused", n.Name, n.Host)
		}
		reached.Add(1)
		return &remote.Local{NodeName: n.Name}, nil
	}
}

func hostErrors(hs []*fakeHost) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		if h.Error != "" {
			out[h.Node] = h.Error
		}
	}
	return out
}

// TestPlanAndApply: the engine's sequence on four hosts, as tune runs
// it: a host that cannot be reached fails on one line naming it, a host
// with bad input is left out ("not tuned"), a host up to date is verified
// from its reading (its mismatch reported, not a failure), a host whose
// change does not hold after applying fails, and the others go on.
func TestPlanAndApply(t *testing.T) {
	a, b, c, d, e := fake("a"), fake("b"), fake("c"), fake("d"), fake("e")
	a.changes = []string{"sysctl x 1 -> 2", "file /etc/x"}
	b.before = []string{"unit limit 1024"}
	d.problems = []string{"sysctl y does not exist"}
	e.changes, e.after = []string{"file /etc/y"}, []string{"sysctl x is 1, want 2"}
	var reached atomic.Int32
	hs := []*fakeHost{a, b, c, d, e}
	r := &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached, "c"), Parallel: 2}, Job: "tune", Hosts: hs, Refusal: "not tuned"}
	r.Plan(context.Background())
	want := map[string]string{
		"c": "c (10.0.0.c:22): ssh: connection refused",
		"d": "d: not tuned: sysctl y does not exist",
	}
	if got := hostErrors(hs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Plan, errors %v\nwant %v", got, want)
	}
	if changes, hosts := r.Pending(); changes != 3 || hosts != 2 || r.Ready() != 3 {
		t.Errorf("pending %d changes on %d hosts, ready %d; want 3 on 2, 3", changes, hosts, r.Ready())
	}
	if got := r.Refused(); !slices.Equal(got, []string{"d"}) {
		t.Errorf("refused %v", got)
	}
	if b.verified == nil || b.Failed() {
		t.Errorf("b, up to date with a mismatch: verified %v, error %q (want verified, not failed)", b.verified, b.Error)
	}
	if err := r.Apply(context.Background()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !a.applied || a.observed != 2 || !a.Applied || a.Failed() {
		t.Errorf("a: applied %v, observed %d times, error %q", a.applied, a.observed, a.Error)
	}
	if b.observed != 1 || b.Applied {
		t.Errorf("b, nothing to apply, was read %d times, applied %v", b.observed, b.Applied)
	}
	if d.applied {
		t.Errorf("the refused host was changed")
	}
	want["e"] = "e: applied, but sysctl x is 1, want 2"
	if got := hostErrors(hs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Apply, errors %v\nwant %v", got, want)
	}
	if got := r.Failed(); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Errorf("failed %v", got)
	}
}

// TestRefuseAll: as provision runs it, bad input on one host refuses the
// whole run before any host changes; a host with nothing to do whose
// verification fails is an error.
func TestRefuseAll(t *testing.T) {
	a, b, c := fake("a"), fake("b"), fake("c")
	a.changes = []string{"binary /usr/bin/nats-server: absent -> sha256 1234"}
	b.problems = []string{"/var/lib/nats exists and is not a directory; fix: move it away"}
	c.before = []string{"unit nats-server.service is masked, not loaded"}
	var reached atomic.Int32
	hs := []*fakeHost{a, b, c}
	r := &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached)}, Job: "provision", Hosts: hs, Refusal: "refused", RefuseAll: true, VerifyUnchanged: true}
	r.Plan(context.Background())
	want := map[string]string{
		"b": "b: refused: /var/lib/nats exists and is not a directory; fix: move it away",
		"c": "c: nothing to do, but unit nats-server.service is masked, not loaded",
	}
	if got := hostErrors(hs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors %v\nwant %v", got, want)
	}
	if err := r.Apply(context.Background()); !errors.Is(err, ErrRefused) {
		t.Fatalf("Apply with a refused host: %v", err)
	}
	if a.applied || a.Applied {
		t.Errorf("a was changed although b was refused")
	}
}

// TestCancelled: a run whose context is done reaches no host, and every
// host says it was not started.
func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, b := fake("a"), fake("b")
	var reached atomic.Int32
	r := &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached), Parallel: 1}, Job: "tune", Hosts: []*fakeHost{a, b}}
	r.Plan(ctx)
	if reached.Load() != 0 {
		t.Errorf("%d hosts reached after ctx was done", reached.Load())
	}
	for _, h := range []*fakeHost{a, b} {
		if h.Error != h.Node+": not started: context canceled" {
			t.Errorf("%s: %q", h.Node, h.Error)
		}
	}
}

// watchLog records every step the engine watches, and reports each at
// once as if it had run past progress.Every.
type watchLog struct {
	mu      sync.Mutex
	started []string
	stopped int
}

func (w *watchLog) watch(ctx context.Context, f progress.Func, base progress.Report, seen func(context.Context) string) func() {
	w.mu.Lock()
	w.started = append(w.started, base.Subject+" "+base.Waiting)
	w.mu.Unlock()
	if f != nil {
		r := base
		r.Elapsed, r.Seen = progress.Every, seen(ctx)
		f(r)
	}
	return func() {
		w.mu.Lock()
		w.stopped++
		w.mu.Unlock()
	}
}

// TestProgress: every step that can be slow on a host (connect, observe,
// apply, verify) is watched, named by the host and the run, says what it
// does, and is stopped when it ends; a Progress of nil hears nothing.
func TestProgress(t *testing.T) {
	a, b := fake("a"), fake("b")
	a.changes = []string{"file /etc/x", "sysctl y 1 -> 2"}
	var mu sync.Mutex
	var lines []string
	w := &watchLog{}
	var reached atomic.Int32
	r := &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached), Progress: func(rp progress.Report) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, rp.String())
	}}, Job: "tune", Hosts: []*fakeHost{a, b}, watch: w.watch}
	r.Plan(context.Background())
	if err := r.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	slices.Sort(w.started)
	if want := []string{"a tune apply", "a tune connect", "a tune observe", "a tune verify", "b tune connect", "b tune observe"}; !slices.Equal(w.started, want) {
		t.Errorf("watched %v\nwant %v", w.started, want)
	}
	if w.stopped != len(w.started) {
		t.Errorf("%d watches started, %d stopped", len(w.started), w.stopped)
	}
	slices.Sort(lines)
	if want := "a tune apply: waiting 5s: applying 2 changes"; len(lines) != 6 || lines[0] != want || !strings.HasPrefix(lines[1], "a tune connect: waiting 5s: connecting to 10.0.0.a") {
		t.Errorf("reports:\n%s\nwant first %q", strings.Join(lines, "\n"), want)
	}
	// Without a Progress the engine still watches (progress.Go does
	// nothing with a nil Func), and nobody hears.
	c := fake("c")
	w2 := &watchLog{}
	r = &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached)}, Job: "tune", Hosts: []*fakeHost{c}, watch: w2.watch}
	r.Plan(context.Background())
	if len(w2.started) != 2 || w2.stopped != 2 {
		t.Errorf("without a Progress: %v, %d stopped", w2.started, w2.stopped)
	}
}

// TestAudit: the run's audit record in the shape tune's always had: per
// host its changes, one step per phase that ran, the apply phase's time
// (hosts apply in parallel), and the hosts done and not done. (It was
// pkg/audit's TestTunePlan: a applied and verified, b up to date with
// its server on the old limit, c unreachable, d failing its apply.)
func TestAudit(t *testing.T) {
	a, b, c, d := fake("a"), fake("b"), fake("c"), fake("d")
	a.changes = []string{"sysctl net.core.somaxconn 4096 -> 8192", "file /etc/security/limits.d/90-natsops.conf"}
	b.warning = "running nats-server (pid 7) still has its old open-files limit: restart needed"
	d.changes, d.failApply = []string{"file /etc/sysctl.d/90-natsops.conf"}, errors.New("d: apply: exit 1")
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := []time.Time{t0, t0.Add(1500 * time.Millisecond)}
	var reached atomic.Int32
	r := &Run[*fakeHost]{Options: Options{Connect: connectAll(&reached, "c")}, Job: "tune", Hosts: []*fakeHost{a, b, c, d},
		now: func() time.Time { t := clock[0]; clock = clock[1:]; return t }}
	r.Plan(context.Background())
	if err := r.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := r.Audit()
	plan := res.Plan
	if len(plan) != 2 || plan[0].Node != "a" || plan[0].Change != "tune" || plan[0].Items[0] != "sysctl net.core.somaxconn 4096 -> 8192" || plan[0].Items[1] != "file /etc/security/limits.d/90-natsops.conf" || plan[1].Node != "d" {
		t.Errorf("plan %+v", plan)
	}
	var got []string
	for _, s := range res.Steps {
		got = append(got, s.Node+"/"+s.Step+"="+s.Result)
	}
	want := []string{"a/plan=ok", "a/apply=ok", "a/verify=ok", "b/plan=ok", "b/verify=warning", "c/plan=failed", "d/plan=ok", "d/apply=failed"}
	if !slices.Equal(got, want) {
		t.Errorf("steps\n%v\nwant\n%v", got, want)
	}
	if res.Steps[1].ElapsedMS != 1500 {
		t.Errorf("apply took %dms, want the phase's 1500", res.Steps[1].ElapsedMS)
	}
	if s := res.Steps[7]; s.Detail != "d: apply: exit 1" || res.Steps[5].Detail != "c (10.0.0.c:22): ssh: connection refused" {
		t.Errorf("failed steps' details: %q, %q", s.Detail, res.Steps[5].Detail)
	}
	if res.Steps[4].Detail != b.warning || res.Steps[4].Result != audit.StepWarning {
		t.Errorf("b's verify: %+v", res.Steps[4])
	}
	if !slices.Equal(res.Done, []string{"a", "b"}) || !slices.Equal(res.NotDone, []string{"c", "d"}) {
		t.Errorf("done %v not done %v", res.Done, res.NotDone)
	}
}
