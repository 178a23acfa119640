package deploy_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/deploy"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// TestHealthyForFromEnv: NATSOPS_HEALTHY_FOR is the soak when
// --healthy-for is not given, the flag wins over it, and a value that is
// no positive duration is refused (exit 64) naming the variable and the
// flag.
func TestHealthyForFromEnv(t *testing.T) {
	run := func(env string, args ...string) (*deploy.Options, int, string) {
		t.Helper()
		var got *deploy.Options
		var stdout, stderr bytes.Buffer
		sys := cmdtest.System(&stdout, &stderr, false, append([]string{"deploy"}, args...)...)
		sys.Getenv = func(k string) (string, bool) {
			if k == "NATSOPS_HEALTHY_FOR" {
				return env, true
			}
			return "", false
		}
		f := cmdutil.NewFactory(sys, cmdutil.Link{})
		r := &cobra.Command{Use: "natsops", SilenceUsage: true, SilenceErrors: true}
		f.AddGlobalFlags(r)
		r.AddCommand(deploy.NewCmd(f, func(o *deploy.Options) error { got = o; return nil }))
		r.SetArgs(sys.Args)
		cmd, err := r.ExecuteC()
		return got, f.Finish(cmd, err), stderr.String()
	}
	if o, code, _ := run("250ms"); code != 0 || o.Canary.HealthyFor != 250*time.Millisecond {
		t.Errorf("NATSOPS_HEALTHY_FOR=250ms: exit %d, %+v", code, o)
	}
	if o, code, _ := run("250ms", "--healthy-for", "3s"); code != 0 || o.Canary.HealthyFor != 3*time.Second {
		t.Errorf("--healthy-for 3s over the env: exit %d, %+v", code, o)
	}
	for _, bad := range []string{"soon", "0s", "-1s"} {
		if o, code, stderr := run(bad); o != nil || code != cmdutil.ExitUsage || !strings.Contains(stderr, "NATSOPS_HEALTHY_FOR") || !strings.Contains(stderr, "--healthy-for") {
			t.Errorf("NATSOPS_HEALTHY_FOR=%s: exit %d, run called %v: %s", bad, code, o != nil, stderr)
		}
	}
}

func parse(t *testing.T, args ...string) (*deploy.Options, int) {
	t.Helper()
	var got *deploy.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return deploy.NewCmd(f, func(o *deploy.Options) error { got = o; return nil })
	}, append([]string{"deploy"}, args...)...)
	return got, code
}

func TestFlags(t *testing.T) {
	o, code := parse(t)
	if code != 0 || o.Canary.HealthyFor != rollout.DefaultHealthyFor || o.Canary.BreakLock || o.Restart != "auto" || o.Mode != service.Graceful || o.Timeout != 2*time.Minute || o.ReloadTTL != 15*time.Second || o.Canary.StartTimeout != 10*time.Minute {
		t.Fatalf("defaults: %+v, exit %d", o, code)
	}
	o, _ = parse(t, "--check", "--restart", "always", "--mode", "fast", "--timeout", "1m", "--force", "--templates", "tmpl",
		"--reload-timeout", "5s", "--bootstrap", "--stop-after", "2", "--start-timeout", "20m", "--pause", "1s", "--healthy-for", "1s", "--allow-unavailable", "--break-lock", "--rebalance")
	if o == nil || !o.Check || o.Restart != "always" || o.Mode != service.Fast || o.Timeout != time.Minute || !o.Force || o.Build.Templates != "tmpl" ||
		o.ReloadTTL != 5*time.Second || !o.Bootstrap || o.Canary.StopAfter != 2 || o.Canary.StartTimeout != 20*time.Minute || !o.Canary.AllowUnavailable || !o.Canary.BreakLock || o.Canary.HealthyFor != time.Second || !o.Canary.Rebalance {
		t.Errorf("flags: %+v", o)
	}
	for _, bad := range [][]string{
		{"--restart", "sometimes"},
		{"--mode", "slow"},
		{"--timeout", "0s"},
		{"--reload-timeout", "0s"},
		{"--bootstrap", "--restart", "never"},
		{"--start-timeout", "0s"},
		{"--stop-after", "-1"},
	} {
		if o, code := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called: %v; want 64 before the run", bad, code, o != nil)
		}
	}
}

func TestDiffFlags(t *testing.T) {
	var got *deploy.DiffOptions
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return deploy.NewCmdDiff(f, func(o *deploy.DiffOptions) error { got = o; return nil })
	}, "diff", "--templates", "dir", "--limit", "n1")
	if code != 0 || got.Build.Templates != "dir" || len(got.Global.Limit) != 1 {
		t.Errorf("diff: exit %d, %+v", code, got)
	}
}
