// Package rollout changes the nodes of a NATS cluster one at a time, gated
// on every node's monitoring endpoint: a cluster-wide lock on the nodes,
// preflight, followers first and the JetStream meta leader last, and per
// node either a restart (stop, wait for exit, start, wait until the node
// is back on itself and on its peers) or, for a deploy, the node's Action:
// install its files, reload or restart, confirm, and roll it back when it
// does not come back.
//
// It is the one place that both drives hosts (pkg/remote, with the
// commands of pkg/service) and reads monitoring (pkg/fleet) in a loop with
// time. Whether a node or the cluster is ready is decided by pkg/health;
// what a deploy changes is decided by pkg/deploy. Hosts, the monitor and
// the clock are injected, so every sequence is unit-tested with fakes.
package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Options tune one rollout.
type Options struct {
	Mode service.Mode
	// NodeTimeout bounds start -> ready for each node (default 2m).
	NodeTimeout time.Duration
	// ReloadTimeout bounds reload -> loaded and serving (default 15s).
	ReloadTimeout time.Duration
	// Poll is the health poll interval (default 50ms).
	Poll time.Duration
	// Force skips the preflight refusal (reported as a warning event),
	// and the JetStream check's refusal of a binary change (an API level
	// the target lacks, a minor-version jump over one).
	Force bool
	// AllowUnavailable stops a node although streams or consumers would
	// lose availability (R1 on it, or too few other replicas current),
	// or a meta peer is not current (each reported as a warning event).
	AllowUnavailable bool
	// Settle is how long preflight waits for an unhealthy cluster to
	// become healthy before it refuses (default 10s).
	Settle time.Duration
	// DryRun reads, plans and reports; it changes nothing on any node.
	DryRun bool
	// BreakLock removes another rollout's lock first.
	BreakLock bool
	// NoResume starts afresh even when a stopped rollout of the same
	// operation could be resumed.
	NoResume bool
	// Bootstrap forms a cluster that has never formed: every node's
	// action installed first, then every node started at once, then one
	// wait for the whole cluster (a JetStream meta group cannot come up
	// one node at a time). Every inventory node needs an action.
	Bootstrap bool
	// Owner is user@host, PID this process: written into the lock.
	Owner string
	PID   int
	// ProcessAlive, when set, tells whether a local pid runs (a lock held
	// by a dead process of this machine is stale).
	ProcessAlive func(pid int) bool
	// StopAfter, when positive, stops the rollout once this run has done
	// that many nodes (a canary): the lock is released and the resume
	// state kept, so a rerun of the same operation continues with the
	// rest; Report.StoppedAfter says so.
	StopAfter int
	// Pause is a soak between two nodes (not after the last): the rollout
	// waits this long, reporting the countdown through Config.Pausing; a
	// cancellation during it stops the rollout as interrupted with the
	// state kept.
	Pause time.Duration
	// HealthyFor is how long a restarted node must stay back, every
	// reading healthy (the node ready and the cluster gate), before the
	// rollout goes on (default DefaultHealthyFor): a node whose /healthz
	// said ok while it was still catching up (nats-server#4875, #5976)
	// fails here instead of after the next node went down.
	HealthyFor time.Duration
	// StartTimeout bounds the wait for a node's first start after a binary
	// change (its Action is an Upgrader that says so) instead of
	// NodeTimeout, and is never shorter than it (default
	// DefaultStartTimeout): an upgrade can need a long first start
	// (nats-server#4914).
	StartTimeout time.Duration
}

// DefaultHealthyFor is Options.HealthyFor's default: at the default 50ms
// poll, two more full readings (node and cluster) after the one that
// found the node back, so three in a row. Each costs its window once per
// node, which no other gate overlaps: on the 3-node testbed 150ms made a
// fast rolling restart 1.28x the floor (bench/restart-floor.sh, 5 runs);
// see docs/rollouts.md "What the gates cost" for the figures at this default. A
// replica still catching up extends the window (holdReady) whatever it is.
const DefaultHealthyFor = 100 * time.Millisecond

// DefaultStartTimeout is Options.StartTimeout's default.
const DefaultStartTimeout = 10 * time.Minute

// PauseTick is one moment of a --pause soak: the node done, the node
// next, how long is left (Left is 0 on the last tick).
type PauseTick struct {
	After string
	Next  string
	Total time.Duration
	Left  time.Duration
}

// Config is one rollout's input.
type Config struct {
	Inventory *cluster.Inventory
	// Nodes are the nodes to change (a subset of the inventory's).
	Nodes []*cluster.Node
	// Actions are the nodes' changes by name (a deploy); a node without
	// one is restarted.
	Actions map[string]Action
	// Joining are nodes that are not members of the (formed) cluster yet
	// (scale-out): preflight judges the cluster without them, they are
	// never counted as down, they are started after every other node, and
	// each is waited for until its peers and the meta leader have it.
	Joining []string
	// Operation names what this run does (the command and its plan): a
	// stopped rollout is resumed only by a run of the same operation.
	Operation string
	// Command is the natsops command that runs the rollout, for the advice
	// in errors ("restart" or "deploy").
	Command string
	// Connect reaches a node's host; every inventory node is connected
	// (preflight and the lock cover the whole cluster).
	Connect func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	Monitor fleet.Monitor
	// URL is a node's monitoring base URL (nil: Node.MonitorURL).
	URL   func(n *cluster.Node) string
	Clock fleet.Clock
	// Events receives every step as it finishes.
	Events func(Event)
	// Pausing, when set, is told about a pause between nodes when it
	// starts, about every second, and when it ends (Left 0): cmd draws
	// the countdown on a terminal. Events still report the pause.
	Pausing func(PauseTick)
	// Across is how the cluster's rollout sees the rest of its estate
	// (the zero value: a cluster on its own).
	Across Across
	Options
}

// Across is what a cluster of an estate adds to its rollout: nodes of
// the other clusters to read with its own, never changed (its
// supercluster's JetStream meta leader may be one of them), and the
// estate's gate (gateways both ways, leaf connections), judged with the
// cluster's on every reading: in preflight, before a node is left and
// while it must stay ready.
type Across struct {
	Observe []*cluster.Node
	// Gate judges the cluster as it stands (its nodes less the joining
	// ones not started yet) on the readings.
	Gate func(cur *cluster.Inventory, snaps map[string]*monitor.Snapshot) []health.Reason
	// Options are the endpoints to read per node beyond the usual four
	// (fleet.EstateOptions).
	Options func(*cluster.Node) monitor.SnapshotOptions
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
	// ResultStopped: the rollout stopped as asked (Options.StopAfter).
	ResultStopped = "stopped"
)

// Steps.
const (
	StepConnect   = "connect"
	StepLock      = "lock"
	StepCheck     = "check"
	StepPreflight = "preflight"
	StepOrder     = "order"
	StepResume    = "resume"
	StepInstall   = "install"
	StepReload    = "reload"
	StepStop      = "stop"
	StepExit      = "exit"
	StepStart     = "start"
	StepReady     = "ready"
	StepLogs      = "logs"
	StepRollback  = "rollback"
	StepSteady    = "steady"
	StepPause     = "pause"
	StepUnlock    = "unlock"
	StepDone      = "done"
)

// Report is what a rollout did.
type Report struct {
	ID      string   `json:"rollout"`
	Order   []string `json:"order"`
	Done    []string `json:"done"`
	Skipped []string `json:"skipped,omitempty"`
	NotDone []string `json:"not_done,omitempty"`
	// Applied is how each done node took its change.
	Applied map[string]Kind `json:"applied,omitempty"`
	// StoppedAfter is set when Options.StopAfter stopped the rollout
	// (the nodes this run did; NotDone are the rest, left for a rerun).
	StoppedAfter int           `json:"stopped_after,omitempty"`
	Elapsed      time.Duration `json:"-"`
}

// DefaultSettle is Options.Settle's default.
const DefaultSettle = 10 * time.Second

// DefaultReloadTimeout is Options.ReloadTimeout's default.
const DefaultReloadTimeout = 15 * time.Second

// ResumeWithin is how old a stopped rollout's state may be for a rerun of
// the same operation to resume it; older state is ignored.
const ResumeWithin = time.Hour

// ReasonSSH: preflight could not reach a node's host over SSH.
const ReasonSSH = "ssh-unreachable"

// ReasonRestartedAgain: a node found back was a new process again while it
// had to stay ready (it crashed and its service manager started it).
const ReasonRestartedAgain = "restarted-again"

// Error kinds.
const (
	KindPreflight   = "preflight"
	KindLock        = "lock"
	KindCheck       = "check"
	KindNode        = "node"
	KindInterrupted = "interrupted"
)

// Error is a rollout that stopped: which node, which step, why, the
// node's last log lines and, when the node was rolled back, what that
// rollback did.
type Error struct {
	Kind    string
	Node    string
	Step    string
	Reasons []health.Reason
	Logs    string
	Err     error
	// RolledBack says what the rollback did when it worked ("" when
	// there was none); RollbackErr is why it did not.
	RolledBack  string
	RollbackErr error
	// Upfront: a JetStream refusal before any node was touched (not
	// one right before a later node's stop).
	Upfront bool
	command string
}

func (e *Error) cmd() string {
	if e.command == "" {
		return "restart"
	}
	return e.command
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindPreflight:
		var b strings.Builder
		b.WriteString("preflight: the cluster is not healthy, nothing was changed:")
		for _, r := range e.Reasons {
			b.WriteString("\n  " + r.String())
		}
		b.WriteString("\nfix these first (natsops status shows the cluster), or go on with --force")
		if e.cmd() == "restart" {
			b.WriteString(" (one node: --node NAME --force)")
		}
		return b.String()
	case KindLock, KindCheck:
		return e.Err.Error()
	case KindJetStream:
		return e.jetStreamError()
	case KindInterrupted:
		if e.Step == StepPause {
			return fmt.Sprintf("interrupted during the pause before %s: the nodes before it are done and recorded, %s was not touched; rerun natsops %s to continue", e.Node, e.Node, e.cmd())
		}
		return fmt.Sprintf("interrupted before %s %s; rerun natsops %s to continue", e.Step, e.Node, e.cmd())
	}
	switch {
	case e.Step == StepInstall:
		return e.Summary() + "\nthe rollout stopped here; later nodes were not touched. Fix the inventory (natsops validate; the node's own nats-server said why above), then rerun natsops " + e.cmd()
	case e.RolledBack != "":
		return e.Summary() + "\nrolled back: " + e.RolledBack + "; the nodes after it were not touched. Fix the inventory (the server's own error is in the log lines above), check it with natsops deploy --check, then rerun natsops deploy"
	case e.RollbackErr != nil:
		return e.Summary() + "\nrolling " + e.Node + " back failed: " + e.RollbackErr.Error() + "\nthe rollout stopped here; later nodes were not touched. Fix " + e.Node + " (natsops status shows the cluster)"
	}
	return e.Summary() + "\nthe rollout stopped here; later nodes were not touched. Fix the node (its last log lines are shown; natsops status shows the cluster), then rerun natsops " + e.cmd() + " to resume (add --force while that node is still down: preflight refuses an unhealthy cluster)"
}

// Summary is a node failure without the advice on what to do next: node,
// step, error and the reasons the node is not back.
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
	clock  fleet.Clock
	read   fleet.Reader
	lock   LockInfo
	locked []string
	emit   func(Event)
	byName map[string]*cluster.Node
	hosts  map[string]remote.Host
	// snaps is the latest reading of every node.
	snaps fleet.Snapshots
	// Under --force: nodes serving at preflight, and the problems already
	// there (not blamed on the restarted node).
	upAtStart map[string]bool
	baseline  map[string]bool
	// state is this rollout's record on the nodes (resumed or new);
	// found is a stopped rollout's, read with the lock.
	state     *State
	found     *State
	foundFrom string
	finished  bool
	// absent are the joining nodes not started yet: the cluster is judged
	// without them.
	absent map[string]bool
}

// current is the cluster as it stands: the inventory without the joining
// nodes not started yet.
func (r *runner) current() *cluster.Inventory { return r.cfg.Inventory.Without(r.absent) }

// readAll reads nodes and the estate's observed nodes into into.
func (r *runner) readAll(ctx context.Context, nodes []*cluster.Node, into fleet.Snapshots) fleet.Snapshots {
	if len(r.cfg.Across.Observe) > 0 {
		nodes = append(append([]*cluster.Node(nil), nodes...), r.cfg.Across.Observe...)
	}
	return r.read.Read(ctx, nodes, into)
}

// across is the estate's verdict on the latest readings (nil alone).
func (r *runner) across() []health.Reason {
	if r.cfg.Across.Gate == nil {
		return nil
	}
	return r.cfg.Across.Gate(r.current(), r.snaps)
}

// Run changes cfg.Nodes one at a time. On failure it returns *Error (a
// held lock: KindLock wrapping *LockHeldError) and a report of what was
// and was not done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, opts: cfg.Options, clock: cfg.Clock, emit: cfg.Events, byName: map[string]*cluster.Node{}}
	if r.clock == nil {
		r.clock = fleet.RealClock{}
	}
	if r.emit == nil {
		r.emit = func(Event) {}
	}
	// Events come from one node at a time, except a bootstrap's (every
	// node at once): the caller's handler sees them one by one.
	var emitMu sync.Mutex
	emit := r.emit
	r.emit = func(e Event) {
		emitMu.Lock()
		defer emitMu.Unlock()
		emit(e)
	}
	if r.opts.Mode == "" {
		r.opts.Mode = service.Graceful
	}
	if r.opts.NodeTimeout <= 0 {
		r.opts.NodeTimeout = 2 * time.Minute
	}
	if r.opts.ReloadTimeout <= 0 {
		r.opts.ReloadTimeout = DefaultReloadTimeout
	}
	if r.opts.Poll <= 0 {
		r.opts.Poll = 50 * time.Millisecond
	}
	if r.opts.Settle <= 0 {
		r.opts.Settle = DefaultSettle
	}
	if r.opts.HealthyFor <= 0 {
		r.opts.HealthyFor = DefaultHealthyFor
	}
	if r.opts.StartTimeout <= 0 {
		r.opts.StartTimeout = DefaultStartTimeout
	}
	r.opts.StartTimeout = max(r.opts.StartTimeout, r.opts.NodeTimeout)
	r.read = fleet.Reader{Monitor: cfg.Monitor, URL: cfg.URL, Options: cfg.Across.Options}
	r.absent = map[string]bool{}
	for _, n := range cfg.Joining {
		r.absent[n] = true
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

func (r *runner) errorf(e *Error) *Error {
	e.command = r.cfg.Command
	return e
}

// kind is how node n takes its change.
func (r *runner) kind(n string) Kind {
	if a := r.cfg.Actions[n]; a != nil {
		return a.Kind()
	}
	return Restart
}

// restarts reports whether any selected node is restarted: only then does
// an unhealthy cluster stop the rollout at preflight.
func (r *runner) restarts() bool {
	for _, n := range r.cfg.Nodes {
		if k := r.kind(n.Name); k == Restart || k == Remove {
			return true
		}
	}
	return false
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	begin := r.clock.Now()
	rep := &Report{ID: newID(), Applied: map[string]Kind{}}
	r.lock = LockInfo{ID: rep.ID, Owner: r.opts.Owner, PID: r.opts.PID, Started: begin.UTC()}
	inv := r.cfg.Inventory

	// Connect to every node and read every monitoring endpoint at once.
	var t time.Time
	hosts, sshErrs := r.connectAll(ctx)
	r.hosts = hosts
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
		if err := r.acquire(ctx); err != nil {
			r.event("", StepLock, ResultFailed, t, "%v", err)
			rep.NotDone = names(r.cfg.Nodes)
			return rep, r.errorf(&Error{Kind: KindLock, Err: err})
		}
		r.event("", StepLock, ResultOK, t, "%s on %s as %s", r.lockWhere(), strings.Join(r.locked, ", "), r.lock.Owner)
		defer func() {
			t := r.clock.Now()
			r.release(r.locked)
			r.event("", StepUnlock, ResultOK, t, "released")
		}()
	}
	// A node with a change to install must be reachable before any node
	// is touched: nothing is half-applied.
	for _, n := range r.cfg.Nodes {
		if hosts[n.Name] == nil && r.cfg.Actions[n.Name] != nil {
			err := fmt.Errorf("cannot reach the host over SSH: %v; nothing was changed", sshErrs[n.Name])
			r.event(n.Name, StepConnect, ResultFailed, r.clock.Now(), "%v", err)
			rep.NotDone = names(r.cfg.Nodes)
			return rep, r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepConnect, Err: err})
		}
	}
	// Under the lock, every node is still as the plan saw it.
	if err := r.checkAll(ctx); err != nil {
		rep.NotDone = names(r.cfg.Nodes)
		return rep, err
	}
	if r.opts.Bootstrap && !r.opts.DryRun {
		err := r.bootstrap(ctx, rep)
		if err == nil {
			r.finished = true
			rep.Elapsed = r.clock.Now().Sub(begin)
			r.event("", StepDone, ResultOK, begin, "bootstrapped %s", strings.Join(rep.Done, ", "))
		}
		return rep, err
	}

	t = r.clock.Now()
	var reasons []health.Reason
	for _, n := range inv.Nodes {
		if err := sshErrs[n.Name]; err != nil {
			reasons = append(reasons, health.Reason{Node: n.Name, Code: ReasonSSH, Msg: oneLine(err.Error())})
		}
	}
	gate := r.restarts()
	// A node that leaves and is already down is no longer part of the
	// cluster preflight judges (only its meta group entry is left).
	for _, n := range r.cfg.Nodes {
		if r.kind(n.Name) == Remove && !up(r.read.Node(ctx, n)) {
			r.absent[n.Name] = true
		}
	}
	ready := r.settle(ctx, len(reasons) > 0 || r.opts.Force || !gate)
	reasons = append(reasons, ready...)
	r.upAtStart, r.baseline = map[string]bool{}, map[string]bool{}
	for _, n := range append(append([]*cluster.Node(nil), inv.Nodes...), r.cfg.Across.Observe...) {
		if up(r.snaps[n.Name]) {
			r.upAtStart[n.Name] = true
		}
	}
	if r.opts.Force || !gate {
		for _, rs := range reasons {
			r.baseline[rs.Node+"/"+rs.Code] = true
		}
	}
	switch {
	case len(reasons) == 0:
		r.event("", StepPreflight, ResultOK, t, "%d nodes reachable (host and :8222), healthy, routes complete", len(inv.Nodes))
	case r.opts.Force:
		for _, rs := range reasons {
			r.event(rs.Node, StepPreflight, ResultWarning, t, "--force: skipped preflight check: %s (%s)", rs.Msg, rs.Code)
		}
	case !gate:
		for _, rs := range reasons {
			r.event(rs.Node, StepPreflight, ResultWarning, t, "not healthy (%s: %s); no node is restarted, so the rollout goes on", rs.Msg, rs.Code)
		}
	default:
		for _, rs := range reasons {
			r.event(rs.Node, StepPreflight, ResultFailed, t, "%s (%s)", rs.Msg, rs.Code)
		}
		rep.NotDone = names(r.cfg.Nodes)
		return rep, r.errorf(&Error{Kind: KindPreflight, Reasons: reasons})
	}
	for _, n := range r.cfg.Nodes {
		if hosts[n.Name] == nil {
			err := fmt.Errorf("cannot reach the host over SSH: %v", sshErrs[n.Name])
			r.event(n.Name, StepConnect, ResultFailed, t, "%v", err)
			rep.NotDone = names(r.cfg.Nodes)
			return rep, r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepConnect, Err: err})
		}
	}

	if gate {
		rep.Order = joinersLast(r.removedFirst(Order(r.cfg.Nodes, r.snaps)), r.absent)
		r.event("", StepOrder, ResultOK, t, "%s (followers first, JetStream meta leader last: %s)", strings.Join(rep.Order, ", "), orNone(health.MetaLeader(r.snaps)))
	} else {
		// No node goes down: inventory order.
		rep.Order = names(r.cfg.Nodes)
		r.event("", StepOrder, ResultOK, t, "%s (inventory order: no node is restarted)", strings.Join(rep.Order, ", "))
	}

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

	todo := r.resume(rep, t)
	if err := r.writeState(ctx); err != nil {
		rep.NotDone = todo
		return rep, r.errorf(&Error{Kind: KindNode, Step: "record state", Err: err})
	}

	for i := 0; i < len(todo); i++ {
		name := todo[i]
		if ctx.Err() != nil {
			rep.NotDone = todo[i:]
			r.event(name, StepStop, ResultInterrupted, r.clock.Now(), "interrupted: %s not touched", name)
			return rep, r.errorf(&Error{Kind: KindInterrupted, Node: name, Step: "changing", Err: ctx.Err()})
		}
		// A joining node is part of the cluster from its start on: its
		// own gate, and every later one, expects it.
		delete(r.absent, name)
		if err := r.node(ctx, r.byName[name]); err != nil {
			rep.NotDone = todo[i+1:]
			var re *Error
			// Interrupted or refused before its stop: this node was not
			// touched either.
			if errors.As(err, &re) && (re.Kind == KindInterrupted || re.Kind == KindJetStream) {
				rep.NotDone = todo[i:]
			}
			return rep, err
		}
		rep.Done = append(rep.Done, name)
		rep.Applied[name] = r.kind(name)
		if s := r.snaps[name]; up(s) {
			r.state.Done[name] = s.Varz.Start
		} else {
			r.state.Done[name] = time.Time{}
		}
		if err := r.writeState(ctx); err != nil {
			rep.NotDone = todo[i+1:]
			return rep, r.errorf(&Error{Kind: KindNode, Node: name, Step: "record state", Err: err})
		}
		// The leader may have moved: keep it last among the rest.
		if gate {
			keepLeaderLast(todo[i+1:], health.MetaLeader(r.snaps))
			copy(todo[i+1:], joinersLast(todo[i+1:], r.absent))
		}
		rest := todo[i+1:]
		if len(rest) == 0 {
			continue
		}
		if r.opts.StopAfter > 0 && len(rep.Done) >= r.opts.StopAfter {
			// A canary: stop here, healthy, the state kept for a rerun.
			rep.NotDone, rep.StoppedAfter = rest, len(rep.Done)
			rep.Elapsed = r.clock.Now().Sub(begin)
			r.event("", StepDone, ResultStopped, begin, "stopped after %s as asked: %s done, %s not yet; a rerun of the same %s continues with them", plural(len(rep.Done), "node"), strings.Join(rep.Done, ", "), strings.Join(rest, ", "), orNone(r.cfg.Command))
			return rep, nil
		}
		if r.opts.Pause > 0 {
			if err := r.pause(ctx, name, rest[0]); err != nil {
				rep.NotDone = rest
				return rep, err
			}
		}
	}
	r.finished = true // the unlock removes the state
	rep.Elapsed = r.clock.Now().Sub(begin)
	r.event("", StepDone, ResultOK, begin, "changed %s; skipped %s", orNone(strings.Join(rep.Done, ", ")), orNone(strings.Join(rep.Skipped, ", ")))
	return rep, nil
}

// pause soaks between node after (done) and node next: Pause long,
// telling Config.Pausing the time left about every second. A
// cancellation stops the rollout as interrupted before next, with the
// done nodes recorded.
func (r *runner) pause(ctx context.Context, after, next string) error {
	t := r.clock.Now()
	total := r.opts.Pause
	tick := func(left time.Duration) {
		if r.cfg.Pausing != nil {
			r.cfg.Pausing(PauseTick{After: after, Next: next, Total: total, Left: left})
		}
	}
	r.event(after, StepPause, ResultWaiting, t, "pausing %s before %s", total, next)
	end := t.Add(total)
	for {
		left := end.Sub(r.clock.Now())
		if left <= 0 {
			break
		}
		tick(left)
		// Whole seconds left on every tick after the first.
		step := left % time.Second
		if step == 0 {
			step = time.Second
		}
		if err := r.clock.Sleep(ctx, step); err != nil {
			tick(0)
			r.event(next, StepPause, ResultInterrupted, t, "interrupted during the pause: %s not touched", next)
			return r.errorf(&Error{Kind: KindInterrupted, Node: next, Step: StepPause, Err: err})
		}
	}
	tick(0)
	r.event(after, StepPause, ResultOK, t, "paused %s after %s", total, after)
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// joinersLast moves the joining nodes after the members: the members take
// the new routes first, then the new nodes start.
func joinersLast(order []string, joining map[string]bool) []string {
	var members, joiners []string
	for _, n := range order {
		if joining[n] {
			joiners = append(joiners, n)
		} else {
			members = append(members, n)
		}
	}
	return append(members, joiners...)
}

// removedFirst moves the nodes that leave to the front: they go before the
// others drop their routes.
func (r *runner) removedFirst(order []string) []string {
	var first, rest []string
	for _, n := range order {
		if r.kind(n) == Remove {
			first = append(first, n)
		} else {
			rest = append(rest, n)
		}
	}
	return append(first, rest...)
}

// keepLeaderLast moves leader to the end of rest, in place.
func keepLeaderLast(rest []string, leader string) {
	if leader == "" {
		return
	}
	for k, n := range rest {
		if n == leader && k != len(rest)-1 {
			copy(rest[k:], rest[k+1:])
			rest[len(rest)-1] = leader
			return
		}
	}
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

// resume decides, from the state a stopped rollout left on the nodes,
// which nodes are left to do: only a rerun of the same operation, within
// ResumeWithin and without NoResume, skips the nodes that rollout
// confirmed done. Anything else starts afresh, and says why.
func (r *runner) resume(rep *Report, t time.Time) []string {
	st := r.found
	fresh := &State{ID: rep.ID, Operation: r.cfg.Operation, Owner: r.lock.Owner, Started: r.clock.Now().UTC(), Mode: r.opts.Mode, Done: map[string]time.Time{}}
	r.state = fresh
	if st == nil {
		return rep.Order
	}
	why := ""
	switch {
	case r.opts.NoResume:
		why = "--no-resume"
	case st.Operation != r.cfg.Operation:
		why = "it was another operation"
	case r.clock.Now().Sub(st.Started) > ResumeWithin:
		why = fmt.Sprintf("it is older than %s", ResumeWithin)
	}
	var todo, skip []string
	for _, name := range rep.Order {
		if _, done := st.Done[name]; done {
			skip = append(skip, name)
		} else {
			todo = append(todo, name)
		}
	}
	if why == "" && len(todo) == 0 {
		why = "it had done every node"
	}
	if why != "" {
		r.event("", StepResume, ResultSkipped, t, "not resuming rollout %s by %s started %s (state on %s): %s; starting afresh", st.ID, st.Owner, st.Started.Format(time.RFC3339), r.foundFrom, why)
		return rep.Order
	}
	r.event("", StepResume, ResultOK, t, "resuming rollout %s by %s started %s (state on %s): %s already done by it", st.ID, st.Owner, st.Started.Format(time.RFC3339), r.foundFrom, strings.Join(skip, ", "))
	for _, name := range skip {
		r.event(name, StepResume, ResultSkipped, t, "already done by rollout %s", st.ID)
	}
	st.Done = maps(st.Done)
	r.state = st
	rep.ID = st.ID
	rep.Skipped = skip
	return todo
}

func maps(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return map[string]time.Time{}
	}
	return m
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
			failed = append(failed, oneLine(err.Error()))
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

// settle reads the cluster until it is healthy or Settle has passed: under
// traffic a replica can be a moment behind (/healthz "stream ... is not
// current" right after a publish), which is no reason to refuse. A
// refusal stands only if the cluster stays unhealthy. once reads it once
// (--force, a host already unreachable, or no restart to gate).
func (r *runner) settle(ctx context.Context, once bool) []health.Reason {
	inv := r.current()
	begin := r.clock.Now()
	waited := false
	var reasons []health.Reason
	_ = fleet.Until(ctx, r.clock, settlePoll, r.opts.Settle, func() (bool, error) {
		r.snaps = r.readAll(ctx, r.cfg.Inventory.Nodes, nil)
		reasons = append(health.ClusterReady(inv, r.snaps), r.across()...)
		if len(reasons) == 0 || once {
			return true, nil
		}
		if !waited {
			waited = true
			r.event(reasons[0].Node, StepPreflight, ResultWaiting, begin, "not healthy yet (%s); waiting up to %s for it to settle", reasons[0].Msg, r.opts.Settle)
		}
		return false, nil
	})
	return reasons
}

// settlePoll is how often preflight rereads an unhealthy cluster.
const settlePoll = 250 * time.Millisecond

// Order puts nodes already down first (starting them cannot make things
// worse), then the followers in inventory order, the JetStream meta leader
// last.
func Order(nodes []*cluster.Node, snaps fleet.Snapshots) []string {
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

// up reports a node whose monitoring endpoint answers /varz.
func up(s *monitor.Snapshot) bool { return s != nil && s.Varz != nil }

// unlessBaseline drops problems of other nodes that were already there at
// preflight (under --force, or when preflight did not gate).
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
func (r *runner) peersSee(node string) []health.Reason {
	var out []health.Reason
	for _, p := range r.current().Nodes {
		if p.Name == node || !r.upAtStart[p.Name] {
			continue
		}
		s := r.snaps[p.Name]
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
