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
// time. Whether a node or the cluster is ready, and whether a rollout may
// start (health.Preflight), is decided by pkg/health; what a deploy
// changes is decided by pkg/deploy. Hosts, the monitor and the clock are
// injected, so every sequence is unit-tested with fakes.
//
// Inside, the sequencer (sequence.go: lock, preflight, order, each node
// in turn, stop-after, pause, resume state, unlock) hands each node to a
// nodeRun (node.go, steps.go, wait.go: install, reload, restart cycle,
// ready wait, soak, rollback, logs), which gets what it needs when it is
// made and returns a result and an *Error; both report through the env
// they share (env.go). The order is a pure decision (order.go); a
// bootstrap is a formation (bootstrap.go); the lock and state files are a
// locker (lock.go). Every wait that can last tells Config.Progress what
// it waits for and sees.
package rollout

import (
	"context"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/progress"
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
	// ProcessStart, when set, is a local pid's start time (clock ticks
	// since boot) and whether it runs: written into the lock with PID,
	// and a lock of this machine whose pid runs no more, or runs a
	// process started at another time, is held by a dead rollout.
	ProcessStart func(pid int) (start uint64, running bool)
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

// DefaultHealthyFor is Options.HealthyFor's default: a node must stay
// ready 10s after it is back before the next node goes down, as Nomad's
// min_healthy_time example and Consul autopilot's stabilization time. A
// node that dies a few seconds after its start (killed 3s after it on a
// local cluster, bench/crash-after-start.sh) was taken for done at 100ms
// in every run, and in most the next node was stopped while it was dead:
// two nodes down at once; at 5s and 10s it was caught at that node, the
// others untouched. One killed 7s after its start was caught at 10s only. It costs its window once per node (3 nodes: 30s);
// the figures are in docs/rollouts.md "Why --healthy-for defaults to
// 10s". A replica still catching up extends the window (holdReady).
const DefaultHealthyFor = 10 * time.Second

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
	// Dead are members down for good (Operate's replace): preflight
	// judges the cluster without them and ignores what the others report
	// about them (health.PreflightInput.Dead).
	Dead []string
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
	// Progress, when set, is told what a long wait waits for and what it
	// sees now, at least every ProgressEvery while the wait lasts: a
	// node's ready wait and its soak (HealthyFor), a stop's exit (lame
	// duck), a reload's confirmation, preflight's settling, the JetStream
	// catch-up before a stop, a removal's and a bootstrap's wait, and the
	// pause between nodes. Reports are not Events: the Event stream is the
	// same with or without it.
	Progress progress.Func
	// ProgressEvery is how often Progress is told (0: progress.Every).
	// The waits that poll report on Clock; a stop's exit, one blocking
	// remote command, on the wall clock.
	ProgressEvery time.Duration
	// Stop, when done, ends the rollout before its next node, and only
	// there: the node it is on is finished (stopped, started and
	// confirmed back, soak included, or rolled back), never left
	// stopped; the done nodes are recorded, the lock released, and the
	// error is KindInterrupted (its Err the cause of Stop: the signal).
	// Run's ctx, by contrast, also cuts the waits of the node it is on
	// (a second Ctrl-C): even then a node's stop and start run to their
	// end. nil: only ctx.
	Stop context.Context
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
const ReasonSSH = health.ReasonSSH

// ReasonRestartedAgain: a node found back was a new process again while it
// had to stay ready (it crashed and its service manager started it).
const ReasonRestartedAgain = "restarted-again"

// Run changes cfg.Nodes one at a time. On failure it returns *Error (a
// held lock: KindLock wrapping *LockHeldError) and a report of what was
// and was not done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	return newRunner(cfg).run(ctx)
}

// withDefaults is o with every unset bound at its default.
func withDefaults(o Options) Options {
	if o.Mode == "" {
		o.Mode = service.Graceful
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = DefaultNodeTimeout
	}
	if o.ReloadTimeout <= 0 {
		o.ReloadTimeout = DefaultReloadTimeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.HealthyFor <= 0 {
		o.HealthyFor = DefaultHealthyFor
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	o.StartTimeout = max(o.StartTimeout, o.NodeTimeout)
	return o
}
