package replace_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/replace"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/natstest"
)

func parse(t *testing.T, args ...string) (*replace.Options, int) {
	t.Helper()
	var got *replace.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return replace.NewCmd(f, func(o *replace.Options) error { got = o; return nil })
	}, append([]string{"replace"}, args...)...)
	return got, code
}

// TestFlags: every flag lands in the options; --node is required.
func TestFlags(t *testing.T) {
	o, code := parse(t, "--node", "n3", "--timeout", "5s", "--poll", "10ms", "--force", "--break-lock")
	if code != 0 || o.Node != "n3" || o.Op.Timeout != 5*time.Second || o.Op.Poll != 10*time.Millisecond || !o.Op.Force || !o.Op.BreakLock {
		t.Fatalf("flags: %+v, exit %d", o, code)
	}
	if o, code := parse(t); o != nil || code != cmdutil.ExitUsage {
		t.Errorf("no --node: exit %d, run called %v; want 64", code, o != nil)
	}
}

// TestReplaceDead: through the CLI on an in-process cluster: a node that
// serves is refused (exit 1, nothing changed); once it is shut down,
// replace takes it out of the meta group (exit 0, the result names the
// deploy that starts its new host), and a second run finds it already
// out (exit 0, removed false).
func TestReplaceDead(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	inv := natstest.InventoryWithSystemUser(t, servers, t.TempDir())
	natstest.WaitFor(t, "the cluster healthy", func() (bool, string) {
		code, out, stderr := cmdtest.CLI(t, "check", "-i", inv)
		return code == 0, out + stderr
	})
	code, _, stderr := cmdtest.CLI(t, "replace", "--node", "n3", "--yes", "-i", inv)
	if code != cmdutil.ExitError || !strings.Contains(stderr, "it is not dead") {
		t.Errorf("n3 serving: exit %d\n%s", code, stderr)
	}
	// Not the meta leader: a dead leader's group elects another first.
	dead := 2
	if servers[2].JetStreamIsLeader() {
		dead = 1
	}
	name := servers[dead].Name()
	servers[dead].Shutdown()
	var out string
	natstest.WaitFor(t, "replace "+name, func() (bool, string) {
		code, out, stderr = cmdtest.CLI(t, "replace", "--node", name, "--yes", "-i", inv, "-o", "json")
		return code == 0, out + stderr
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Removed bool   `json:"removed"`
		Next    string `json:"next"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || !res.Removed || !strings.Contains(res.Next, "natsops deploy") {
		t.Errorf("result %+v (%v)\n%s", res, err, out)
	}
	code, out, _ = cmdtest.CLI(t, "replace", "--node", name, "--yes", "-i", inv)
	if code != 0 || !strings.Contains(out, "was not in the JetStream meta group") {
		t.Errorf("again: exit %d\n%s", code, out)
	}
}
