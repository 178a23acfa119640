package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/natsops/natsops/pkg/bench"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/remote"
)

// System is the world a command runs in: streams, arguments, environment,
// terminal, clock, this process and its signals. NewSystem is the real one
// and the only code of the command layer that reads os.* or installs a
// signal handler (a test holds every command package to that); tests
// build their own (internal/cmd/cmdtest).
type System struct {
	// Ctx is the commands' context (context.Background when nil); tests
	// cancel it to stand in for Ctrl-C.
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Args   []string
	Getenv func(string) (string, bool)
	// IsTTY reports whether the stream is an interactive terminal.
	IsTTY func(any) bool
	// SSHEnv reads the operator's SSH environment (home, user,
	// ~/.ssh/config, SSH_AUTH_SOCK).
	SSHEnv func() (remote.Env, error)
	// NoFile is this process's open-files limit (soft, hard); nil:
	// unknown, and bench does not check it.
	NoFile func() (soft, hard uint64, err error)
	Clock  fleet.Clock
	// Hostname names this machine ("" when unknown): the audit's and
	// the lock's user@host.
	Hostname func() string
	// PID is this process's id (the rollout lock's holder).
	PID int
	// ProcessAlive tells whether a local pid runs (a lock left by a dead
	// natsops of this machine is stale).
	ProcessAlive func(pid int) bool
	// ProcessStart is a local pid's start time (clock ticks since boot,
	// /proc/PID/stat field 22) and whether it runs (the rollout lock
	// records its holder's; nil or 0: unknown).
	ProcessStart func(pid int) (start uint64, running bool)
	// Executable is the path of this natsops binary (the demo's nodes run
	// it as `natsops server`).
	Executable func() (string, error)
	// HomeDir is the user's home directory ("" when unknown).
	HomeDir func() string
	// Interruptible is ctx cancelled by Ctrl-C, SIGTERM, SIGHUP (the
	// terminal closed) or SIGPIPE (the reader of stdout went away, as
	// `| head` does) until stop is called: the commands that must stop
	// between steps rather than die (the demo, bench, status --watch)
	// ask for it.
	Interruptible func(ctx context.Context) (context.Context, context.CancelFunc)
	// Stoppable is for a run that must finish the step it is on before it
	// stops (a rollout: a node is never left stopped): finish is done at
	// the first SIGINT, SIGTERM, SIGHUP or SIGPIPE (context.Cause says
	// which: a *SignalError), hard (a child of ctx, finish's parent) at a
	// second SIGINT or SIGTERM. stop releases the signals.
	Stoppable func(ctx context.Context) (finish, hard context.Context, stop func())
}

// SignalError is why a Stoppable's finish context is done: the signal.
type SignalError struct{ Signal string }

func (e *SignalError) Error() string { return "interrupted by " + e.Signal }

// stopSignals are the signals that stop a run between steps: Ctrl-C,
// SIGTERM, a closed terminal (SIGHUP), a reader of stdout gone (SIGPIPE:
// with it notified, a write to a closed stdout or stderr fails with
// EPIPE instead of killing the process).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// signalName is how a stop signal is named to the operator.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP (the terminal closed)"
	case syscall.SIGPIPE:
		return "SIGPIPE (the reader of the output went away)"
	}
	return s.String()
}

// stoppable is System.Stoppable on this process's signals.
func stoppable(ctx context.Context) (context.Context, context.Context, func()) {
	hard, cancelHard := context.WithCancel(ctx)
	finish, cancelFinish := context.WithCancelCause(hard)
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				if finish.Err() == nil {
					cancelFinish(&SignalError{Signal: signalName(s)})
					continue
				}
				// Only a second Ctrl-C or SIGTERM is an operator insisting:
				// every later write to a closed stream raises SIGPIPE again.
				if s == os.Interrupt || s == syscall.SIGTERM {
					cancelHard()
				}
			}
		}
	}()
	return finish, hard, func() {
		signal.Stop(ch)
		close(done)
		cancelFinish(nil)
		cancelHard()
	}
}

// deadStream is a stream that stops writing once it is found closed
// (EPIPE: the reader of a pipe went away; EIO: the terminal closed): the
// rest of the run goes on without it, and its writes do not fail again.
type deadStream struct {
	f    *os.File
	mu   sync.Mutex
	dead bool
}

func (d *deadStream) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return len(p), nil
	}
	n, err := d.f.Write(p)
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EIO) {
		d.dead = true
		return len(p), nil
	}
	return n, err
}

// Fd is the stream's descriptor (whether it is a terminal).
func (d *deadStream) Fd() uintptr { return d.f.Fd() }

// NewSystem is this process's world. SIGPIPE is notified for the whole
// run (on a channel nobody needs to read): a write to a closed stdout or
// stderr then fails (EPIPE, and the stream is dropped) instead of killing
// natsops in the middle of what it does; the commands that stop on it
// ask for Interruptible or Stoppable.
func NewSystem() *System {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return &System{
		Stdin:  os.Stdin,
		Stdout: &deadStream{f: os.Stdout},
		Stderr: &deadStream{f: os.Stderr},
		Args:   os.Args[1:],
		Getenv: os.LookupEnv,
		SSHEnv: remote.LoadEnv,
		NoFile: bench.ClientNoFile,
		Clock:  fleet.RealClock{},
		IsTTY: func(f any) bool {
			if fd, ok := f.(interface{ Fd() uintptr }); ok {
				return term.IsTerminal(int(fd.Fd()))
			}
			return false
		},
		Hostname: func() string {
			h, _ := os.Hostname()
			return h
		},
		PID: os.Getpid(),
		ProcessAlive: func(pid int) bool {
			err := syscall.Kill(pid, 0)
			return err == nil || errors.Is(err, syscall.EPERM)
		},
		ProcessStart: func(pid int) (uint64, bool) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return 0, false
				}
				// No /proc (another OS): whether it runs is all we know.
				err := syscall.Kill(pid, 0)
				return 0, err == nil || errors.Is(err, syscall.EPERM)
			}
			return ParseProcStat(string(b))
		},
		Executable: os.Executable,
		HomeDir: func() string {
			if u, err := user.Current(); err == nil {
				return u.HomeDir
			}
			return ""
		},
		Interruptible: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, stopSignals...)
		},
		Stoppable: stoppable,
	}
}

// ParseProcStat reads a /proc/PID/stat line: the process's start time
// (field 22, clock ticks since boot) and whether it runs (a zombie does
// not). The command name (field 2) may hold spaces and parentheses: the
// fields after it are counted from its last ')'.
func ParseProcStat(stat string) (start uint64, running bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, true
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, true
	}
	start, _ = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] != "Z" && f[0] != "X"
}

// Context is the commands' context.
func (s *System) Context() context.Context {
	if s.Ctx == nil {
		return context.Background()
	}
	return s.Ctx
}
