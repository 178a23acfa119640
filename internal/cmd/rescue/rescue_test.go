package rescue_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/rescue"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/natstest"
)

func parse(t *testing.T, args ...string) (*rescue.Options, int) {
	t.Helper()
	var got *rescue.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return rescue.NewCmd(f, func(o *rescue.Options) error { got = o; return nil })
	}, append([]string{"rescue"}, args...)...)
	return got, code
}

// TestFlags: --lost is required and a list; rescue has no --force.
func TestFlags(t *testing.T) {
	o, code := parse(t, "--lost", "n2,n3", "--timeout", "5s", "--poll", "10ms", "--break-lock")
	if code != 0 || strings.Join(o.Lost, ",") != "n2,n3" || o.Op.Timeout != 5*time.Second || o.Op.Poll != 10*time.Millisecond || !o.Op.BreakLock {
		t.Fatalf("flags: %+v, exit %d", o, code)
	}
	for _, bad := range [][]string{{}, {"--lost", "n2", "--force"}, {"--lost", "n2", "--timeout", "0s"}} {
		if o, code := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called %v; want 64", bad, code, o != nil)
		}
	}
}

// TestRescue: through the CLI on an in-process cluster. With every node
// up, a rescue is refused (the group has a leader); with n2 and n3 shut
// down, --lost n2 alone is refused (n3 does not answer either), and
// --lost n2,n3 lowers n1's quorum, n1 leads, and n2 and n3 are removed
// from the meta group (exit 0).
func TestRescue(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	inv := natstest.InventoryWithSystemUser(t, servers, t.TempDir())
	natstest.WaitFor(t, "the cluster healthy", func() (bool, string) {
		code, out, stderr := cmdtest.CLI(t, "check", "-i", inv)
		return code == 0, out + stderr
	})
	code, _, stderr := cmdtest.CLI(t, "rescue", "--lost", "n2", "--yes", "-i", inv)
	if code != cmdutil.ExitUnhealthy || !strings.Contains(stderr, "does not match the nodes that do not answer on their monitoring port (none)") {
		t.Errorf("all up: exit %d\n%s", code, stderr)
	}
	servers[1].Shutdown()
	servers[2].Shutdown()
	code, _, stderr = cmdtest.CLI(t, "rescue", "--lost", "n2", "--yes", "-i", inv)
	if code != cmdutil.ExitUnhealthy || !strings.Contains(stderr, "(n2,n3)") {
		t.Errorf("--lost n2 with n2, n3 down: exit %d\n%s", code, stderr)
	}
	// n1 must first notice it has no leader (a follower keeps its leader
	// until the election timeout).
	natstest.WaitFor(t, "n1 without a leader", func() (bool, string) {
		jsz, err := servers[0].Jsz(nil)
		if err != nil || jsz.Meta == nil {
			return false, fmt.Sprint(err)
		}
		return jsz.Meta.Leader == "", "leader " + jsz.Meta.Leader
	})
	code, out, stderr := cmdtest.CLI(t, "rescue", "--lost", "n2,n3", "--yes", "-i", inv, "-o", "json")
	if code != 0 {
		t.Fatalf("rescue --lost n2,n3: exit %d\n%s%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Leader  string   `json:"leader"`
		Removed []string `json:"removed"`
		Quorum  int      `json:"quorum"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Leader != "n1" || strings.Join(res.Removed, ",") != "n2,n3" || res.Quorum != 1 {
		t.Errorf("result %+v (%v)\n%s", res, err, out)
	}
	if !servers[0].JetStreamIsLeader() {
		t.Error("n1 does not lead after the rescue")
	}
}
