package render_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/render"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *render.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return render.NewCmd(f, func(o *render.Options) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "render", "--out", "-", "--show-secrets", "--templates", "t")
	if code != 0 || got.Out != "-" || !got.ShowSecrets || got.Build.Templates != "t" {
		t.Fatalf("exit %d, %+v", code, got)
	}
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "render"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("no --out: exit %d, want 64 before the run", code)
	}
}
