package rebalance_test

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/rebalance"
	"github.com/natsops/natsops/internal/cmdutil"
)

func parse(t *testing.T, args ...string) (*rebalance.Options, int, error) {
	t.Helper()
	var got *rebalance.Options
	code, _, err := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return rebalance.NewCmd(f, func(o *rebalance.Options) error { got = o; return nil })
	}, append([]string{"rebalance"}, args...)...)
	return got, code, err
}

// TestFlags: every flag lands in the options with its default; a bad
// value is refused (64) before the run.
func TestFlags(t *testing.T) {
	o, code, err := parse(t)
	if err != nil || code != 0 || o.Within != 0.2 || o.Rounds != 5 || o.MaxPerRound != 1000 || o.Timeout != 30*time.Second || o.DryRun || o.BreakLock {
		t.Fatalf("defaults: %+v, exit %d, %v", o, code, err)
	}
	o, _, err = parse(t, "--within", "10%", "--rounds", "8", "--max-per-round", "50", "--timeout", "1m", "--dry-run", "--break-lock")
	if err != nil || o.Within != 0.1 || o.Rounds != 8 || o.MaxPerRound != 50 || o.Timeout != time.Minute || !o.DryRun || !o.BreakLock {
		t.Errorf("flags: %+v, %v", o, err)
	}
	if o, _, err = parse(t, "--within", "15"); err != nil || o.Within != 0.15 {
		t.Errorf("--within 15 (no %%): %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"--within", "0%"},
		{"--within", "100%"},
		{"--within", "lots"},
		{"--rounds", "0"},
		{"--max-per-round", "-1"},
		{"--timeout", "0s"},
		{"--limit", "n1"},
		{"extra"},
	} {
		if o, code, _ := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called: %v; want 64 before the run", bad, code, o != nil)
		}
	}
}
