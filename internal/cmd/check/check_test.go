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
