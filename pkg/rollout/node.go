package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// node changes one node the way its action (or, without one, a restart)
// asks.
func (r *runner) node(ctx context.Context, n *cluster.Node) error {
	a := r.cfg.Actions[n.Name]
	switch r.kind(n.Name) {
	case Install:
		return r.install(ctx, n, a)
	case Reload:
		return r.reload(ctx, n, a)
	case Remove:
		return r.remove(ctx, n, a)
	}
	return r.restart(ctx, n, a)
}

// StepLeave is a removed node's JetStream peer removal.
const StepLeave = "leave"

// remove takes node out of the cluster: never below the JetStream quorum,
// never with another node down; stopped, its service disabled, removed
// from the meta group, then the rest waited for until healthy without it.
// A removal is not rolled back: each step says where it stands.
func (r *runner) remove(ctx context.Context, n *cluster.Node, a Action) error {
	t := r.clock.Now()
	r.snaps = r.readAll(ctx, r.current().Nodes, r.snaps)
	if ctx.Err() != nil {
		r.event(n.Name, StepStop, ResultInterrupted, t, "interrupted: %s not touched", n.Name)
		return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "removing", Err: ctx.Err()})
	}
	if why := health.QuorumWithout(r.snaps, n.Name); why != "" {
		return r.fail(n, StepStop, errors.New(why+": nothing was stopped"), nil, t)
	}
	var down []string
	for _, p := range r.current().Nodes {
		if p.Name != n.Name && !up(r.snaps[p.Name]) {
			down = append(down, p.Name)
		}
	}
	if len(down) > 0 && up(r.snaps[n.Name]) {
		return r.fail(n, StepStop, fmt.Errorf("refusing to stop %s while %s %s down: that would take two nodes down", n.Name, strings.Join(down, ", "), isAre(len(down))), nil, t)
	}
	if up(r.snaps[n.Name]) {
		if err := r.stopGate(ctx, n); err != nil {
			return err
		}
	}
	if _, err := r.steps(ctx, n, r.opts.Mode, false); err != nil {
		return err
	}
	t = r.clock.Now()
	h := r.hosts[n.Name]
	res, err := h.Run(context.WithoutCancel(ctx), service.DisableCommand(n), remote.RunOptions{Sudo: true})
	if err == nil {
		err = res.Err(h, "disable")
	}
	if err != nil {
		return r.fail(n, StepStop, fmt.Errorf("%s is stopped but its service could not be disabled (it would start again at boot): %w", n.Name, err), nil, t)
	}
	// From here on the cluster is judged without it.
	r.absent[n.Name] = true
	if l, ok := a.(Leaver); ok {
		t = r.clock.Now()
		if err := l.Leave(context.WithoutCancel(ctx)); err != nil {
			return r.fail(n, StepLeave, fmt.Errorf("%s is stopped and disabled, but its removal from the JetStream meta group failed: %w", n.Name, err), nil, t)
		}
		r.event(n.Name, StepLeave, ResultOK, t, "removed from the JetStream meta group")
	}
	t = r.clock.Now()
	var reasons []health.Reason
	err = fleet.Until(ctx, r.clock, r.opts.Poll, r.opts.NodeTimeout, func() (bool, error) {
		r.snaps = r.readAll(ctx, r.current().Nodes, r.snaps)
		reasons = r.unlessBaseline(n.Name, append(health.ClusterReady(r.current(), r.snaps), r.across()...))
		return len(reasons) == 0, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming the removal of", Err: ctx.Err()})
		}
		if errors.Is(err, fleet.ErrTimeout) {
			err = fmt.Errorf("%s is stopped and disabled, but the cluster is not healthy without it within %s", n.Name, r.opts.NodeTimeout)
		}
		return r.fail(n, StepReady, err, reasons, t)
	}
	r.event(n.Name, StepReady, ResultOK, t, "out of the cluster: stopped, disabled, the rest healthy without it")
	return nil
}

// fail reports a node's failed step with its last log lines.
func (r *runner) fail(n *cluster.Node, step string, err error, reasons []health.Reason, t time.Time) *Error {
	r.event(n.Name, step, ResultFailed, t, "%s", oneLine(err.Error()))
	return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: step, Err: err, Reasons: reasons, Logs: r.logs(n)})
}

// installFiles runs the action's Install; an error leaves the node as it
// was.
func (r *runner) installFiles(ctx context.Context, n *cluster.Node, a Action) error {
	t := r.clock.Now()
	if err := a.Install(ctx, r.hosts[n.Name]); err != nil {
		r.event(n.Name, StepInstall, ResultFailed, t, "%s", oneLine(err.Error()))
		return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepInstall, Err: fmt.Errorf("%w (nothing changed on %s)", err, n.Name)})
	}
	r.event(n.Name, StepInstall, ResultOK, t, "new files in place")
	return nil
}

func (r *runner) install(ctx context.Context, n *cluster.Node, a Action) error {
	return r.installFiles(ctx, n, a)
}

// reload installs the node's files, signals the running server and waits
// until /varz shows the new config loaded by the same process and the node
// serves. A reload that does not take is rolled back: the previous files
// are restored and reloaded, and that reload is confirmed the same way.
func (r *runner) reload(ctx context.Context, n *cluster.Node, a Action) error {
	h := r.hosts[n.Name]
	t := r.clock.Now()
	before := r.read.Node(ctx, n)
	if before == nil || before.Varz == nil {
		err := fmt.Errorf("the monitoring endpoint does not answer (%v), so a reload could not be confirmed; nothing changed on %s: check it with natsops status", errOf(before), n.Name)
		r.event(n.Name, StepReload, ResultFailed, t, "%v", err)
		return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepReload, Err: err})
	}
	if err := r.installFiles(ctx, n, a); err != nil {
		return err
	}
	t = r.clock.Now()
	err := r.signalReload(ctx, n, h)
	if err == nil {
		err = r.waitReloaded(ctx, n, before.Varz, wantDigest(a))
	}
	if err == nil {
		r.event(n.Name, StepReload, ResultOK, t, "reloaded: /varz config_load_time moved, same process, node serves")
		return nil
	}
	if ctx.Err() != nil {
		r.event(n.Name, StepReload, ResultInterrupted, t, "interrupted while confirming the reload: the new config is installed; natsops deploy --check shows whether %s loaded it", n.Name)
		return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming the reload of", Err: ctx.Err()})
	}
	e := r.fail(n, StepReload, err, nil, t)
	r.rollback(ctx, n, a, e, func(ctx context.Context) (string, error) {
		last := r.read.Node(ctx, n)
		if last == nil || last.Varz == nil {
			return "", fmt.Errorf("the monitoring endpoint does not answer (%v)", errOf(last))
		}
		if err := r.signalReload(ctx, n, h); err != nil {
			return "", err
		}
		if err := r.waitReloaded(ctx, n, last.Varz, ""); err != nil {
			return "", err
		}
		return n.Name + " runs its previous config again and serves (reloaded with it: confirmed by /varz config_load_time)", nil
	})
	return e
}

// rollback restores the node's previous files and brings the running
// server back to them with again (a reload or a restart), on a context
// Ctrl-C does not cancel, and records on e what really happened.
func (r *runner) rollback(ctx context.Context, n *cluster.Node, a Action, e *Error, again func(context.Context) (string, error)) {
	t := r.clock.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.NodeTimeout+rollbackTimeout)
	defer cancel()
	if err := a.Restore(rctx, r.hosts[n.Name]); err != nil {
		e.RollbackErr = fmt.Errorf("restoring the previous files: %w", err)
	} else if done, err := again(rctx); err != nil {
		e.RollbackErr = fmt.Errorf("the previous files are back, but %w", err)
	} else {
		e.RolledBack = done
	}
	if e.RollbackErr != nil {
		r.event(n.Name, StepRollback, ResultFailed, t, "%s", oneLine(e.RollbackErr.Error()))
		return
	}
	r.event(n.Name, StepRollback, ResultOK, t, "%s", e.RolledBack)
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
func (r *runner) signalReload(ctx context.Context, n *cluster.Node, h remote.Host) error {
	res, err := h.Run(ctx, service.ReloadCommand(n), remote.RunOptions{Sudo: true})
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

// waitReloaded polls the node until its /varz shows a config loaded after
// before's by the same process (same start), and it serves; with want,
// the server's config digest must be it (2.11 and later report one).
func (r *runner) waitReloaded(ctx context.Context, n *cluster.Node, before *monitor.Varz, want string) error {
	last := "no answer"
	err := fleet.Until(ctx, r.clock, max(r.opts.Poll, 100*time.Millisecond), r.opts.ReloadTimeout, func() (bool, error) {
		s := r.read.Node(ctx, n)
		r.snaps[n.Name] = s
		switch {
		case s.Varz == nil:
			last = fmt.Sprint(errOf(s))
		case !s.Varz.Start.Equal(before.Start):
			return false, errors.New("the server restarted instead of reloading")
		case !s.Varz.ConfigLoadTime.After(before.ConfigLoadTime):
			last = "config_load_time did not move: nats-server refused the new config (\"Failed to reload server configuration\" in its log)"
		case digestMismatch(want, s.Varz.ConfigDigest) != "":
			last = digestMismatch(want, s.Varz.ConfigDigest)
		default:
			rs := health.NodeReady(n.Name, s, health.Expect{})
			if len(rs) == 0 {
				return true, nil
			}
			last = rs[0].Msg
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return fmt.Errorf("reload not confirmed within %s: %s", r.opts.ReloadTimeout, last)
	}
	return err
}

// restart stops the node, starts it (with the action's new files
// installed in between, for a deploy) and waits until it is back. A
// deployed node that does not come back is rolled back: its previous
// files restored, and restarted and confirmed back with them.
func (r *runner) restart(ctx context.Context, n *cluster.Node, a Action) error {
	t := r.clock.Now()
	prev := r.snaps[n.Name]
	// Never two down: every other node must be serving before this one
	// stops (unless this one is already down: starting it only helps).
	fresh := r.readAll(ctx, r.cfg.Inventory.Nodes, r.snaps)
	if ctx.Err() != nil {
		// Interrupted while reading: the readings are errors, not nodes
		// down. Nothing was touched.
		r.event(n.Name, StepStop, ResultInterrupted, t, "interrupted: %s not touched", n.Name)
		return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "stopping", Err: ctx.Err()})
	}
	r.snaps = fresh
	if up(r.snaps[n.Name]) {
		prev = r.snaps[n.Name]
	}
	if up(prev) {
		var down []string
		for _, p := range r.current().Nodes {
			if p.Name != n.Name && !up(r.snaps[p.Name]) {
				down = append(down, p.Name)
			}
		}
		if len(down) > 0 {
			return r.fail(n, StepStop, fmt.Errorf("refusing to stop %s while %s %s down: that would take two nodes down", n.Name, strings.Join(down, ", "), isAre(len(down))), nil, t)
		}
		if err := r.stopGate(ctx, n); err != nil {
			return err
		}
	}
	if a != nil {
		if err := r.installFiles(ctx, n, a); err != nil {
			return err
		}
	}
	err := r.cycle(ctx, n, r.opts.Mode, prev, r.startTimeout(a), true)
	if err == nil && a != nil {
		// Back, but running what? A unit whose ExecStart reads another
		// file comes back with the old config.
		if s := r.snaps[n.Name]; up(s) {
			if why := digestMismatch(wantDigest(a), s.Varz.ConfigDigest); why != "" {
				err = r.fail(n, StepReady, fmt.Errorf("%s is back, but %s: its service does not start with %s (check the unit's ExecStart -c)", n.Name, why, n.Service.ConfigPath), nil, r.clock.Now())
			}
		}
	}
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNode || a == nil {
		return err
	}
	wasUp := up(prev)
	r.rollback(ctx, n, a, e, func(ctx context.Context) (string, error) {
		if !wasUp {
			// It was not running (a new node, or one down before the
			// deploy): put it back to not running.
			if _, err := r.steps(ctx, n, service.Fast, false); err != nil {
				return "", err
			}
			return n.Name + " has its previous files again and is stopped, as it was before this deploy", nil
		}
		before := r.read.Node(ctx, n)
		if err := r.cycle(ctx, n, service.Fast, before, r.opts.NodeTimeout, false); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return "", fmt.Errorf("%s did not come back with them either: %s", n.Name, ce.Summary())
			}
			return "", err
		}
		return n.Name + " runs its previous config again and serves (restarted with it: a new process, confirmed back)", nil
	})
	return e
}

// startTimeout bounds the wait for node's start with action a: the
// first start after a binary change gets StartTimeout (never shorter
// than NodeTimeout), any other NodeTimeout.
func (r *runner) startTimeout(a Action) time.Duration {
	if u, ok := a.(Upgrader); ok && u.Upgrade() {
		return r.opts.StartTimeout
	}
	return r.opts.NodeTimeout
}

// cycle runs one node's stop, exit and start in one round trip, then
// waits until the node is back, at most timeout, and (steady) until it
// stayed back for HealthyFor. prev is the node's reading before (nil or
// down: any start counts). r.snaps is updated with the latest reading.
func (r *runner) cycle(ctx context.Context, n *cluster.Node, mode service.Mode, prev *monitor.Snapshot, timeout time.Duration, steady bool) error {
	start, err := r.steps(ctx, n, mode, true)
	if err != nil {
		return err
	}
	// Wait until it is back, on itself and on its peers.
	t := r.clock.Now()
	e := health.Expect{}
	if up(prev) {
		e.RestartedAfter, e.PrevServerID = prev.Varz.Start, prev.Varz.ServerID
	}
	interrupted := func(what string) error {
		r.event(n.Name, StepReady, ResultInterrupted, t, "interrupted while %s: %s was started but is not confirmed back", what, n.Name)
		return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming", Err: ctx.Err()})
	}
	reasons, err := r.waitReady(ctx, n, e, r.aliveCommand(n, start), timeout)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("waiting")
		}
		return r.fail(n, StepReady, err, reasons, t)
	}
	r.event(n.Name, StepReady, ResultOK, t, "back: new start, /healthz ok, routes on it and its peers, JetStream current")
	if !steady {
		return nil
	}
	t = r.clock.Now()
	readings, behind, reasons, err := r.holdReady(ctx, n, e)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("it had to stay ready")
		}
		return r.fail(n, StepSteady, err, reasons, t)
	}
	if behind > 0 {
		r.event(n.Name, StepSteady, ResultOK, t, "stayed ready for %s: %d readings, every one healthy (node and cluster gate; %d saw a stream or consumer replica catching up, current again at the end)", r.opts.HealthyFor, readings, behind)
		return nil
	}
	r.event(n.Name, StepSteady, ResultOK, t, "stayed ready for %s: %d readings, every one healthy (node and cluster gate)", r.opts.HealthyFor, readings)
	return nil
}

// holdReady reads the node and the cluster every Poll until HealthyFor
// has passed since the node was found back: every reading must pass the
// gate waitReady waited for, from the same process. It restarts nothing:
// a failing reading (a new process, /healthz failing, a route or the
// meta leader lost) is the error, with its reasons. A stream or consumer
// replica catching up (health.CatchingUp, on the node or a peer) is not a
// flap: under traffic a follower falls a few entries behind for a moment
// (seen on the testbed 630 ms after a node was back). Such a reading
// counts, but the window ends only on a reading with every replica
// current, and one still catching up Settle after the window fails
// (nats-server#4875, #5976: /healthz ok while it was still behind). It
// returns the readings and how many of them saw a replica catching up.
func (r *runner) holdReady(ctx context.Context, n *cluster.Node, e health.Expect) (int, int, []health.Reason, error) {
	e, _ = r.expect(n, e)
	begin := r.clock.Now()
	var started time.Time
	if s := r.snaps[n.Name]; up(s) {
		started = s.Varz.Start
	}
	readings, behind := 0, 0
	var catching []health.Reason
	for r.clock.Now().Sub(begin) < r.opts.HealthyFor || len(catching) > 0 {
		if len(catching) > 0 && r.clock.Now().Sub(begin) >= r.opts.HealthyFor+r.opts.Settle {
			return readings, behind, catching, fmt.Errorf("still catching up %s after the %s it had to stay ready (%d of %d readings behind; nothing was restarted for it): %s: %s",
				r.opts.Settle, r.opts.HealthyFor, behind, readings, catching[0].Node, catching[0].Msg)
		}
		if err := r.clock.Sleep(ctx, r.opts.Poll); err != nil {
			return readings, behind, nil, err
		}
		r.readAll(ctx, r.current().Nodes, r.snaps)
		if err := ctx.Err(); err != nil {
			return readings, behind, nil, err
		}
		monitor.NameRoutes(r.snaps)
		readings++
		s := r.snaps[n.Name]
		reasons := health.NodeReady(n.Name, s, e)
		if len(reasons) == 0 && !s.Varz.Start.Equal(started) {
			reasons = []health.Reason{{Node: n.Name, Code: ReasonRestartedAgain, Msg: fmt.Sprintf("started again at %s (a new process since it was found back)", s.Varz.Start.UTC().Format(time.RFC3339Nano))}}
		}
		if len(reasons) == 0 || catchingOnly(reasons, r.snaps) {
			reasons = append(reasons, append(r.unlessBaseline(n.Name, append(health.Gate(r.current(), n.Name, r.snaps), r.across()...)), r.peersSee(n.Name)...)...)
		}
		var hard []health.Reason
		catching = nil
		for _, x := range reasons {
			if x.Code == health.ReasonHealthz && health.CatchingUp(r.snaps[x.Node]) {
				catching = append(catching, x)
			} else {
				hard = append(hard, x)
			}
		}
		if len(catching) > 0 {
			behind++
		}
		if len(hard) > 0 {
			return readings, behind, hard, fmt.Errorf("flapped: back, then not ready %s later (reading %d of the %s it must stay ready; nothing was restarted for it): %s: %s",
				r.clock.Now().Sub(begin).Round(time.Millisecond), readings, r.opts.HealthyFor, hard[0].Node, hard[0].Msg)
		}
	}
	return readings, behind, nil, nil
}

// catchingOnly: every reason is a /healthz of a replica catching up.
func catchingOnly(rs []health.Reason, snaps map[string]*monitor.Snapshot) bool {
	for _, x := range rs {
		if x.Code != health.ReasonHealthz || !health.CatchingUp(snaps[x.Node]) {
			return false
		}
	}
	return true
}

// aliveCommand checks node n's process: the unit's state, or in pidfile
// mode the pid its start printed (startOut) or the pid file.
func (r *runner) aliveCommand(n *cluster.Node, startOut string) string {
	if n.Service.Manager == "pidfile" {
		return service.AliveCommand(n, service.StartPID(startOut))
	}
	return service.CommandsFor(n, r.opts.Mode).Alive
}

// steps stops the node, waits for its process to exit and (with start)
// starts it, in one round trip, reporting each step; it returns the start
// step's output. Once the node is going down the script runs to its end
// even if interrupted, so the node is not left half done.
func (r *runner) steps(ctx context.Context, n *cluster.Node, mode service.Mode, start bool) (string, error) {
	h := r.hosts[n.Name]
	c := service.CommandsFor(n, mode)
	t := r.clock.Now()
	dctx := context.WithoutCancel(ctx)
	cctx, cancel := context.WithTimeout(dctx, 30*time.Second+c.ExitBound+15*time.Second+60*time.Second)
	script := c.Halt()
	if start {
		script = c.Cycle()
	}
	res, runErr := h.Run(cctx, script, remote.RunOptions{Sudo: true})
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
		return "", r.fail(n, StepStop, missing("stop"), nil, t)
	case stop.Exit != 0:
		return "", r.fail(n, StepStop, stepErr(c.Stop, stop), nil, t)
	case strings.Contains(stop.Out, service.MarkNotRunning):
		emit(StepStop, ResultSkipped, stop, "not running")
	default:
		emit(StepStop, ResultOK, stop, string(mode)+" stop sent")
		ex := steps["exit"]
		switch {
		case ex == nil:
			return "", r.fail(n, StepExit, missing("exit"), nil, t)
		case ex.Exit != 0:
			return "", r.fail(n, StepExit, stepErr(c.WaitExit, ex), nil, t)
		case !strings.Contains(ex.Out, service.MarkExited):
			return "", r.fail(n, StepExit, fmt.Errorf("the server did not exit within %s of the %s stop; it is still running (lame duck?): nothing was started", c.ExitBound, mode), nil, t)
		}
		emit(StepExit, ResultOK, ex, "process exited")
	}
	if !start {
		return "", nil
	}
	st := steps["start"]
	switch {
	case st == nil:
		return "", r.fail(n, StepStart, missing("start"), nil, t)
	case st.Exit != 0:
		return "", r.fail(n, StepStart, stepErr(c.Start, st), nil, t)
	}
	emit(StepStart, ResultOK, st, firstLine(c.Start))
	return st.Out, nil
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

// logLines is how many explaining log lines a failure shows.
const logLines = 20

// logs returns the node's last log lines that explain a failure (best
// effort): the server's echoes of natsops's own health polling are
// collapsed, so the line that says why is not pushed out of the window.
func (r *runner) logs(n *cluster.Node) string {
	h := r.hosts[n.Name]
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
	r.emit(Event{Node: n.Name, Step: StepLogs, Result: ResultOK, Detail: out})
	return out
}

// waitReady polls until the gate holds, at most timeout. The node
// alone is read until it answers ready (cheap); then the whole cluster.
// While the node's (or a peer's) monitoring endpoint does not answer, its
// process is checked on its host every aliveEvery: a server that died at
// start, or a peer that went down meanwhile, stops the wait at once
// instead of at the timeout.
func (r *runner) waitReady(ctx context.Context, n *cluster.Node, e health.Expect, alive string, timeout time.Duration) ([]health.Reason, error) {
	e, peers := r.expect(n, e)
	lv := &liveness{last: map[string]time.Time{}, dead: map[string]int{}}
	var swept time.Time
	var reasons []health.Reason
	err := fleet.Until(ctx, r.clock, r.opts.Poll, timeout, func() (bool, error) {
		s := r.read.Node(ctx, n)
		r.snaps[n.Name] = s
		monitor.NameRoutes(r.snaps)
		reasons = health.NodeReady(n.Name, s, e)
		peersRead := false
		if len(reasons) == 0 {
			r.readAll(ctx, peers, r.snaps)
			peersRead = true
			reasons = append(r.unlessBaseline(n.Name, append(health.Gate(r.current(), n.Name, r.snaps), r.across()...)), r.peersSee(n.Name)...)
			if len(reasons) == 0 {
				return true, nil
			}
		}
		if !up(s) {
			if why := r.gone(ctx, n, alive, lv); why != "" {
				return false, fmt.Errorf("nats-server on %s exited after it was started: %s", n.Name, why)
			}
		} else if now := r.clock.Now(); peersRead || now.Sub(swept) >= aliveEvery {
			// The node serves but is not back: is a peer gone?
			if !peersRead {
				swept = now
				r.readAll(ctx, peers, r.snaps)
			}
			for _, p := range peers {
				if r.upAtStart[p.Name] && !up(r.snaps[p.Name]) {
					if why := r.gone(ctx, p, service.CommandsFor(p, r.opts.Mode).Alive, lv); why != "" {
						return false, fmt.Errorf("%s went down while %s was coming back: %s; the rollout stopped so that no second node is taken down", p.Name, n.Name, why)
					}
				}
			}
			if o := r.silentObserved(lv); o != "" {
				return false, fmt.Errorf("%s, of another cluster of the estate (read along, its host not reached), has not answered at :8222 for %s while %s was coming back: its supercluster lost a server, so the rollout stopped; see `natsops status` for that cluster", o, observedSilence, n.Name)
			}
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return reasons, fmt.Errorf("not back within %s", timeout)
	}
	return reasons, err
}

// expect completes e for node n: the peers it must have routes to (under
// --force, those serving at preflight) and whether JetStream is
// clustered; it returns the peers to read.
func (r *runner) expect(n *cluster.Node, e health.Expect) (health.Expect, []*cluster.Node) {
	var peers []*cluster.Node
	e.Peers = nil
	for _, p := range r.current().Nodes {
		if p != n {
			peers = append(peers, p)
			if r.upAtStart[p.Name] || !r.opts.Force {
				e.Peers = append(e.Peers, p.Name)
			}
		}
	}
	e.JetStream = health.ClusteredJetStream(r.cfg.Inventory, n)
	return e, peers
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
	// silent is when each observed node (another cluster's, no host to
	// ask) was first found not answering, while it still does not.
	silent map[string]time.Time
}

// observedSilence is how long an observed node that answered at the
// start may stay silent before a wait stops for it: a few monitoring
// timeouts, since its process cannot be asked.
const observedSilence = 3 * aliveEvery

// silentObserved names an observed node that answered at the start and
// has not for observedSilence, or "".
func (r *runner) silentObserved(lv *liveness) string {
	if lv.silent == nil {
		lv.silent = map[string]time.Time{}
	}
	now := r.clock.Now()
	for _, o := range r.cfg.Across.Observe {
		if !r.upAtStart[o.Name] || up(r.snaps[o.Name]) {
			delete(lv.silent, o.Name)
			continue
		}
		first, seen := lv.silent[o.Name]
		if !seen {
			lv.silent[o.Name] = now
			continue
		}
		if now.Sub(first) >= observedSilence {
			return o.Name
		}
	}
	return ""
}

// gone checks node's process on its host (at most every aliveEvery) and
// returns why it is gone once deadReadings checks in a row found no
// process; "" while it runs, is unknown or was checked too recently.
func (r *runner) gone(ctx context.Context, n *cluster.Node, cmd string, lv *liveness) string {
	h := r.hosts[n.Name]
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
	dead, why := service.ParseAlive(string(res.Stdout))
	if !dead {
		lv.dead[n.Name] = 0
		return ""
	}
	lv.dead[n.Name]++
	if lv.dead[n.Name] < deadReadings {
		return ""
	}
	return why
}
