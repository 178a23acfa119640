package demo_test

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/demo"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *demo.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return demo.NewCmd(f, func(o *demo.Options) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "demo", "--graceful", "--keep", "--supercluster", "--timeout", "1m")
	if code != 0 || !got.Graceful || !got.Keep || !got.Supercluster || got.Timeout != time.Minute {
		t.Fatalf("exit %d, %+v", code, got)
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "demo", "--stop", "/tmp/x"); code != 0 || got.Stop != "/tmp/x" {
		t.Fatalf("--stop: exit %d, %+v", code, got)
	}
	got = nil
	if code, out, _ := cmdtest.Parse(t, newCmd, "demo", "--timeout", "0s", "-o", "json"); code != cmdutil.ExitUsage || got != nil || out == "" {
		t.Errorf("--timeout 0s: exit %d, %q; want 64 and the result line before the run", code, out)
	}
}
