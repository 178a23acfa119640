package cmdutil

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"os/user"
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
	// Executable is the path of this natsops binary (the demo's nodes run
	// it as `natsops server`).
	Executable func() (string, error)
	// HomeDir is the user's home directory ("" when unknown).
	HomeDir func() string
	// Interruptible is ctx cancelled by Ctrl-C or SIGTERM until stop is
	// called: the commands that must stop between steps rather than die
	// (rollouts, the demo, bench, status --watch) ask for it.
	Interruptible func(ctx context.Context) (context.Context, context.CancelFunc)
}

// NewSystem is this process's world.
func NewSystem() *System {
	return &System{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
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
		Executable: os.Executable,
		HomeDir: func() string {
			if u, err := user.Current(); err == nil {
				return u.HomeDir
			}
			return ""
		},
		Interruptible: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		},
	}
}

// Context is the commands' context.
func (s *System) Context() context.Context {
	if s.Ctx == nil {
		return context.Background()
	}
	return s.Ctx
}
