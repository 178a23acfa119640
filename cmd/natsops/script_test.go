package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/natsops/natsops/internal/cmd/root"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestMain(m *testing.M) {
	// The rollouts these tests run on fresh local clusters soak 100ms a
	// node, not the 10s default (tested in internal/cmd/restart and
	// deploy): dozens of rollouts, 30s more each, would add many minutes.
	// A test about the soak passes --healthy-for.
	os.Setenv("NATSOPS_HEALTHY_FOR", "100ms")
	testscript.Main(m, map[string]func(){
		"natsops": func() { os.Exit(root.Main(cmdutil.NewSystem(), cmdutil.Link{})) },
	})
}

// TestScripts runs the CLI flows in testdata/script/*.txtar: real binary,
// real files, exit codes and output checked. `exec` asserts exit 0;
// `exits CODE` asserts any other code exactly (never `! exec`, which
// accepts every non-zero code).
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

// cmdExits is `exits CODE program [args...]`: run the program like exec
// (its stdout and stderr are there for the next stdout/stderr commands)
// and fail unless it exits with exactly CODE, the README's exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("! exits: say the exit code expected instead: exits CODE program [args...]")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 || want > 255 {
		ts.Fatalf("exits: %q is not an exit code (0..255)", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %s did not run: %v", args[1], err)
		}
		if got = ee.ExitCode(); got < 0 {
			ts.Fatalf("%s did not exit, want exit %d: %v", args[1], want, ee)
		}
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
