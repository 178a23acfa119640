package evacuate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/evacuate"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/natstest"
)

func parse(t *testing.T, args ...string) (*evacuate.Options, int) {
	t.Helper()
	var got *evacuate.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return evacuate.NewCmd(f, func(o *evacuate.Options) error { got = o; return nil })
	}, append([]string{"evacuate"}, args...)...)
	return got, code
}

// TestFlags: every flag lands in the options; --node is required.
func TestFlags(t *testing.T) {
	o, code := parse(t, "--node", "n2")
	if code != 0 || o.Node != "n2" || o.Op.Timeout != evacuate.DefaultTimeout || o.Op.Force || o.Op.BreakLock {
		t.Fatalf("defaults: %+v, exit %d", o, code)
	}
	o, _ = parse(t, "--node", "n2", "--timeout", "5s", "--poll", "10ms", "--force", "--break-lock")
	if o.Op.Timeout != 5*time.Second || o.Op.Poll != 10*time.Millisecond || !o.Op.Force || !o.Op.BreakLock {
		t.Errorf("flags: %+v", o)
	}
	for _, bad := range [][]string{{}, {"--node", "n2", "--timeout", "0s"}, {"--node", "n2", "extra"}} {
		if o, code := parse(t, bad...); o != nil || code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, run called %v; want 64", bad, code, o != nil)
		}
	}
}

// TestEvacuateR1: through the CLI on an in-process cluster, the node
// holding an R1 stream is evacuated: it holds no replica after, the
// stream is led elsewhere with every message (exit 0, the result names
// the stream); a second run finds nothing to move; an R3 stream with
// only two other nodes is refused for room (exit 3), nothing moved.
func TestEvacuateR1(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	inv := natstest.InventoryWithSystemUser(t, servers, t.TempDir())
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(natstest.AppUser, natstest.AppPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	var si *nats.StreamInfo
	natstest.WaitFor(t, "stream R1", func() (bool, string) {
		si, err = js.AddStream(&nats.StreamConfig{Name: "R1", Subjects: []string{"r1"}, Replicas: 1})
		return err == nil, fmt.Sprint(err)
	})
	for i := 0; i < 100; i++ {
		if _, err := js.Publish("r1", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	holder := si.Cluster.Leader
	natstest.WaitFor(t, "the cluster healthy", func() (bool, string) {
		code, out, stderr := cmdtest.CLI(t, "check", "-i", inv)
		return code == 0, out + stderr
	})
	code, out, stderr := cmdtest.CLI(t, "evacuate", "--node", holder, "--yes", "--poll", "50ms", "-i", inv, "-o", "json")
	if code != 0 {
		t.Fatalf("evacuate %s: exit %d\n%s%s", holder, code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Moved []string `json:"moved"`
		Done  []string `json:"done"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || strings.Join(res.Moved, ",") != "$G/R1" || strings.Join(res.Done, ",") != holder {
		t.Errorf("result %+v (%v)\n%s", res, err, out)
	}
	si, err = js.StreamInfo("R1")
	if err != nil || si.Cluster.Leader == holder || si.State.Msgs != 100 {
		t.Errorf("after: %+v, %v; want led elsewhere with 100 messages", si, err)
	}
	if code, out, _ := cmdtest.CLI(t, "evacuate", "--node", holder, "--yes", "-i", inv); code != 0 || !strings.Contains(out, "nothing moved") {
		t.Errorf("again: exit %d\n%s", code, out)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "the cluster healthy", func() (bool, string) {
		code, out, stderr := cmdtest.CLI(t, "check", "-i", inv)
		return code == 0, out + stderr
	})
	code, _, stderr = cmdtest.CLI(t, "evacuate", "--node", "n1", "--yes", "-i", inv)
	if code != cmdutil.ExitUnhealthy || !strings.Contains(stderr, "$G/R3 has 3 replicas") {
		t.Errorf("R3 on 3 nodes: exit %d, want 3 and no room\n%s", code, stderr)
	}
}
