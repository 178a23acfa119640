package gendocs_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/gendocs"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *gendocs.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return gendocs.NewCmd(f, func(o *gendocs.Options) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "gendocs", "--man", "m", "--completions", "c", "--markdown", "d", "--gzip", "--source", "s")
	if code != 0 || got.Man != "m" || got.Completions != "c" || got.Markdown != "d" || !got.Gzip || got.Source != "s" {
		t.Fatalf("exit %d, %+v", code, got)
	}
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "gendocs"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("nothing to write: exit %d, want 64 before the run", code)
	}
}
