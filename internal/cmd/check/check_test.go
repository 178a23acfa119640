package check_test

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/check"
	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmdutil"
)

func parse(t *testing.T, args ...string) (*check.Options, int, string) {
	t.Helper()
	var got *check.Options
	code, out, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return check.NewCmd(f, func(o *check.Options) error { got = o; return nil })
	}, append([]string{"check"}, args...)...)
	return got, code, out
}

// TestFlags: thresholds land in the options; the format follows -o json;
// every usage error is UNKNOWN (3), never 64: check exits the Nagios way.
func TestFlags(t *testing.T) {
	o, code, _ := parse(t, "--warn-connections", "70", "--crit-connections", "90", "--warn-fds", "60", "--crit-fds", "85",
		"--warn-slow", "5", "--crit-slow", "50", "--allow-version-skew", "--monitor-only", "--format", "nagios")
	if code != 0 || o.WarnConnPct != 70 || o.CritConnPct != 90 || o.WarnFDsPct != 60 || o.CritFDsPct != 85 || o.WarnSlow != 5 || o.CritSlow != 50 ||
		!o.AllowVersions || !o.MonitorOnly || o.Format != "nagios" {
		t.Fatalf("exit %d, %+v", code, o)
	}
	if o, _, _ := parse(t); o.Format != "text" {
		t.Errorf("default format %q", o.Format)
	}
	if o, _, _ := parse(t, "-o", "json"); o.Format != "json" {
		t.Errorf("-o json: format %q", o.Format)
	}
	if o, _, _ := parse(t, "--format", "json"); o.Format != "json" || !o.JSON() {
		t.Errorf("--format json is -o json: %q, json %v", o.Format, o.JSON())
	}
	for _, bad := range [][]string{{"--format", "xml"}, {"--format", "nagios", "-o", "json"}, {"--warn-fds", "abc"}, {"extra"}} {
		o, code, out := parse(t, bad...)
		if o != nil || code != cmdutil.CheckUnknown {
			t.Errorf("%v: exit %d, run called %v; want 3 (UNKNOWN) before the run", bad, code, o != nil)
		}
		if strings.Contains(strings.Join(bad, " "), "-o json") && !strings.Contains(out, `"exit_code": 3`) {
			t.Errorf("%v: no JSON result: %q", bad, out)
		}
	}
}

// TestInvertedThresholdsRefused: a warning above its critical threshold
// is a usage error (UNKNOWN, 3) naming both flags, for every pair; equal
// is accepted.
func TestInvertedThresholdsRefused(t *testing.T) {
	for _, pair := range [][2]string{{"--warn-connections", "--crit-connections"}, {"--warn-fds", "--crit-fds"}, {"--warn-js", "--crit-js"}, {"--warn-slow", "--crit-slow"}} {
		var stderr strings.Builder
		code, _, err := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
			return check.NewCmd(f, func(o *check.Options) error { t.Errorf("%v: run called", pair); return nil })
		}, "check", pair[0], "90", pair[1], "80")
		if err != nil {
			stderr.WriteString(err.Error())
		}
		if code != cmdutil.CheckUnknown || !strings.Contains(stderr.String(), pair[0]+" 90") || !strings.Contains(stderr.String(), pair[1]+" 80") {
			t.Errorf("%v: exit %d, error %q; want 3 naming both flags", pair, code, stderr.String())
		}
		if o, code, _ := parse(t, pair[0], "80", pair[1], "80"); o == nil || code != 0 {
			t.Errorf("%v equal: exit %d", pair, code)
		}
	}
	o, code, _ := parse(t, "--warn-js", "60", "--crit-js", "70")
	if code != 0 || o.WarnJSPct != 60 || o.CritJSPct != 70 {
		t.Errorf("--warn-js/--crit-js: exit %d, %+v", code, o)
	}
	if o, _, _ := parse(t); o.WarnJSPct != 75 || o.CritJSPct != 90 {
		t.Errorf("js defaults %v/%v, want natscli's 75/90", o.WarnJSPct, o.CritJSPct)
	}
}
