package provision_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/provision"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *provision.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return provision.NewCmd(f, func(o *provision.Options) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "provision", "--check", "--yes", "-v")
	if code != 0 || !got.Check || !got.Global.Yes || got.Global.Verbose != 1 {
		t.Fatalf("exit %d, %+v", code, got)
	}
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "provision", "--parallel", "0"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("--parallel 0: exit %d, want 64 before the run", code)
	}
}
