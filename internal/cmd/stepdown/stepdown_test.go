package stepdown_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/stepdown"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/natstest"
)

func parse(t *testing.T, args ...string) (*stepdown.Options, int) {
	t.Helper()
	var got *stepdown.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return stepdown.NewCmd(f, func(o *stepdown.Options) error { got = o; return nil })
	}, append([]string{"step-down"}, args...)...)
	return got, code
}

// TestFlags: every flag lands in the options; bad bounds are usage
// errors before the run.
func TestFlags(t *testing.T) {
	o, code := parse(t)
	if code != 0 || o.To != "" || o.Op.Timeout != stepdown.DefaultTimeout || o.Op.Poll != 250*time.Millisecond || o.Op.Force || o.Op.BreakLock {
		t.Fatalf("defaults: %+v, exit %d", o, code)
	}
	o, _ = parse(t, "--to", "n2", "--timeout", "5s", "--poll", "10ms", "--force", "--break-lock")
	if o.To != "n2" || o.Op.Timeout != 5*time.Second || o.Op.Poll != 10*time.Millisecond || !o.Op.Force || !o.Op.BreakLock {
		t.Errorf("flags: %+v", o)
	}
	for _, bad := range [][]string{{"--timeout", "0s"}, {"--poll", "-1s"}, {"extra"}} {
		if o, code := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called %v; want 64", bad, code, o != nil)
		}
	}
}

// TestStepDownTo: through the CLI, on a real in-process cluster: the
// leader moves to the node named, the result says so (exit 0); an
// unknown --to is a usage error; no terminal and no --yes is refused
// (exit 5); the node already leading changes nothing (exit 0).
func TestStepDownTo(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	inv := natstest.InventoryWithSystemUser(t, servers, t.TempDir())
	leader := func() string {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return s.Name()
			}
		}
		return ""
	}
	natstest.WaitFor(t, "a meta leader", func() (bool, string) { return leader() != "", "none" })
	natstest.WaitFor(t, "the cluster healthy", func() (bool, string) {
		code, out, stderr := cmdtest.CLI(t, "check", "-i", inv)
		return code == 0, out + stderr
	})
	prev := leader()
	to := "n1"
	if prev == "n1" {
		to = "n3"
	}
	code, out, stderr := cmdtest.CLI(t, "step-down", "--to", to, "--yes", "-i", inv, "-o", "json")
	if code != 0 {
		t.Fatalf("step-down --to %s: exit %d\n%s%s", to, code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Event    string `json:"event"`
		Previous string `json:"previous"`
		Leader   string `json:"leader"`
		OK       bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Event != "result" || !res.OK || res.Leader != to || res.Previous != prev {
		t.Errorf("result %+v (%v), want %s -> %s\n%s", res, err, prev, to, out)
	}
	if got := leader(); got != to {
		t.Errorf("the servers say %s leads, want %s", got, to)
	}
	code, out, _ = cmdtest.CLI(t, "step-down", "--to", to, "--yes", "-i", inv)
	if code != 0 || !strings.Contains(out, to+" already leads") {
		t.Errorf("--to the leader: exit %d\n%s", code, out)
	}
	if code, _, stderr := cmdtest.CLI(t, "step-down", "--to", "n9", "--yes", "-i", inv); code != cmdutil.ExitUsage || !strings.Contains(stderr, "n1, n2, n3") {
		t.Errorf("--to n9: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := cmdtest.CLI(t, "step-down", "-i", inv); code != cmdutil.ExitCancelled || !strings.Contains(stderr, "--yes") {
		t.Errorf("no terminal, no --yes: exit %d\n%s", code, stderr)
	}
}
