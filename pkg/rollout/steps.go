package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// steps stops the node, waits for its process to exit and (with start)
// starts it, in one round trip, reporting each step; it returns the start
// step's output. Once the node is going down the script runs to its end
// even if interrupted, so the node is not left half done.
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
