// Package cmdtest runs natsops commands in tests: an empty world (no
// input, no environment, no SSH setup, no signals) and the whole command
// line run in-process through the root, or one command alone through its
// runF to check flag parsing and option validation without running it.
package cmdtest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/root"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/remote"
)

// System is an empty world for running natsops in-process; tty says
// whether every stream is a terminal.
func System(stdout, stderr io.Writer, tty bool, args ...string) *cmdutil.System {
	return &cmdutil.System{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Args: args,
		Getenv:       func(string) (string, bool) { return "", false },
		IsTTY:        func(any) bool { return tty },
		SSHEnv:       func() (remote.Env, error) { return remote.Env{}, nil },
		Clock:        fleet.RealClock{},
		Hostname:     func() string { return "testhost" },
		PID:          1,
		ProcessAlive: func(int) bool { return false },
		Executable:   func() (string, error) { return "natsops", nil },
		HomeDir:      func() string { return "" },
		Interruptible: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(ctx)
		},
		Stoppable: func(ctx context.Context) (context.Context, context.Context, func()) {
			hard, cancel := context.WithCancel(ctx)
			return hard, hard, cancel
		},
	}
}

// Run runs the command line in sys (root.Main) and returns its exit code.
func Run(sys *cmdutil.System) int { return root.Main(sys, cmdutil.Link{}) }

// CLI runs natsops in-process with args in an empty world; it returns
// the exit code, stdout and stderr.
func CLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(System(&stdout, &stderr, false, args...))
	return code, stdout.String(), stderr.String()
}

// Parse runs one command built by newCmd (with its runF set by the
// caller) under a root that has the global flags, on args, as the real
// root would: it returns what the run ended with, its exit code and
// stdout (-o json's result included).
func Parse(t testing.TB, newCmd func(*cmdutil.Factory) *cobra.Command, args ...string) (int, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sys := System(&stdout, &stderr, false, args...)
	f := cmdutil.NewFactory(sys, cmdutil.Link{})
	r := &cobra.Command{Use: "natsops", SilenceUsage: true, SilenceErrors: true}
	f.AddGlobalFlags(r)
	r.AddCommand(newCmd(f))
	r.SetArgs(args)
	r.SetOut(&stdout)
	r.SetErr(&stderr)
	cmd, err := r.ExecuteC()
	return f.Finish(cmd, err), stdout.String(), err
}
