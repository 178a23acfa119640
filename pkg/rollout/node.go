package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// rollbackTimeout bounds a rollback's own steps (restore, reload or
// restart, confirm) on top of the node timeout; it runs on a context
// Ctrl-C does not cancel, so a node being rolled back is not left half
// done.
const rollbackTimeout = 30 * time.Second

// StepLeave is a removed node's JetStream peer removal.
const StepLeave = "leave"

// nodeView is what the sequencer knows of the cluster when a node's turn
// comes: the nodes it is judged without, the nodes serving and the
// problems gone on with at preflight, and the latest reading.
type nodeView struct {
	absent   map[string]bool
	up       map[string]bool
	baseline health.Baseline
	snaps    fleet.Snapshots
}

// nodeRun changes one node the way its action (or, without one, a
// restart) asks: install, reload, restart cycle, wait until ready, soak,
// roll back, logs. It is given everything at construction, reports
// through the rollout's env, and hands the sequencer a nodeResult and,
// on failure, an *Error.
type nodeRun struct {
	*env
	n    *cluster.Node
	a    Action // nil: a restart
	kind Kind
	// absent are the nodes the cluster is judged without (its own copy:
	// a removal adds the node), up and baseline preflight's.
	absent   map[string]bool
	up       map[string]bool
	baseline health.Baseline
	// snaps is the latest reading of every node, updated as it goes.
	snaps fleet.Snapshots
	// stop is done when the rollout must end before its next node: the
	// node is then not touched if it was not yet, and finished if it was.
	stop context.Context
}

// nodeResult is what a node's change leaves the rest of the rollout.
type nodeResult struct {
	// snaps is the latest reading of every node.
	snaps fleet.Snapshots
	// left: the node left the cluster (a removal), which is judged
	// without it from now on.
	left bool
}

func newNodeRun(e *env, n *cluster.Node, a Action, v nodeView) *nodeRun {
	absent := make(map[string]bool, len(v.absent)+1)
	for k, x := range v.absent {
		absent[k] = x
	}
	snaps := v.snaps
	if snaps == nil {
		snaps = fleet.Snapshots{}
	}
	return &nodeRun{env: e, n: n, a: a, kind: kindOf(a), absent: absent, up: v.up, baseline: v.baseline, snaps: snaps, stop: context.Background()}
}

// stopping is the context of the part of a node's change before it is
// touched: done at a soft stop or a cancellation.
func (nr *nodeRun) stopping(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return nr.stop
}

// run changes the node. The error, when there is one, says where it
// stopped and what was done about it.
func (nr *nodeRun) run(ctx context.Context) (nodeResult, *Error) {
	var err error
	switch nr.kind {
	case Install:
		err = nr.installFiles(ctx)
	case Reload:
		err = nr.reload(ctx)
	case Remove:
		err = nr.remove(ctx)
	default:
		err = nr.restart(ctx)
	}
	res := nodeResult{snaps: nr.snaps, left: nr.absent[nr.n.Name]}
	if err == nil {
		return res, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		e = nr.errorf(&Error{Kind: KindNode, Node: nr.n.Name, Step: "changing", Err: err})
	}
	return res, e
}

// cur is the cluster as it stands.
func (nr *nodeRun) cur() *cluster.Inventory { return nr.inv.Without(nr.absent) }

// othersDown names the nodes of the cluster, other than this one, that do
// not serve in the latest reading.
func (nr *nodeRun) othersDown() []string {
	var down []string
	for _, p := range nr.cur().Nodes {
		if p.Name != nr.n.Name && !up(nr.snaps[p.Name]) {
			down = append(down, p.Name)
		}
	}
	return down
}

// twoDown refuses to stop the node while others are down.
func (nr *nodeRun) twoDown(down []string, t time.Time) error {
	return nr.fail(StepStop, fmt.Errorf("refusing to stop %s while %s %s down: that would take two nodes down", nr.n.Name, strings.Join(down, ", "), isAre(len(down))), nil, t)
}

// interrupted stops before the node was touched.
func (nr *nodeRun) interrupted(ctx context.Context, t time.Time, what string) error {
	nr.event(nr.n.Name, StepStop, ResultInterrupted, t, "%s: %s not touched", interruptedBy(ctx), nr.n.Name)
	return nr.errorf(&Error{Kind: KindInterrupted, Node: nr.n.Name, Step: what, Err: cause(ctx)})
}

// remove takes node out of the cluster: never below the JetStream quorum,
// never with another node down; stopped, its service disabled, removed
// from the meta group, then the rest waited for until healthy without it.
// A removal is not rolled back: each step says where it stands.
func (nr *nodeRun) remove(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	nr.snaps = nr.readAll(ctx, nr.cur().Nodes, nr.snaps)
	if sctx := nr.stopping(ctx); sctx.Err() != nil {
		return nr.interrupted(sctx, t, "removing")
	}
	if why := health.QuorumWithout(nr.snaps, n.Name); why != "" {
		return nr.fail(StepStop, errors.New(why+": nothing was stopped"), nil, t)
	}
	if down := nr.othersDown(); len(down) > 0 && up(nr.snaps[n.Name]) {
		return nr.twoDown(down, t)
	}
	if up(nr.snaps[n.Name]) {
		if err := nr.stopGate(nr.stopping(ctx)); err != nil {
			return err
		}
	}
	if sctx := nr.stopping(ctx); sctx.Err() != nil {
		return nr.interrupted(sctx, t, "removing")
	}
	if _, err := nr.steps(ctx, nr.opts.Mode, false); err != nil {
		return err
	}
	t = nr.clock.Now()
	h := nr.hosts[n.Name]
	res, err := h.Run(context.WithoutCancel(ctx), service.DisableCommand(n), remote.RunOptions{Sudo: true})
	if err == nil {
		err = res.Err(h, "disable")
	}
	if err != nil {
		return nr.fail(StepStop, fmt.Errorf("%s is stopped but its service could not be disabled (it would start again at boot): %w", n.Name, err), nil, t)
	}
	// From here on the cluster is judged without it.
	nr.absent[n.Name] = true
	if l, ok := nr.a.(Leaver); ok {
		t = nr.clock.Now()
		if err := l.Leave(context.WithoutCancel(ctx)); err != nil {
			return nr.fail(StepLeave, fmt.Errorf("%s is stopped and disabled, but its removal from the JetStream meta group failed: %w", n.Name, err), nil, t)
		}
		nr.event(n.Name, StepLeave, ResultOK, t, "removed from the JetStream meta group")
	}
	return nr.waitWithout(ctx)
}

// fail reports a node's failed step with its last log lines.
func (nr *nodeRun) fail(step string, err error, reasons []health.Reason, t time.Time) *Error {
	nr.event(nr.n.Name, step, ResultFailed, t, "%s", text.OneLine(err.Error()))
	return nr.errorf(&Error{Kind: KindNode, Node: nr.n.Name, Step: step, Err: err, Reasons: reasons, Logs: nr.logs()})
}

// installFiles runs the action's Install; an error leaves the node as it
// was.
func (nr *nodeRun) installFiles(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	if err := nr.a.Install(ctx, nr.hosts[n.Name]); err != nil {
		nr.event(n.Name, StepInstall, ResultFailed, t, "%s", text.OneLine(err.Error()))
		return nr.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepInstall, Err: fmt.Errorf("%w (nothing changed on %s)", err, n.Name)})
	}
	nr.event(n.Name, StepInstall, ResultOK, t, "new files in place")
	return nil
}

// reload installs the node's files, signals the running server and waits
// until /varz shows the new config loaded by the same process and the node
// serves. A reload that does not take is rolled back: the previous files
// are restored and reloaded, and that reload is confirmed the same way.
func (nr *nodeRun) reload(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	before := nr.read.Node(ctx, n)
	if sctx := nr.stopping(ctx); sctx.Err() != nil {
		return nr.interrupted(sctx, t, "reloading")
	}
	if before == nil || before.Varz == nil {
		err := fmt.Errorf("the monitoring endpoint does not answer (%v), so a reload could not be confirmed; nothing changed on %s: check it with natsops status", errOf(before), n.Name)
		nr.event(n.Name, StepReload, ResultFailed, t, "%v", err)
		return nr.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepReload, Err: err})
	}
	if err := nr.installFiles(ctx); err != nil {
		return err
	}
	t = nr.clock.Now()
	err := nr.signalReload(ctx)
	if err == nil {
		err = nr.waitReloaded(ctx, before.Varz, wantDigest(nr.a))
	}
	if err == nil {
		nr.event(n.Name, StepReload, ResultOK, t, "reloaded: /varz config_load_time moved, same process, node serves")
		return nil
	}
	if ctx.Err() != nil {
		nr.event(n.Name, StepReload, ResultInterrupted, t, "interrupted while confirming the reload: the new config is installed; natsops deploy --check shows whether %s loaded it", n.Name)
		return nr.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming the reload of", Err: ctx.Err()})
	}
	e := nr.fail(StepReload, err, nil, t)
	nr.rollback(ctx, e, func(ctx context.Context) (string, error) {
		last := nr.read.Node(ctx, n)
		if last == nil || last.Varz == nil {
			return "", fmt.Errorf("the monitoring endpoint does not answer (%v)", errOf(last))
		}
		if err := nr.signalReload(ctx); err != nil {
			return "", err
		}
		if err := nr.waitReloaded(ctx, last.Varz, ""); err != nil {
			return "", err
		}
		return n.Name + " runs its previous config again and serves (reloaded with it: confirmed by /varz config_load_time)", nil
	})
	return e
}

// rollback restores the node's previous files and brings the running
// server back to them with again (a reload or a restart), on a context
// Ctrl-C does not cancel, and records on e what really happened.
func (nr *nodeRun) rollback(ctx context.Context, e *Error, again func(context.Context) (string, error)) {
	t := nr.clock.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), nr.opts.NodeTimeout+rollbackTimeout)
	defer cancel()
	if err := nr.a.Restore(rctx, nr.hosts[nr.n.Name]); err != nil {
		e.RollbackErr = fmt.Errorf("restoring the previous files: %w", err)
	} else if done, err := again(rctx); err != nil {
		e.RollbackErr = fmt.Errorf("the previous files are back, but %w", err)
	} else {
		e.RolledBack = done
	}
	if e.RollbackErr != nil {
		nr.event(nr.n.Name, StepRollback, ResultFailed, t, "%s", text.OneLine(e.RollbackErr.Error()))
		return
	}
	nr.event(nr.n.Name, StepRollback, ResultOK, t, "%s", e.RolledBack)
}

func errOf(s *monitor.Snapshot) error {
	if s == nil {
		return errors.New("no reading")
	}
	if err := s.Err(); err != nil {
		return err
	}
	return errors.New("no /varz")
}

// signalReload sends the node's server SIGHUP.
func (nr *nodeRun) signalReload(ctx context.Context) error {
	h := nr.hosts[nr.n.Name]
	res, err := h.Run(ctx, service.ReloadCommand(nr.n), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	return res.Err(h, "reload")
}

// wantDigest is the config digest an action's node must report once it
// runs the new config, or "".
func wantDigest(a Action) string {
	if d, ok := a.(Digester); ok {
		return d.Digest()
	}
	return ""
}

// digestMismatch says why a server reporting digest got does not run the
// config whose digest is want ("" when it does, or cannot tell).
func digestMismatch(want, got string) string {
	if want == "" || got == "" || want == got {
		return ""
	}
	return fmt.Sprintf("the server runs a config with digest %s, not the deployed file's %s", got, want)
}

// restart stops the node, starts it (with the action's new files
// installed in between, for a deploy) and waits until it is back. A
// deployed node that does not come back is rolled back: its previous
// files restored, and restarted and confirmed back with them.
func (nr *nodeRun) restart(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	prev := nr.snaps[n.Name]
	// Never two down: every other node must be serving before this one
	// stops (unless this one is already down: starting it only helps).
	fresh := nr.readAll(ctx, nr.inv.Nodes, nr.snaps)
	if sctx := nr.stopping(ctx); sctx.Err() != nil {
		// Interrupted while reading (the readings may be errors, not
		// nodes down) or before: nothing was touched.
		return nr.interrupted(sctx, t, "stopping")
	}
	nr.snaps = fresh
	if up(nr.snaps[n.Name]) {
		prev = nr.snaps[n.Name]
	}
	if up(prev) {
		if down := nr.othersDown(); len(down) > 0 {
			return nr.twoDown(down, t)
		}
		if err := nr.stopGate(nr.stopping(ctx)); err != nil {
			return err
		}
	}
	// The last moment to stop before the node is touched: from here on
	// it is finished (stopped, started, confirmed back) whatever stop
	// says.
	if sctx := nr.stopping(ctx); sctx.Err() != nil {
		return nr.interrupted(sctx, t, "stopping")
	}
	if nr.a != nil {
		if err := nr.installFiles(ctx); err != nil {
			return err
		}
	}
	err := nr.cycle(ctx, nr.opts.Mode, prev, nr.startTimeout(), true)
	if err == nil && nr.a != nil {
		// Back, but running what? A unit whose ExecStart reads another
		// file comes back with the old config.
		if s := nr.snaps[n.Name]; up(s) {
			if why := digestMismatch(wantDigest(nr.a), s.Varz.ConfigDigest); why != "" {
				err = nr.fail(StepReady, fmt.Errorf("%s is back, but %s: its service does not start with %s (check the unit's ExecStart -c)", n.Name, why, n.Service.ConfigPath), nil, nr.clock.Now())
			}
		}
	}
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Kind != KindNode || nr.a == nil {
		return err
	}
	nr.rollback(ctx, e, nr.restartBack(up(prev)))
	return e
}

// restartBack is a restarted node's way back to its previous files once
// they are restored: restarted and confirmed back with them, or, when it
// was not running before (a new node, or one down before the deploy),
// stopped again.
func (nr *nodeRun) restartBack(wasUp bool) func(context.Context) (string, error) {
	n := nr.n
	return func(ctx context.Context) (string, error) {
		if !wasUp {
			if _, err := nr.steps(ctx, service.Fast, false); err != nil {
				return "", err
			}
			return n.Name + " has its previous files again and is stopped, as it was before this deploy", nil
		}
		before := nr.read.Node(ctx, n)
		if err := nr.cycle(ctx, service.Fast, before, nr.opts.NodeTimeout, false); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return "", fmt.Errorf("%s did not come back with them either: %s", n.Name, ce.Summary())
			}
			return "", err
		}
		return n.Name + " runs its previous config again and serves (restarted with it: a new process, confirmed back)", nil
	}
}

// startTimeout bounds the wait for the node's start: the first start
// after a binary change gets StartTimeout (never shorter than
// NodeTimeout), any other NodeTimeout.
func (nr *nodeRun) startTimeout() time.Duration {
	if u, ok := nr.a.(Upgrader); ok && u.Upgrade() {
		return nr.opts.StartTimeout
	}
	return nr.opts.NodeTimeout
}

// cycle runs the node's stop, exit and start in one round trip, then
// waits until the node is back, at most timeout, and (steady) until it
// stayed back for HealthyFor. prev is the node's reading before (nil or
// down: any start counts). nr.snaps is updated with the latest reading.
func (nr *nodeRun) cycle(ctx context.Context, mode service.Mode, prev *monitor.Snapshot, timeout time.Duration, steady bool) error {
	n := nr.n
	start, err := nr.steps(ctx, mode, true)
	if err != nil {
		return err
	}
	// Wait until it is back, on itself and on its peers.
	t := nr.clock.Now()
	e := health.Expect{}
	if up(prev) {
		e.RestartedAfter, e.PrevServerID = prev.Varz.Start, prev.Varz.ServerID
	}
	interrupted := func(what string) error {
		nr.event(n.Name, StepReady, ResultInterrupted, t, "interrupted while %s: %s was started but is not confirmed back", what, n.Name)
		return nr.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming", Err: ctx.Err()})
	}
	reasons, err := nr.waitReady(ctx, e, aliveCommand(n, nr.opts.Mode, start), timeout)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("waiting")
		}
		return nr.fail(StepReady, err, reasons, t)
	}
	nr.event(n.Name, StepReady, ResultOK, t, "back: new start, /healthz ok, routes on it and its peers, JetStream current")
	if !steady {
		return nil
	}
	t = nr.clock.Now()
	readings, behind, reasons, err := nr.holdReady(ctx, e)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("it had to stay ready")
		}
		return nr.fail(StepSteady, err, reasons, t)
	}
	if behind > 0 {
		nr.event(n.Name, StepSteady, ResultOK, t, "stayed ready for %s: %d readings, every one healthy (node and cluster gate; %d saw a stream or consumer replica catching up, current again at the end)", nr.opts.HealthyFor, readings, behind)
		return nil
	}
	nr.event(n.Name, StepSteady, ResultOK, t, "stayed ready for %s: %d readings, every one healthy (node and cluster gate)", nr.opts.HealthyFor, readings)
	return nil
}

// logLines is how many explaining log lines a failure shows.
const logLines = 20

// logs returns the node's last log lines that explain a failure (best
// effort): the server's echoes of natsops's own health polling are
// collapsed, so the line that says why is not pushed out of the window.
func (nr *nodeRun) logs() string {
	return nodeLogs(nr.env, nr.n)
}

// nodeLogs is node n's explaining log lines, told as a StepLogs event.
func nodeLogs(e *env, n *cluster.Node) string {
	h := e.hosts[n.Name]
	if h == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := h.Run(ctx, service.LogsCommand(n), remote.RunOptions{Sudo: true})
	if err != nil {
		return fmt.Sprintf("(cannot read logs: %v)", err)
	}
	out := service.ExplainLog(string(res.Stdout), logLines)
	e.emit(Event{Node: n.Name, Step: StepLogs, Result: ResultOK, Detail: out})
	return out
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
