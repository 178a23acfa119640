package history_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/history"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *history.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return history.NewCmd(f, func(o *history.Options) error { got = o; return nil })
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "history"); code != 0 || got.Limit != 20 || got.Node != "" {
		t.Fatalf("defaults: exit %d, %+v", code, got)
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "history", "--node", "n1", "--limit", "0"); code != 0 || got.Node != "n1" || got.Limit != 0 {
		t.Fatalf("exit %d, %+v", code, got)
	}
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "history", "--limit", "-2"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("--limit -2: exit %d, want 64 before the run", code)
	}
}
