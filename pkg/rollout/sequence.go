package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// runner is the sequencer of one rollout: it connects, locks, checks,
// judges the cluster before (health.Preflight), orders the nodes,
// resumes, hands each node to a nodeRun in turn, records what was done,
// stops after a canary, pauses, and unlocks. What happens on a node is
// the nodeRun's; runner sees only its result.
type runner struct {
	*env
	cfg    Config
	byName map[string]*cluster.Node
	lock   *locker
	// snaps is the latest reading of every node.
	snaps fleet.Snapshots
	// pre is the preflight verdict: the nodes the cluster is judged
	// without (absent, updated as nodes join and leave), the nodes
	// serving then, the problems gone on with.
	pre health.PreflightVerdict
	// stops: a selected node is restarted or removed.
	stops bool
	// state is this rollout's record on the nodes (resumed or new).
	state *State
	// stop is done when the rollout must end before its next node
	// (Config.Stop or ctx).
	stop context.Context
}

// stopping is ctx, also done (with stop's cause) when stop is.
func stopping(ctx, stop context.Context) (context.Context, context.CancelFunc) {
	if stop == nil {
		return ctx, func() {}
	}
	c, cancel := context.WithCancelCause(ctx)
	undo := context.AfterFunc(stop, func() { cancel(context.Cause(stop)) })
	return c, func() {
		undo()
		cancel(nil)
	}
}

// interruptedBy words why ctx is done for an event: the signal, or
// "interrupted".
func interruptedBy(ctx context.Context) string {
	if c := cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}

// cause is why ctx is done: the signal behind a soft stop, or ctx.Err().
func cause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

func newRunner(cfg Config) *runner {
	r := &runner{env: newEnv(cfg), cfg: cfg, byName: map[string]*cluster.Node{}}
	for _, n := range cfg.Inventory.Nodes {
		r.byName[n.Name] = n
	}
	r.pre.Absent = map[string]bool{}
	for _, n := range cfg.Joining {
		r.pre.Absent[n] = true
	}
	for _, n := range cfg.Nodes {
		if k := r.kind(n.Name); k == Restart || k == Remove {
			r.stops = true
		}
	}
	return r
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kind is how node n takes its change.
func (r *runner) kind(n string) Kind { return kindOf(r.cfg.Actions[n]) }

// current is the cluster as it stands: the inventory without the joining
// nodes not started yet.
func (r *runner) current() *cluster.Inventory { return r.inv.Without(r.pre.Absent) }

func (r *runner) run(ctx context.Context) (*Report, error) {
	begin := r.clock.Now()
	rep := &Report{ID: newID(), Applied: map[string]Kind{}}
	var unstop context.CancelFunc
	r.stop, unstop = stopping(ctx, r.cfg.Stop)
	defer unstop()
	sshErrs := r.connectAll(ctx)
	defer func() {
		for _, h := range r.hosts {
			h.Close()
		}
	}()
	r.lock = newLocker(r.env, r.byName, LockInfo{ID: rep.ID, Owner: r.opts.Owner, PID: r.opts.PID, Started: begin.UTC()})
	var found *foundState
	if !r.opts.DryRun {
		var err error
		if found, err = r.takeLock(ctx); err != nil {
			rep.NotDone = names(r.cfg.Nodes)
			return rep, err
		}
		defer r.unlock()
	}
	if err := r.beforePreflight(ctx, sshErrs); err != nil {
		rep.NotDone = names(r.cfg.Nodes)
		return rep, err
	}
	if r.opts.Bootstrap && !r.opts.DryRun {
		return rep, r.bootstrapAll(ctx, rep, begin)
	}
	t := r.clock.Now()
	if err := r.preflight(ctx, sshErrs, t); err != nil {
		rep.NotDone = names(r.cfg.Nodes)
		return rep, err
	}
	d := r.order(rep, found, t)
	// What stopping each node would make unavailable, judged before any
	// node is touched (and again right before each stop).
	if err := r.checkStops(ctx, rep.Order); err != nil {
		rep.NotDone = rep.Order
		return rep, err
	}
	if r.opts.DryRun {
		r.planned(rep.Order, t)
		rep.NotDone = rep.Order
		return rep, nil
	}
	todo := r.resume(rep, d, found, t)
	if err := r.lock.writeState(ctx, r.state); err != nil {
		rep.NotDone = todo
		return rep, r.errorf(&Error{Kind: KindNode, Step: "record state", Err: err})
	}
	return rep, r.each(ctx, rep, todo, begin)
}

// takeLock locks every reachable node of the cluster first: a rollout in
// progress makes the cluster look unhealthy, and the second must be told
// about the first, not about its node being down. It returns a stopped
// rollout's state found with the lock.
func (r *runner) takeLock(ctx context.Context) (*foundState, error) {
	t := r.clock.Now()
	found, err := r.lock.acquire(ctx)
	if err != nil {
		r.event("", StepLock, ResultFailed, t, "%v", err)
		return nil, r.errorf(&Error{Kind: KindLock, Err: err})
	}
	r.event("", StepLock, ResultOK, t, "%s on %s as %s", r.lock.where(), strings.Join(r.lock.locked, ", "), r.lock.info.Owner)
	return found, nil
}

// unlock releases the lock (and removes the state once the rollout is
// finished).
func (r *runner) unlock() {
	t := r.clock.Now()
	r.lock.release(r.lock.locked)
	r.event("", StepUnlock, ResultOK, t, "released")
}

// beforePreflight makes sure nothing is half-applied: every node with a
// change to install is reachable, and, under the lock, still as the plan
// saw it.
func (r *runner) beforePreflight(ctx context.Context, sshErrs map[string]error) error {
	for _, n := range r.cfg.Nodes {
		if r.hosts[n.Name] == nil && r.cfg.Actions[n.Name] != nil {
			err := fmt.Errorf("cannot reach the host over SSH: %v; nothing was changed", sshErrs[n.Name])
			r.event(n.Name, StepConnect, ResultFailed, r.clock.Now(), "%v", err)
			return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepConnect, Err: err})
		}
	}
	return r.checkAll(ctx)
}

// bootstrapAll forms the cluster (Options.Bootstrap) instead of rolling.
func (r *runner) bootstrapAll(ctx context.Context, rep *Report, begin time.Time) error {
	f := &formation{env: r.env, actions: r.cfg.Actions, byName: r.byName}
	err := f.run(ctx, rep)
	if err == nil {
		r.lock.finished = true
		rep.Elapsed = r.clock.Now().Sub(begin)
		r.event("", StepDone, ResultOK, begin, "bootstrapped %s", strings.Join(rep.Done, ", "))
	}
	return err
}

// preflight reads the cluster (settling when that may cure it), and acts
// on health.Preflight's verdict: goes on, warns, or refuses. A selected
// node whose host is unreachable fails even when preflight goes on.
func (r *runner) preflight(ctx context.Context, sshErrs map[string]error, t time.Time) error {
	in := health.PreflightInput{Inventory: r.inv, SSH: map[string]string{}, Joining: r.cfg.Joining, Dead: r.cfg.Dead, Estate: r.across.Gate, Stops: r.stops, Force: r.opts.Force}
	for name, err := range sshErrs {
		in.SSH[name] = text.OneLine(err.Error())
	}
	for _, n := range r.cfg.Nodes {
		if r.kind(n.Name) == Remove {
			in.Leaving = append(in.Leaving, n.Name)
		}
	}
	r.pre = r.settle(ctx, in)
	switch r.pre.Outcome {
	case health.PreflightOK:
		r.event("", StepPreflight, ResultOK, t, "%d nodes reachable (host and :8222), healthy, routes complete%s", len(r.current().Nodes), deadNote(r.cfg.Dead))
	case health.PreflightForced:
		for _, rs := range r.pre.Reasons {
			r.event(rs.Node, StepPreflight, ResultWarning, t, "--force: skipped preflight check: %s (%s)", rs.Msg, rs.Code)
		}
	case health.PreflightUngated:
		for _, rs := range r.pre.Reasons {
			r.event(rs.Node, StepPreflight, ResultWarning, t, "not healthy (%s: %s); no node is restarted, so the rollout goes on", rs.Msg, rs.Code)
		}
	default:
		for _, rs := range r.pre.Reasons {
			r.event(rs.Node, StepPreflight, ResultFailed, t, "%s (%s)", rs.Msg, rs.Code)
		}
		return r.errorf(&Error{Kind: KindPreflight, Reasons: r.pre.Reasons})
	}
	for _, n := range r.cfg.Nodes {
		if r.hosts[n.Name] == nil {
			err := fmt.Errorf("cannot reach the host over SSH: %v", sshErrs[n.Name])
			r.event(n.Name, StepConnect, ResultFailed, t, "%v", err)
			return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepConnect, Err: err})
		}
	}
	return nil
}

// settle reads the cluster until preflight no longer asks to wait or
// Settle has passed: under traffic a replica can be a moment behind
// (/healthz "stream ... is not current" right after a publish), which is
// no reason to refuse. A refusal stands only if the cluster stays
// unhealthy.
func (r *runner) settle(ctx context.Context, in health.PreflightInput) health.PreflightVerdict {
	begin := r.clock.Now()
	w := r.waiting("", "preflight: cluster healthy", r.opts.Settle)
	waited := false
	var v health.PreflightVerdict
	_ = fleet.Until(ctx, r.clock, settlePoll, r.opts.Settle, func() (bool, error) {
		r.snaps = r.readAll(ctx, r.inv.Nodes, nil)
		in.Snaps = r.snaps
		v = health.Preflight(in)
		if !v.Settle {
			return true, nil
		}
		if !waited {
			waited = true
			r.event(v.Reasons[0].Node, StepPreflight, ResultWaiting, begin, "not healthy yet (%s); waiting up to %s for it to settle", v.Reasons[0].Msg, r.opts.Settle)
		}
		w.Tick(r.clock.Now(), health.Brief("", v.Reasons))
		return false, nil
	})
	return v
}

// order decides the nodes' order (and, with found, what a resumed
// rollout left to do) and tells it.
func (r *runner) order(rep *Report, found *foundState, t time.Time) orderDecision {
	in := orderInput{Nodes: names(r.cfg.Nodes), Stops: r.stops, Down: map[string]bool{}, Leader: health.MetaLeader(r.snaps),
		Removed: map[string]bool{}, Joining: r.pre.Absent, Operation: r.cfg.Operation, Now: r.clock.Now(), NoResume: r.opts.NoResume}
	for _, n := range r.cfg.Nodes {
		in.Down[n.Name] = !up(r.snaps[n.Name])
		in.Removed[n.Name] = r.kind(n.Name) == Remove
	}
	if found != nil {
		in.Found = found.state
	}
	d := decideOrder(in)
	rep.Order = d.Order
	if r.stops {
		r.event("", StepOrder, ResultOK, t, "%s (followers first, JetStream meta leader last: %s)", strings.Join(rep.Order, ", "), text.OrNone(nonEmpty(in.Leader)))
	} else {
		r.event("", StepOrder, ResultOK, t, "%s (inventory order: no node is restarted)", strings.Join(rep.Order, ", "))
	}
	return d
}

// nonEmpty is s as a list: none when it is "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// resume adopts the order's decision on a stopped rollout's state: the
// state to record (its own, or a new one), the events that say so, and
// the nodes left to do.
func (r *runner) resume(rep *Report, d orderDecision, found *foundState, t time.Time) []string {
	r.state = &State{ID: rep.ID, Operation: r.cfg.Operation, Owner: r.lock.info.Owner, Started: r.clock.Now().UTC(), Mode: r.opts.Mode, Done: map[string]time.Time{}}
	if found == nil {
		return d.Todo
	}
	st := found.state
	if !d.Resume {
		r.event("", StepResume, ResultSkipped, t, "not resuming rollout %s by %s started %s (state on %s): %s; starting afresh", st.ID, st.Owner, st.Started.Format(time.RFC3339), found.from, d.NotResumed)
		return d.Todo
	}
	r.event("", StepResume, ResultOK, t, "resuming rollout %s by %s started %s (state on %s): %s already done by it", st.ID, st.Owner, st.Started.Format(time.RFC3339), found.from, strings.Join(d.Skipped, ", "))
	for _, name := range d.Skipped {
		r.event(name, StepResume, ResultSkipped, t, "already done by rollout %s", st.ID)
	}
	if st.Done == nil {
		st.Done = map[string]time.Time{}
	}
	st.Current, st.CurrentSince = "", time.Time{} // the stopped run's, not ours
	r.state = st
	rep.ID = st.ID
	rep.Skipped = d.Skipped
	return d.Todo
}

// each changes the nodes of todo one at a time, recording each one done,
// and stops after StopAfter of them or pauses between them as asked.
func (r *runner) each(ctx context.Context, rep *Report, todo []string, begin time.Time) error {
	for i := 0; i < len(todo); i++ {
		name := todo[i]
		if r.stop.Err() != nil {
			rep.NotDone = todo[i:]
			r.event(name, StepStop, ResultInterrupted, r.clock.Now(), "%s: %s not touched; done: %s", interruptedBy(r.stop), name, text.OrNone(rep.Done))
			return r.errorf(&Error{Kind: KindInterrupted, Node: name, Step: "changing", Err: cause(r.stop)})
		}
		if err := r.change(ctx, rep, name); err != nil {
			rep.NotDone = todo[i+1:]
			// Interrupted or refused before its stop: this node was not
			// touched either.
			if err.Kind == KindInterrupted || err.Kind == KindJetStream {
				rep.NotDone = todo[i:]
			}
			return err
		}
		// The leader may have moved: keep it last among the rest.
		if r.stops {
			copy(todo[i+1:], reorder(todo[i+1:], health.MetaLeader(r.snaps), r.pre.Absent))
		}
		rest := todo[i+1:]
		if len(rest) == 0 {
			continue
		}
		if r.opts.StopAfter > 0 && len(rep.Done) >= r.opts.StopAfter {
			// A canary: stop here, healthy, the state kept for a rerun.
			rep.NotDone, rep.StoppedAfter = rest, len(rep.Done)
			rep.Elapsed = r.clock.Now().Sub(begin)
			r.event("", StepDone, ResultStopped, begin, "stopped after %s as asked: %s done, %s not yet; a rerun of the same %s continues with them", text.Plural(len(rep.Done), "node"), strings.Join(rep.Done, ", "), strings.Join(rest, ", "), text.OrNone(nonEmpty(r.cfg.Command)))
			return nil
		}
		if r.opts.Pause > 0 {
			if err := r.pause(r.stop, name, rest[0]); err != nil {
				rep.NotDone = rest
				return err
			}
		}
	}
	r.lock.finished = true // the unlock removes the state
	rep.Elapsed = r.clock.Now().Sub(begin)
	r.event("", StepDone, ResultOK, begin, "changed %s; skipped %s", text.OrNone(rep.Done), text.OrNone(rep.Skipped))
	return nil
}

// change hands node name to its nodeRun and records it done.
func (r *runner) change(ctx context.Context, rep *Report, name string) *Error {
	// A joining node is part of the cluster from its start on: its own
	// gate, and every later one, expects it.
	delete(r.pre.Absent, name)
	// The state names the node worked on, for check to report it in
	// maintenance rather than page for it. Best effort: a state that
	// cannot be written only costs check that name (the write after the
	// node is the one a resume needs, and it fails the rollout).
	t := r.clock.Now()
	r.state.Current, r.state.CurrentSince = name, t.UTC()
	if err := r.lock.writeState(ctx, r.state); err != nil {
		r.event(name, StepLock, ResultWarning, t, "could not record %s as the node being worked on (natsops check will not name it): %v", name, err)
	}
	nr := newNodeRun(r.env, r.byName[name], r.cfg.Actions[name], nodeView{absent: r.pre.Absent, up: r.pre.Up, baseline: r.pre.Baseline, snaps: r.snaps})
	nr.stop = r.stop
	res, err := nr.run(ctx)
	r.snaps = res.snaps
	if res.left {
		r.pre.Absent[name] = true
	}
	if err != nil {
		return err
	}
	rep.Done = append(rep.Done, name)
	rep.Applied[name] = nr.kind
	r.state.Current, r.state.CurrentSince = "", time.Time{}
	if s := r.snaps[name]; up(s) {
		r.state.Done[name] = s.Varz.Start
	} else {
		r.state.Done[name] = time.Time{}
	}
	if err := r.lock.writeState(ctx, r.state); err != nil {
		return r.errorf(&Error{Kind: KindNode, Node: name, Step: "record state", Err: err})
	}
	return nil
}

// pause soaks between node after (done) and node next: Pause long,
// telling Config.Pausing the time left about every second and Progress
// at its interval. A cancellation stops the rollout as interrupted
// before next, with the done nodes recorded.
func (r *runner) pause(ctx context.Context, after, next string) error {
	t := r.clock.Now()
	total := r.opts.Pause
	tick := func(left time.Duration) {
		if r.cfg.Pausing != nil {
			r.cfg.Pausing(PauseTick{After: after, Next: next, Total: total, Left: left})
		}
	}
	r.event(after, StepPause, ResultWaiting, t, "pausing %s before %s", total, next)
	w := r.waiting("", "pause after "+after, total)
	end := t.Add(total)
	for {
		now := r.clock.Now()
		left := end.Sub(now)
		if left <= 0 {
			break
		}
		tick(left)
		w.Tick(now, fmt.Sprintf("%s done; %s next, in %s", after, next, left.Round(time.Second)))
		// Whole seconds left on every tick after the first.
		step := left % time.Second
		if step == 0 {
			step = time.Second
		}
		if err := r.clock.Sleep(ctx, step); err != nil {
			tick(0)
			r.event(next, StepPause, ResultInterrupted, t, "%s during the pause: %s not touched", interruptedBy(ctx), next)
			return r.errorf(&Error{Kind: KindInterrupted, Node: next, Step: StepPause, Err: cause(ctx)})
		}
	}
	tick(0)
	r.event(after, StepPause, ResultOK, t, "paused %s after %s", total, after)
	return nil
}

// planned reports, for --dry-run, what would be run on each node.
func (r *runner) planned(order []string, t time.Time) {
	for _, name := range order {
		n := r.byName[name]
		c := service.CommandsFor(n, r.opts.Mode)
		if k := r.kind(name); k != Restart {
			r.event(name, StepInstall, ResultPlanned, t, "install the new files, then %s", k)
			continue
		}
		r.event(name, StepStop, ResultPlanned, t, "%s", c.Stop)
		r.event(name, StepExit, ResultPlanned, t, "wait up to %s for the process to exit", c.ExitBound)
		r.event(name, StepStart, ResultPlanned, t, "%s", c.Start)
		r.event(name, StepReady, ResultPlanned, t, "within %s: /varz shows a new start, full /healthz ok, routes to all peers on %s and on its peers, JetStream meta leader known and %s current on it", r.opts.NodeTimeout, name, name)
	}
}

// checkAll runs every action's Check at once, under the lock.
func (r *runner) checkAll(ctx context.Context) error {
	if len(r.cfg.Actions) == 0 {
		return nil
	}
	t := r.clock.Now()
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range r.cfg.Nodes {
		a, h := r.cfg.Actions[n.Name], r.hosts[n.Name]
		if a == nil || h == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.Check(ctx, h)
			mu.Lock()
			errs[n.Name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	var failed []string
	for _, n := range r.cfg.Nodes {
		if err := errs[n.Name]; err != nil {
			failed = append(failed, text.OneLine(err.Error()))
		}
	}
	if len(failed) > 0 {
		err := fmt.Errorf("%s; nothing was changed: rerun natsops %s to see the current plan", strings.Join(failed, "; "), r.cfg.Command)
		r.event("", StepCheck, ResultFailed, t, "%v", err)
		return r.errorf(&Error{Kind: KindCheck, Err: err})
	}
	r.event("", StepCheck, ResultOK, t, "every node is as the plan saw it")
	return nil
}

// connectAll reaches every inventory node at once (into r.hosts) and
// returns why the others could not be reached.
func (r *runner) connectAll(ctx context.Context) map[string]error {
	hosts := map[string]remote.Host{}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range r.inv.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := r.cfg.Connect(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[n.Name] = err
				return
			}
			hosts[n.Name] = h
		}()
	}
	wg.Wait()
	r.hosts = hosts
	return errs
}

// deadNote says which dead nodes preflight judged the cluster without.
func deadNote(dead []string) string {
	if len(dead) == 0 {
		return ""
	}
	return " (without " + strings.Join(dead, ", ") + ", dead)"
}
