package restart_test

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/restart"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

func parse(t *testing.T, args ...string) (*restart.Options, int, error) {
	t.Helper()
	var got *restart.Options
	code, _, err := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return restart.NewCmd(f, func(o *restart.Options) error { got = o; return nil })
	}, append([]string{"restart"}, args...)...)
	return got, code, err
}

// TestFlags: every flag lands in the options, with the defaults of one
// place (rollout's); the run is not called when validation refuses.
func TestFlags(t *testing.T) {
	o, code, err := parse(t)
	if err != nil || code != 0 || o.Canary.Rebalance || o.Mode != service.Graceful || o.Timeout != 2*time.Minute || o.Poll != 50*time.Millisecond || o.Canary.HealthyFor != rollout.DefaultHealthyFor {
		t.Fatalf("defaults: %+v, exit %d, %v", o, code, err)
	}
	o, _, err = parse(t, "--node", "n2", "--mode", "fast", "--force", "--dry-run", "--timeout", "30s", "--poll", "10ms",
		"--break-lock", "--no-resume", "--stop-after", "1", "--pause", "5m", "--healthy-for", "20s", "--allow-unavailable", "--rebalance")
	if err != nil || o.Node != "n2" || o.Mode != service.Fast || !o.Force || !o.DryRun || o.Timeout != 30*time.Second || o.Poll != 10*time.Millisecond ||
		!o.Canary.BreakLock || !o.NoResume || o.Canary.StopAfter != 1 || o.Canary.Pause != 5*time.Minute || o.Canary.HealthyFor != 20*time.Second || !o.Canary.AllowUnavailable || !o.Canary.Rebalance {
		t.Errorf("flags: %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"--mode", "slow"},
		{"--node", "n1", "--limit", "n2"},
		{"--timeout", "0s"},
		{"--poll", "-1s"},
		{"--stop-after", "0"},
		{"--pause", "0s"},
		{"--healthy-for", "-5s"},
		{"--timeout", "soon"},
		{"extra"},
	} {
		if o, code, _ := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called: %v; want 64 before the run", bad, code, o != nil)
		}
	}
}
