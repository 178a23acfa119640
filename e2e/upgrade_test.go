//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
)

// testbedBinary215 is the nats-server v2.15 binary the testbed installs
// next to Debian's 2.9.10 (/usr/sbin/nats-server).
const testbedBinary215 = "/usr/local/bin/nats-server-2.15"

// TestDeployUpgrade: the rolling upgrade of Debian's nats-server 2.9.10
// service to the v2.15 binary. Setting service.binary is the whole change:
// deploy sees the version the binary reports differ from the running one,
// validates the config with the new binary, installs the unit's ExecStart
// drop-in and restarts the nodes one at a time (meta leader last) while a
// client publishes to an R3 stream: every node ends on 2.15 with a new
// start, the cluster is healthy, no acknowledged message is lost, and a
// second deploy has nothing to do.
func TestDeployUpgrade(t *testing.T) {
	needCluster(t)
	c := ctx(t, 8*time.Minute)
	oldInv := restartInventory(t)
	inv := installRendered(c, t, oldInv)
	t.Cleanup(func() {
		// Before installRendered's cleanup restarts the units: back to
		// the packaged ExecStart.
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range inv.Nodes {
			nodeOut(c, t, n.Name, "rm -f /etc/systemd/system/nats-server.service.d/"+cluster.ExecDropInName+"*; systemctl daemon-reload; echo ok")
		}
	})
	before := waitHealthy(c, t, inv)
	for name, s := range before {
		if !strings.HasPrefix(s.Varz.Version, "2.9.") {
			t.Fatalf("%s runs %s before the upgrade, want Debian's 2.9.x", name, s.Varz.Version)
		}
	}

	src, err := os.ReadFile(oldInv)
	if err != nil {
		t.Fatal(err)
	}
	upg := strings.Replace(string(src), `binary = "/usr/sbin/nats-server"`, `binary = "`+testbedBinary215+`"`, 1)
	if upg == string(src) {
		t.Fatal("the testbed inventory has no service.binary line to change")
	}
	upgPath := filepath.Join(tb.Dir, "upgrade-e2e.toml")
	if err := os.WriteFile(upgPath, []byte(upg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(upgPath) })

	out, _, code := natsops(c, t, "-i", upgPath, "deploy", "--check")
	if code != 2 || !strings.Contains(out, "restart needed (nats-server 2.9.10 runs, "+testbedBinary215+" is 2.15.") || !strings.Contains(out, "+ExecStart="+testbedBinary215+" -c /etc/nats-server.conf") {
		t.Fatalf("deploy --check of the upgrade: exit %d\n%s", code, out)
	}

	p, check := startTraffic(c, t, inv)
	time.Sleep(time.Second)
	began := time.Now()
	out, stderr, code := natsops(c, t, "-i", upgPath, "deploy", "--yes")
	took := time.Since(began)
	time.Sleep(time.Second)
	check()
	if code != 0 {
		t.Fatalf("upgrade deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Count(out, ": restarted") != len(inv.Nodes) {
		t.Errorf("want every node restarted:\n%s", out)
	}
	after := waitHealthy(c, t, inv)
	for _, n := range inv.Nodes {
		s := after[n.Name]
		if !strings.HasPrefix(s.Varz.Version, "2.15.") {
			t.Errorf("%s runs %s after the upgrade, want 2.15.x", n.Name, s.Varz.Version)
		}
		if !s.Varz.Start.After(before[n.Name].Varz.Start) {
			t.Errorf("%s: start time did not change", n.Name)
		}
		if got := nodeOut(c, t, n.Name, "systemctl show -p ExecStart --value nats-server | grep -o 'path=[^ ;]*'"); got != "path="+testbedBinary215 {
			t.Errorf("%s: unit runs %q", n.Name, got)
		}
	}
	if _, _, code := natsops(c, t, "-i", upgPath, "deploy", "--check"); code != 0 {
		t.Errorf("deploy --check after the upgrade: exit %d, want 0 (nothing pending)", code)
	}
	p.mu.Lock()
	t.Logf("rolling upgrade 2.9.10 -> 2.15 of %d nodes under load: %s (longest subscriber gap %s)", len(inv.Nodes), took.Round(time.Millisecond), p.maxGap.Round(time.Millisecond))
	p.mu.Unlock()
}
