package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// steps stops the node, waits for its process to exit and (with start)
// starts it, in one round trip, reporting each step; it returns the start
// step's output. Once the node is going down the script runs to its end
// even if interrupted, so the node is not left half done. While the
// script runs (a lame duck lasts up to lame_duck_duration), Progress is
// told what the node's monitoring endpoint shows.
func (nr *nodeRun) steps(ctx context.Context, mode service.Mode, start bool) (string, error) {
	n := nr.n
	h := nr.hosts[n.Name]
	c := service.CommandsFor(n, mode)
	t := nr.clock.Now()
	dctx := context.WithoutCancel(ctx)
	cctx, cancel := context.WithTimeout(dctx, 30*time.Second+c.ExitBound+15*time.Second+60*time.Second)
	script := c.Halt()
	if start {
		script = c.Cycle()
	}
	stop := nr.exitProgress(dctx, mode, c.ExitBound)
	res, runErr := h.Run(cctx, script, remote.RunOptions{Sudo: true})
	stop()
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
		return fmt.Errorf("no result for the %s step (exit %d): %s", step, res.ExitCode, text.OneLine(msg))
	}
	stepErr := func(cmd string, s *service.CycleStep) error {
		return fmt.Errorf("%s: exit %d: %s", firstLine(cmd), s.Exit, text.OneLine(s.Out))
	}
	at := begin
	emit := func(step, result string, s *service.CycleStep, detail string) {
		nr.emit(Event{Node: n.Name, Step: step, Result: result, ElapsedMS: max(s.MS-at, 0), Detail: detail})
		at = s.MS
	}
	stopped := steps["stop"]
	switch {
	case stopped == nil:
		return "", nr.fail(StepStop, missing("stop"), nil, t)
	case stopped.Exit != 0:
		return "", nr.fail(StepStop, stepErr(c.Stop, stopped), nil, t)
	case strings.Contains(stopped.Out, service.MarkNotRunning):
		emit(StepStop, ResultSkipped, stopped, "not running")
	default:
		emit(StepStop, ResultOK, stopped, string(mode)+" stop sent")
		ex := steps["exit"]
		switch {
		case ex == nil:
			return "", nr.fail(StepExit, missing("exit"), nil, t)
		case ex.Exit != 0:
			return "", nr.fail(StepExit, stepErr(c.WaitExit, ex), nil, t)
		case !strings.Contains(ex.Out, service.MarkExited):
			return "", nr.fail(StepExit, fmt.Errorf("the server did not exit within %s of the %s stop; it is still running (lame duck?): nothing was started", c.ExitBound, mode), nil, t)
		}
		emit(StepExit, ResultOK, ex, "process exited")
	}
	if !start {
		return "", nil
	}
	st := steps["start"]
	switch {
	case st == nil:
		return "", nr.fail(StepStart, missing("start"), nil, t)
	case st.Exit != 0:
		return "", nr.fail(StepStart, stepErr(c.Start, st), nil, t)
	}
	emit(StepStart, ResultOK, st, firstLine(c.Start))
	return st.Out, nil
}

// exitProgress reports the stop's exit while the one remote command that
// stops (and starts) the node runs, on the wall clock, until stopped:
// what the node's monitoring endpoint shows (the clients a lame duck has
// left, a new process) is read for each report.
func (nr *nodeRun) exitProgress(ctx context.Context, mode service.Mode, bound time.Duration) (stop func()) {
	if nr.progress == nil {
		return func() {}
	}
	var before time.Time
	if s := nr.snaps[nr.n.Name]; up(s) {
		before = s.Varz.Start
	}
	what := "exit"
	if mode == service.Graceful {
		what = "lame-duck exit"
	}
	n, read := nr.n, nr.read
	return progress.GoEvery(ctx, nr.progress, progress.Report{Subject: n.Name, Waiting: what, Limit: bound}, func(ctx context.Context) string {
		return exitSeen(mode, before, read.Node(ctx, n))
	}, nr.every)
}

// exitSeen is what a reading of a node being stopped shows: the process
// started at before still serving (with its clients), a new one, or no
// answer.
func exitSeen(mode service.Mode, before time.Time, s *monitor.Snapshot) string {
	switch {
	case !up(s):
		return "no answer at the monitoring endpoint: exited, or not started yet"
	case !before.IsZero() && !s.Varz.Start.Equal(before):
		return "a new process answers; its start has not returned yet"
	case mode == service.Graceful:
		return "lame duck: " + text.Plural(s.Varz.Connections, "client") + " left"
	}
	return "still running: " + text.Plural(s.Varz.Connections, "client")
}

// aliveCommand checks node n's process: the unit's state, or in pidfile
// mode the pid its start printed (startOut) or the pid file.
func aliveCommand(n *cluster.Node, mode service.Mode, startOut string) string {
	if n.Service.Manager == "pidfile" {
		return service.AliveCommand(n, service.StartPID(startOut))
	}
	return service.CommandsFor(n, mode).Alive
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
