package status_test

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/status"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *status.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return status.NewCmd(f, func(o *status.Options) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "status", "--monitor-only", "--interval", "5s")
	if code != 0 || !got.MonitorOnly || got.Interval != 5*time.Second || got.Watch {
		t.Fatalf("exit %d, %+v", code, got)
	}
	// --watch needs a terminal and text output; cmdtest has none.
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "status", "--watch"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("--watch without a terminal: exit %d", code)
	}
	if code, out, _ := cmdtest.Parse(t, newCmd, "status", "--watch", "-o", "json"); code != cmdutil.ExitUsage || got != nil || out == "" {
		t.Errorf("--watch -o json: exit %d, %q", code, out)
	}
}
