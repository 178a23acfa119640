// Package rollout restarts the nodes of a NATS cluster one at a time, gated
// on every node's monitoring endpoint: preflight, a cluster-wide lock on
// the nodes, followers first and the JetStream meta leader last, stop
// (lame duck or fast), wait for exit, start, and wait until the node is
// back on itself and on its peers before the next one.
//
// It is its own package because it is the one place that both drives
// hosts (pkg/remote) and reads monitoring (pkg/monitor) in a loop with
// time: pkg/cluster stays pure (it never talks to a host) and decides
// readiness; this package polls, sequences and records. Hosts, the
// monitoring client and the clock are injected, so the whole sequence is
// unit-tested with fakes.
package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Monitor reads one node's monitoring endpoint (*monitor.Client).
type Monitor interface {
	Snapshot(ctx context.Context, baseURL string) *monitor.Snapshot
}

// Clock is time for the rollout; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Options tune one rollout.
type Options struct {
	Mode service.Mode
	// NodeTimeout bounds start -> ready for each node (default 2m).
	NodeTimeout time.Duration
	// Poll is the health poll interval (default 50ms).
	Poll time.Duration
	// Force skips the preflight refusal (reported as a warning event).
	Force bool
	// Settle is how long preflight waits for an unhealthy cluster to
	// become healthy before it refuses (default 10s).
	Settle time.Duration
	// DryRun reads, plans and reports; it changes nothing on any node.
	DryRun bool
	// BreakLock removes another rollout's lock first.
	BreakLock bool
	// Owner is user@host, PID this process: written into the lock.
	Owner string
	PID   int
	// ProcessAlive, when set, tells whether a local pid runs (a lock held
	// by a dead process of this machine is stale).
	ProcessAlive func(pid int) bool
}

// Config is one rollout's input.
type Config struct {
	Inventory *cluster.Inventory
	// Nodes are the nodes to restart (a subset of the inventory's).
	Nodes []*cluster.Node
	// Connect reaches a node's host; every inventory node is connected
	// (preflight and the lock cover the whole cluster).
	Connect func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	Monitor Monitor
	// URL is a node's monitoring base URL.
	URL   func(n *cluster.Node) string
	Clock Clock
	// Events receives every step as it finishes.
	Events func(Event)
	Options
}

// Event is one step of the rollout (-o json: one per line).
type Event struct {
	Node      string `json:"node,omitempty"`
	Step      string `json:"step"`
	Result    string `json:"result"`
	ElapsedMS int64  `json:"elapsed_ms"`
	Detail    string `json:"detail,omitempty"`
}

// Event results.
const (
	ResultOK          = "ok"
	ResultFailed      = "failed"
	ResultSkipped     = "skipped"
	ResultWarning     = "warning"
	ResultPlanned     = "planned"
	ResultInterrupted = "interrupted"
	ResultWaiting     = "waiting"
)

// Steps.
const (
	StepConnect   = "connect"
	StepPreflight = "preflight"
	StepOrder     = "order"
	StepLock      = "lock"
	StepResume    = "resume"
	StepStop      = "stop"
	StepExit      = "exit"
	StepStart     = "start"
	StepReady     = "ready"
	StepLogs      = "logs"
	StepUnlock    = "unlock"
	StepDone      = "done"
)

// Report is what a rollout did.
type Report struct {
	ID      string        `json:"rollout"`
	Order   []string      `json:"order"`
	Done    []string      `json:"done"`
	Skipped []string      `json:"skipped,omitempty"`
	NotDone []string      `json:"not_done,omitempty"`
	Elapsed time.Duration `json:"-"`
}

// DefaultSettle is Options.Settle's default.
const DefaultSettle = 10 * time.Second

// ReasonSSH: preflight could not reach a node's host over SSH.
const ReasonSSH = "ssh-unreachable"

// Error kinds.
const (
	KindPreflight   = "preflight"
	KindLock        = "lock"
	KindNode        = "node"
	KindInterrupted = "interrupted"
)

// Error is a rollout that stopped: which node, which step, why, and the
// node's last log lines.
type Error struct {
	Kind    string
	Node    string
	Step    string
	Reasons []health.Reason
	Logs    string
	Err     error
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindPreflight:
		var b strings.Builder
		b.WriteString("preflight: the cluster is not healthy, nothing was restarted:")
		for _, r := range e.Reasons {
			b.WriteString("\n  " + r.String())
		}
		b.WriteString("\nfix these first (natsops status shows the cluster), or restart one node with --node NAME --force")
		return b.String()
	case KindLock:
		return e.Err.Error()
	case KindInterrupted:
		return fmt.Sprintf("interrupted before %s %s; rerun natsops restart to resume (nodes already restarted are skipped)", e.Step, e.Node)
	}
	return e.Summary() + "\nthe rollout stopped here; later nodes were not touched. Fix the node (its last log lines are shown; natsops status shows the cluster), then rerun natsops restart to resume (add --force while that node is still down: preflight refuses an unhealthy cluster)"
}

// Summary is a node failure without the advice on what to do next (a
// caller that rolled the node back gives its own): node, step, error and
// the reasons the node is not back.
func (e *Error) Summary() string {
	if e.Kind != KindNode {
		return e.Error()
	}
	var b strings.Builder
	if e.Node != "" {
		b.WriteString(e.Node + ": ")
	}
	fmt.Fprintf(&b, "%s failed: %v", e.Step, e.Err)
	for _, r := range e.Reasons {
		b.WriteString("\n  " + r.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// runner is one rollout in progress.
type runner struct {
	cfg    Config
	opts   Options
	clock  Clock
	lock   LockInfo
	locked []string
	emit   func(Event)
	byName map[string]*cluster.Node
	// Under --force: nodes serving at preflight, and the problems already
	// there (not blamed on the restarted node).
	upAtStart map[string]bool
	baseline  map[string]bool
	// state is a stopped rollout's, read with the lock.
	state     *State
	stateFrom string
	finished  bool
}

// Run restarts cfg.Nodes one at a time. On failure it returns *Error (or
// *LockHeldError wrapped in one) and a report of what was and was not done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, opts: cfg.Options, clock: cfg.Clock, emit: cfg.Events, byName: map[string]*cluster.Node{}}
	if r.clock == nil {
		r.clock = RealClock{}
	}
	if r.emit == nil {
		r.emit = func(Event) {}
	}
	if r.opts.Mode == "" {
		r.opts.Mode = service.Graceful
	}
	if r.opts.NodeTimeout <= 0 {
		r.opts.NodeTimeout = 2 * time.Minute
	}
	if r.opts.Poll <= 0 {
		r.opts.Poll = 50 * time.Millisecond
	}
	if r.opts.Settle <= 0 {
		r.opts.Settle = DefaultSettle
	}
	for _, n := range cfg.Inventory.Nodes {
		r.byName[n.Name] = n
	}
	return r.run(ctx)
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *runner) event(node, step, result string, since time.Time, format string, args ...any) {
	r.emit(Event{Node: node, Step: step, Result: result, ElapsedMS: r.clock.Now().Sub(since).Milliseconds(), Detail: fmt.Sprintf(format, args...)})
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	begin := r.clock.Now()
	rep := &Report{ID: newID()}
	r.lock = LockInfo{ID: rep.ID, Owner: r.opts.Owner, PID: r.opts.PID, Started: begin.UTC()}
	inv := r.cfg.Inventory

	// Connect to every node and read every monitoring endpoint at once.
	var t time.Time
	hosts, sshErrs := r.connectAll(ctx)
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	// Lock every reachable node of the cluster first: a rollout in
	// progress makes the cluster look unhealthy, and the second must be
	// told about the first, not about its node being down.
	if !r.opts.DryRun {
		t = r.clock.Now()
		if err := r.acquire(ctx, hosts); err != nil {
			r.event("", StepLock, ResultFailed, t, "%v", err)
			rep.NotDone = names(r.cfg.Nodes)
			return rep, &Error{Kind: KindLock, Err: err}
		}
		r.event("", StepLock, ResultOK, t, "%s on %s as %s", r.lockWhere(), strings.Join(r.locked, ", "), r.lock.Owner)
		defer func() {
			t := r.clock.Now()
			r.release(hosts, r.locked)
			r.event("", StepUnlock, ResultOK, t, "released")
		}()
	}
	t = r.clock.Now()
	var reasons []health.Reason
	for _, n := range inv.Nodes {
		if err := sshErrs[n.Name]; err != nil {
			reasons = append(reasons, health.Reason{Node: n.Name, Code: ReasonSSH, Msg: oneLine(err.Error())})
		}
	}
	snaps, ready := r.settle(ctx, len(reasons) > 0 || r.opts.Force)
	reasons = append(reasons, ready...)
	r.upAtStart, r.baseline = map[string]bool{}, map[string]bool{}
	for _, n := range inv.Nodes {
		if up(snaps[n.Name]) {
			r.upAtStart[n.Name] = true
		}
	}
	if r.opts.Force {
		for _, rs := range reasons {
			r.baseline[rs.Node+"/"+rs.Code] = true
		}
	}
	if len(reasons) == 0 {
		r.event("", StepPreflight, ResultOK, t, "%d nodes reachable (host and :8222), healthy, routes complete", len(inv.Nodes))
	} else if r.opts.Force {
		for _, rs := range reasons {
			r.event(rs.Node, StepPreflight, ResultWarning, t, "--force: skipped preflight check: %s (%s)", rs.Msg, rs.Code)
		}
	} else {
		for _, rs := range reasons {
			r.event(rs.Node, StepPreflight, ResultFailed, t, "%s (%s)", rs.Msg, rs.Code)
		}
		return rep, &Error{Kind: KindPreflight, Reasons: reasons}
	}
	for _, n := range r.cfg.Nodes {
		if hosts[n.Name] == nil {
			err := fmt.Errorf("cannot reach the host over SSH: %v", sshErrs[n.Name])
			r.event(n.Name, StepConnect, ResultFailed, t, "%v", err)
			return rep, &Error{Kind: KindNode, Node: n.Name, Step: StepConnect, Err: err}
		}
	}

	rep.Order = Order(r.cfg.Nodes, snaps)
	r.event("", StepOrder, ResultOK, t, "%s (followers first, JetStream meta leader last: %s)", strings.Join(rep.Order, ", "), orNone(health.MetaLeader(snaps)))

	if r.opts.DryRun {
		for _, name := range rep.Order {
			n := r.byName[name]
			c := service.CommandsFor(n, r.opts.Mode)
			r.event(name, StepStop, ResultPlanned, t, "%s", c.Stop)
			r.event(name, StepExit, ResultPlanned, t, "wait up to %s for the process to exit", c.ExitBound)
			r.event(name, StepStart, ResultPlanned, t, "%s", c.Start)
			r.event(name, StepReady, ResultPlanned, t, "within %s: /varz shows a new start, full /healthz ok, routes to all peers on %s and on its peers, JetStream meta leader known and %s current on it", r.opts.NodeTimeout, name, name)
		}
		rep.NotDone = rep.Order
		return rep, nil
	}

	// Resume a rollout that stopped, or record this one.
	st, from := r.state, r.stateFrom
	if st != nil {
		r.event("", StepResume, ResultOK, t, "resuming rollout %s by %s started %s (state on %s)", st.ID, st.Owner, st.Started.Format(time.RFC3339), from)
		rep.ID = st.ID
	} else {
		st = &State{ID: rep.ID, Owner: r.lock.Owner, Started: begin.UTC(), Mode: r.opts.Mode, Before: map[string]time.Time{}}
	}
	var todo []string
	for _, name := range rep.Order {
		s := snaps[name]
		before, known := st.Before[name]
		if known && s != nil && s.Varz != nil && !s.Varz.Start.Equal(before) {
			r.event(name, StepResume, ResultSkipped, t, "already restarted in this rollout (started %s, was %s)", s.Varz.Start.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano))
			rep.Skipped = append(rep.Skipped, name)
			continue
		}
		if !known && s != nil && s.Varz != nil {
			st.Before[name] = s.Varz.Start
		}
		todo = append(todo, name)
	}
	if err := r.writeState(ctx, hosts, st); err != nil {
		return rep, &Error{Kind: KindNode, Step: "record state", Err: err}
	}

	for i := 0; i < len(todo); i++ {
		name := todo[i]
		if ctx.Err() != nil {
			rep.NotDone = todo[i:]
			r.event(name, StepStop, ResultInterrupted, r.clock.Now(), "interrupted: %s not touched", name)
			return rep, &Error{Kind: KindInterrupted, Node: name, Step: "stopping", Err: ctx.Err()}
		}
		if err := r.restartNode(ctx, r.byName[name], hosts, snaps); err != nil {
			rep.NotDone = todo[i+1:]
			var re *Error
			if errors.As(err, &re) && re.Kind == KindInterrupted {
				rep.NotDone = todo[i:]
			}
			return rep, err
		}
		rep.Done = append(rep.Done, name)
		// The leader may have moved: keep it last among the rest.
		if leader := health.MetaLeader(snaps); leader != "" {
			rest := todo[i+1:]
			for k, n := range rest {
				if n == leader && k != len(rest)-1 {
					copy(rest[k:], rest[k+1:])
					rest[len(rest)-1] = leader
					break
				}
			}
		}
	}
	r.finished = true // the unlock removes the state
	rep.Elapsed = r.clock.Now().Sub(begin)
	r.event("", StepDone, ResultOK, begin, "restarted %s; skipped %s", orNone(strings.Join(rep.Done, ", ")), orNone(strings.Join(rep.Skipped, ", ")))
	return rep, nil
}

// settle reads the cluster until it is healthy or Settle has passed: under
// traffic a replica can be a moment behind (/healthz "stream ... is not
// current" right after a publish), which is no reason to refuse. A
// refusal stands only if the cluster stays unhealthy. once reads it once
// (--force, or a host already unreachable).
func (r *runner) settle(ctx context.Context, once bool) (map[string]*monitor.Snapshot, []health.Reason) {
	inv := r.cfg.Inventory
	begin := r.clock.Now()
	waited := false
	for {
		snaps := r.snapshot(ctx, inv.Nodes)
		monitor.NameRoutes(snaps)
		reasons := health.ClusterReady(inv, snaps)
		if len(reasons) == 0 || once || ctx.Err() != nil || r.clock.Now().Sub(begin) >= r.opts.Settle {
			return snaps, reasons
		}
		if !waited {
			waited = true
			r.event(reasons[0].Node, StepPreflight, ResultWaiting, begin, "not healthy yet (%s); waiting up to %s for it to settle", reasons[0].Msg, r.opts.Settle)
		}
		if err := r.clock.Sleep(ctx, settlePoll); err != nil {
			return snaps, reasons
		}
	}
}

// settlePoll is how often preflight rereads an unhealthy cluster.
const settlePoll = 250 * time.Millisecond

// Order puts nodes already down first (starting them cannot make things
// worse), then the followers in inventory order, the JetStream meta leader
// last.
func Order(nodes []*cluster.Node, snaps map[string]*monitor.Snapshot) []string {
	leader := health.MetaLeader(snaps)
	var down, up []string
	last := ""
	for _, n := range nodes {
		s := snaps[n.Name]
		switch {
		case s == nil || s.Varz == nil:
			down = append(down, n.Name)
		case n.Name == leader:
			last = n.Name
		default:
			up = append(up, n.Name)
		}
	}
	out := append(down, up...)
	if last != "" {
		out = append(out, last)
	}
	return out
}

func names(nodes []*cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// connectAll reaches every inventory node at once.
func (r *runner) connectAll(ctx context.Context) (map[string]remote.Host, map[string]error) {
	hosts := map[string]remote.Host{}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range r.cfg.Inventory.Nodes {
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
	return hosts, errs
}

// snapshot reads nodes' monitoring endpoints at once.
func (r *runner) snapshot(ctx context.Context, nodes []*cluster.Node) map[string]*monitor.Snapshot {
	out := make(map[string]*monitor.Snapshot, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := r.cfg.Monitor.Snapshot(ctx, r.cfg.URL(n))
			mu.Lock()
			out[n.Name] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// up reports a node whose monitoring endpoint answers /varz.
func up(s *monitor.Snapshot) bool { return s != nil && s.Varz != nil }

// restartNode runs one node's stop, exit, start and ready steps. snaps is
// updated with the latest reading of the cluster.
func (r *runner) restartNode(ctx context.Context, n *cluster.Node, hosts map[string]remote.Host, snaps map[string]*monitor.Snapshot) error {
	h := hosts[n.Name]
	c := service.CommandsFor(n, r.opts.Mode)
	fail := func(step string, err error, reasons []health.Reason, t time.Time) error {
		r.event(n.Name, step, ResultFailed, t, "%s", oneLine(err.Error()))
		logs := r.logs(h, c)
		return &Error{Kind: KindNode, Node: n.Name, Step: step, Err: err, Reasons: reasons, Logs: logs}
	}

	// Never two down: every other node must be serving before this one
	// stops (unless this one is already down: starting it only helps).
	t := r.clock.Now()
	prev := snaps[n.Name]
	wasUp := up(prev)
	fresh := r.snapshot(ctx, r.cfg.Inventory.Nodes)
	if ctx.Err() != nil {
		// Interrupted while reading: the readings are errors, not nodes
		// down. Nothing was touched.
		r.event(n.Name, StepStop, ResultInterrupted, t, "interrupted: %s not touched", n.Name)
		return &Error{Kind: KindInterrupted, Node: n.Name, Step: "stopping", Err: ctx.Err()}
	}
	for k, v := range fresh {
		snaps[k] = v
	}
	monitor.NameRoutes(snaps)
	if up(snaps[n.Name]) {
		prev = snaps[n.Name]
		wasUp = true
	}
	if wasUp {
		var down []string
		for _, p := range r.cfg.Inventory.Nodes {
			if p.Name != n.Name && !up(snaps[p.Name]) {
				down = append(down, p.Name)
			}
		}
		if len(down) > 0 {
			return fail(StepStop, fmt.Errorf("refusing to stop %s while %s %s down: that would take two nodes down", n.Name, strings.Join(down, ", "), isAre(len(down))), nil, t)
		}
	}

	// From here on the node is going down: finish stop -> start even if
	// interrupted, so the cluster is left serving.
	dctx := context.WithoutCancel(ctx)
	cctx, cancel := context.WithTimeout(dctx, 30*time.Second+c.ExitBound+15*time.Second+60*time.Second)
	res, runErr := h.Run(cctx, c.Cycle(), remote.RunOptions{Sudo: true})
	cancel()
	out := ""
	if res != nil {
		out = string(res.Stdout)
	}
	begin, steps := service.ParseCycle(out)
	// missing: the script stopped answering before step (transport).
	missing := func(step string) error {
		if runErr != nil {
			return runErr
		}
		msg := strings.TrimSpace(string(res.Stderr))
		return fmt.Errorf("no result for the %s step (exit %d): %s", step, res.ExitCode, oneLine(msg))
	}
	stepErr := func(cmd string, s *service.CycleStep) error {
		return fmt.Errorf("%s: exit %d: %s", firstLine(cmd), s.Exit, oneLine(s.Out))
	}
	at := begin
	emit := func(step, result string, s *service.CycleStep, detail string) {
		r.emit(Event{Node: n.Name, Step: step, Result: result, ElapsedMS: max(s.MS-at, 0), Detail: detail})
		at = s.MS
	}
	stop := steps["stop"]
	switch {
	case stop == nil:
		return fail(StepStop, missing("stop"), nil, t)
	case stop.Exit != 0:
		return fail(StepStop, stepErr(c.Stop, stop), nil, t)
	case strings.Contains(stop.Out, service.MarkNotRunning):
		emit(StepStop, ResultSkipped, stop, "not running")
	default:
		emit(StepStop, ResultOK, stop, string(r.opts.Mode)+" stop sent")
		ex := steps["exit"]
		switch {
		case ex == nil:
			return fail(StepExit, missing("exit"), nil, t)
		case ex.Exit != 0:
			return fail(StepExit, stepErr(c.WaitExit, ex), nil, t)
		case !strings.Contains(ex.Out, service.MarkExited):
			return fail(StepExit, fmt.Errorf("the server did not exit within %s of the %s stop; it is still running (lame duck?): nothing was started", c.ExitBound, r.opts.Mode), nil, t)
		}
		emit(StepExit, ResultOK, ex, "process exited")
	}
	start := steps["start"]
	switch {
	case start == nil:
		return fail(StepStart, missing("start"), nil, t)
	case start.Exit != 0:
		return fail(StepStart, stepErr(c.Start, start), nil, t)
	}
	emit(StepStart, ResultOK, start, firstLine(c.Start))

	// Wait until it is back, on itself and on its peers.
	t = r.clock.Now()
	e := health.Expect{}
	if up(prev) {
		e.RestartedAfter, e.PrevServerID = prev.Varz.Start, prev.Varz.ServerID
	}
	alive := c.Alive
	if n.Service.Manager == "pidfile" {
		alive = service.AliveCommand(n, service.StartPID(start.Out))
	}
	reasons, err := r.waitReady(ctx, n, e, snaps, hosts, alive)
	if err != nil {
		if ctx.Err() != nil {
			r.event(n.Name, StepReady, ResultInterrupted, t, "interrupted while waiting: %s was started but is not confirmed back", n.Name)
			return &Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming", Err: ctx.Err()}
		}
		return fail(StepReady, err, reasons, t)
	}
	r.event(n.Name, StepReady, ResultOK, t, "back: new start, /healthz ok, routes on it and its peers, JetStream current")
	return nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// logs returns the node's last log lines (best effort).
func (r *runner) logs(h remote.Host, c service.Commands) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := h.Run(ctx, c.Logs, remote.RunOptions{Sudo: true})
	if err != nil {
		return fmt.Sprintf("(cannot read logs: %v)", err)
	}
	out := strings.TrimRight(string(res.Stdout), "\n")
	r.emit(Event{Node: h.Name(), Step: StepLogs, Result: ResultOK, Detail: out})
	return out
}

// waitReady polls until Gate holds, at most NodeTimeout. The node alone is
// read until it answers ready (cheap); then the whole cluster. While the
// node's (or a peer's) monitoring endpoint does not answer, its process is
// checked on its host every aliveEvery: a server that died at start, or a
// peer that went down meanwhile, stops the wait at once instead of at the
// timeout.
func (r *runner) waitReady(ctx context.Context, n *cluster.Node, e health.Expect, snaps map[string]*monitor.Snapshot, hosts map[string]remote.Host, alive string) ([]health.Reason, error) {
	deadline := r.clock.Now().Add(r.opts.NodeTimeout)
	var peers []*cluster.Node
	for _, p := range r.cfg.Inventory.Nodes {
		if p != n {
			peers = append(peers, p)
			if r.upAtStart[p.Name] || !r.opts.Force {
				e.Peers = append(e.Peers, p.Name)
			}
		}
	}
	e.JetStream = n.JetStreamEnabled()
	lv := &liveness{last: map[string]time.Time{}, dead: map[string]int{}}
	var swept time.Time
	for {
		s := r.cfg.Monitor.Snapshot(ctx, r.cfg.URL(n))
		snaps[n.Name] = s
		monitor.NameRoutes(snaps)
		reasons := health.NodeReady(n.Name, s, e)
		peersRead := false
		if len(reasons) == 0 {
			for k, v := range r.snapshot(ctx, peers) {
				snaps[k] = v
			}
			peersRead = true
			monitor.NameRoutes(snaps)
			reasons = append(r.unlessBaseline(n.Name, Gate(r.cfg.Inventory, n.Name, snaps)), r.peersSee(n.Name, snaps)...)
			if len(reasons) == 0 {
				return nil, nil
			}
		}
		if !up(s) {
			if why := r.gone(ctx, n, hosts[n.Name], alive, lv); why != "" {
				return reasons, fmt.Errorf("nats-server on %s exited after it was started: %s", n.Name, why)
			}
		} else if now := r.clock.Now(); peersRead || now.Sub(swept) >= aliveEvery {
			// The node serves but is not back: is a peer gone?
			if !peersRead {
				swept = now
				for k, v := range r.snapshot(ctx, peers) {
					snaps[k] = v
				}
			}
			for _, p := range peers {
				if r.upAtStart[p.Name] && !up(snaps[p.Name]) {
					if why := r.gone(ctx, p, hosts[p.Name], service.CommandsFor(p, r.opts.Mode).Alive, lv); why != "" {
						return reasons, fmt.Errorf("%s went down while %s was coming back: %s; the rollout stopped so that no second node is taken down", p.Name, n.Name, why)
					}
				}
			}
		}
		if ctx.Err() != nil {
			return reasons, ctx.Err()
		}
		if !r.clock.Now().Before(deadline) {
			return reasons, fmt.Errorf("not back within %s", r.opts.NodeTimeout)
		}
		if err := r.clock.Sleep(ctx, r.opts.Poll); err != nil {
			return reasons, err
		}
	}
}

// aliveEvery is how often, at most, a silent node's process is checked on
// its host; deadReadings consecutive "gone" answers make it gone (one could
// be a start command that forks, between its exit and the pid file).
const (
	aliveEvery   = time.Second
	deadReadings = 2
)

// liveness is the process checks of one wait.
type liveness struct {
	last map[string]time.Time
	dead map[string]int
}

// gone checks node's process on its host (at most every aliveEvery) and
// returns why it is gone once deadReadings checks in a row found no
// process; "" while it runs, is unknown or was checked too recently.
func (r *runner) gone(ctx context.Context, n *cluster.Node, h remote.Host, cmd string, lv *liveness) string {
	if h == nil || cmd == "" {
		return ""
	}
	now := r.clock.Now()
	if t, ok := lv.last[n.Name]; ok && now.Sub(t) < aliveEvery {
		return ""
	}
	lv.last[n.Name] = now
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := h.Run(cctx, cmd, remote.RunOptions{Sudo: true})
	if err != nil || res == nil {
		return "" // the host did not answer: the timeout decides
	}
	out := strings.TrimSpace(string(res.Stdout))
	i := strings.Index(out, service.MarkDead)
	if i < 0 {
		lv.dead[n.Name] = 0
		return ""
	}
	lv.dead[n.Name]++
	if lv.dead[n.Name] < deadReadings {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(out[i:], service.MarkDead))
}

// unlessBaseline drops, under --force, problems of other nodes that were
// already there at preflight.
func (r *runner) unlessBaseline(node string, rs []health.Reason) []health.Reason {
	var out []health.Reason
	for _, x := range rs {
		if x.Node != node && r.baseline[x.Node+"/"+x.Code] {
			continue
		}
		out = append(out, x)
	}
	return out
}

// peersSee requires every node serving at preflight to list a route to
// node again (also under --force, where other problems may be excused).
func (r *runner) peersSee(node string, snaps map[string]*monitor.Snapshot) []health.Reason {
	var out []health.Reason
	for _, p := range r.cfg.Inventory.Nodes {
		if p.Name == node || !r.upAtStart[p.Name] {
			continue
		}
		s := snaps[p.Name]
		if s == nil || s.Routez == nil {
			out = append(out, health.Reason{Node: p.Name, Code: health.ReasonUnreachable, Msg: "no /routez reading"})
			continue
		}
		if !slices.Contains(s.Routez.Peers(), node) {
			out = append(out, health.Reason{Node: p.Name, Code: health.ReasonRoutes, Msg: "no route back to " + node + " yet"})
		}
	}
	return out
}

// Gate decides, after node was restarted, whether the cluster has it back:
// every node ready with routes to all its inventory peers (so the peers
// see node again), one JetStream meta leader, and node current on it. The
// node's own restart (new start) is checked by NodeReady with Expect
// before. Pure.
func Gate(inv *cluster.Inventory, node string, snaps map[string]*monitor.Snapshot) []health.Reason {
	out := health.ClusterReady(inv, snaps)
	var js bool
	for _, n := range inv.Nodes {
		if n.Name == node {
			js = n.JetStreamEnabled()
		}
	}
	if !js || len(out) > 0 {
		return out
	}
	leader := health.MetaLeader(snaps)
	if leader == "" || leader == node {
		return out
	}
	s := snaps[leader]
	if s == nil || s.Jsz == nil || s.Jsz.Meta == nil {
		return append(out, health.Reason{Node: node, Code: health.ReasonJSNotCurrent, Msg: "meta leader " + leader + " does not report its replicas"})
	}
	for _, rp := range s.Jsz.Meta.Replicas {
		if rp.Name == node {
			return out // ClusterReady checked current/offline
		}
	}
	names := make([]string, 0, len(s.Jsz.Meta.Replicas))
	for _, rp := range s.Jsz.Meta.Replicas {
		names = append(names, rp.Name)
	}
	sort.Strings(names)
	return append(out, health.Reason{Node: node, Code: health.ReasonJSNotCurrent, Msg: fmt.Sprintf("meta leader %s does not list %s among its replicas (%s)", leader, node, strings.Join(names, ", "))})
}
