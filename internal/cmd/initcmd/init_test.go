package initcmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/initcmd"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *initcmd.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return initcmd.NewCmd(f, func(o *initcmd.Options) error { got = o; return nil })
	}, "init", "--force", "-i", "mine.toml")
	if code != 0 || !got.Force || got.Global.Inventory != "mine.toml" {
		t.Errorf("exit %d, %+v", code, got)
	}
}

// TestInit: a new file is written; an existing one is kept without
// --force (exit 1, the flag named) and replaced with it.
func TestInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natsops.toml")
	newCmd := func(f *cmdutil.Factory) *cobra.Command { return initcmd.NewCmd(f, nil) }
	if code, _, err := cmdtest.Parse(t, newCmd, "init", "-i", path); code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	os.WriteFile(path, []byte("# mine\n"), 0o644)
	code, _, err := cmdtest.Parse(t, newCmd, "init", "-i", path)
	if b, _ := os.ReadFile(path); code != cmdutil.ExitError || err == nil || !strings.Contains(err.Error(), "use --force") || string(b) != "# mine\n" {
		t.Fatalf("over a file: exit %d, %v, file %q", code, err, b)
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "init", "-i", path, "--force"); code != 0 {
		t.Fatalf("--force: exit %d", code)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "[[node]]") {
		t.Errorf("--force did not write the example: %q", b)
	}
}
