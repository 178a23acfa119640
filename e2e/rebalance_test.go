//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/pkg/rebalance"
	"github.com/natsops/natsops/pkg/service"
)

// rebalanceInventory is the restart inventory with the system account
// user rebalance logs in as, and the app user the clients are.
func rebalanceInventory(t *testing.T) string {
	t.Helper()
	t.Setenv("NATSOPS_E2E_SYS", "sys-e2e-password-0123")
	t.Setenv("NATSOPS_E2E_APP", "app-e2e-password-0123")
	base, err := os.ReadFile(restartInventory(t))
	if err != nil {
		t.Fatal(err)
	}
	auth := "\n[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:NATSOPS_E2E_SYS\"\n\n[[server.auth.users]]\nuser = \"app\"\npassword = \"env:NATSOPS_E2E_APP\"\n"
	p := filepath.Join(tb.Dir, "rebalance-e2e.toml")
	if err := os.WriteFile(p, append(base, auth...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// connzTotals is every node's client count as its own /connz says.
func connzTotals(c context.Context, t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range names() {
		code, body, err := tb.HTTPGet(c, n, "/connz?limit=1")
		if err != nil || code != 200 {
			t.Fatalf("%s /connz: %d %v", n, code, err)
		}
		var z struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(body, &z); err != nil {
			t.Fatal(err)
		}
		out[n] = z.Total
	}
	return out
}

// rebalanceOf is the rebalance result of a natsops -o json run: the
// result line itself (rebalance) or its "rebalance" (restart).
func rebalanceOf(t *testing.T, out string, nested bool) rebalance.Result {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := []byte(lines[len(lines)-1])
	var r rebalance.Result
	if nested {
		var w struct {
			Rebalance *rebalance.Result `json:"rebalance"`
		}
		if err := json.Unmarshal(last, &w); err != nil || w.Rebalance == nil {
			t.Fatalf("no rebalance in the result (%v): %s", err, last)
		}
		return *w.Rebalance
	}
	if err := json.Unmarshal(last, &r); err != nil {
		t.Fatalf("result: %v: %s", err, last)
	}
	return r
}

// withinEven: every node holds total/nodes ±20 %.
func withinEven(t *testing.T, what string, per map[string]int, total int) {
	t.Helper()
	even := float64(total) / float64(len(per))
	for n, k := range per {
		if float64(k) < even*0.8 || float64(k) > even*1.2 {
			t.Errorf("%s: %s holds %d clients, want %.0f ±20 %% (all: %v)", what, n, k, even, per)
		}
	}
}

// TestRebalanceAfterRestart: 90 nats.go clients that know every node's
// URL. On Debian's 2.9.10 a rolling restart skews them and rebalance is
// refused naming the version (no KICK before 2.10.0). Upgraded to 2.15 by
// natsops deploy, a rolling restart (lame duck) leaves the node restarted
// last with none, which `rebalance --dry-run` shows outside ±20 %;
// `rebalance --yes` brings every node within ±20 % of even as each
// server's /connz counts it, every client connected; `restart
// --rebalance` does the restart and the rebalance in one run; history
// records the rebalances.
func TestRebalanceAfterRestart(t *testing.T) {
	needCluster(t)
	c := ctx(t, 15*time.Minute)
	old := rebalanceInventory(t)
	inv := installRendered(c, t, old)
	// After installRendered has put the configs back (cleanups run last
	// first): the 2.15 binary's drop-in and its JetStream store go, as
	// TestDeployUpgrade leaves them.
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range inv.Nodes {
			nodeOut(c, t, n.Name, "systemctl stop nats-server; rm -rf /var/lib/nats/jetstream/*; rm -f /etc/systemd/system/nats-server.service.d/"+service.ExecDropInName+"* /etc/systemd/system/nats-server.service.d/"+service.ContractDropInName+"*; systemctl daemon-reload; echo ok")
		}
	})

	// 90 clients that know every node's URL.
	var clients []*nats.Conn
	for i := 0; i < 90; i++ {
		nc, err := nats.Connect(clientURLs(inv), nats.UserInfo("app", "app-e2e-password-0123"), nats.MaxReconnects(-1), nats.Name(fmt.Sprintf("e2e-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		t.Cleanup(nc.Close)
	}
	t.Logf("clients after connecting: %v", connzTotals(c, t))

	// Debian's 2.9.10 cannot close a client on request: after a rolling
	// restart (fast: no lame duck to wait for) the clients are skewed, and
	// rebalance is refused naming the version, nothing closed.
	out, stderr, code := natsops(c, t, "-i", old, "restart", "--yes", "--mode", "fast")
	if code != 0 {
		t.Fatalf("restart on 2.9: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = natsops(c, t, "-i", old, "rebalance", "--yes")
	if code != 1 || !strings.Contains(stderr, "runs 2.9.") || !strings.Contains(stderr, "2.10.0") {
		t.Fatalf("rebalance on 2.9: exit %d, want 1 naming the version\n%s%s", code, out, stderr)
	}

	// The nodes upgraded to 2.15 by natsops (the minor-version jump
	// needs --force).
	src, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	upg := strings.Replace(string(src), `binary = "/usr/sbin/nats-server"`, `binary = "`+testbedBinary215+`"`, 1)
	if upg == string(src) {
		t.Fatal("the testbed inventory has no service.binary line to change")
	}
	invPath := filepath.Join(tb.Dir, "rebalance-215-e2e.toml")
	if err := os.WriteFile(invPath, []byte(upg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(invPath) })
	if out, stderr, code := natsops(c, t, "-i", invPath, "deploy", "--yes", "--mode", "fast", "--force"); code != 0 {
		t.Fatalf("upgrade to 2.15: exit %d\n%s%s", code, out, stderr)
	}
	waitHealthy(c, t, inv)

	// The scenario: a rolling restart (lame duck) on 2.15.
	out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 0 {
		t.Fatalf("restart: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = natsops(c, t, "-i", invPath, "rebalance", "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("rebalance --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	dry := rebalanceOf(t, out, false)
	t.Logf("after the restart: %s", rebalance.Counts(dry.Before))
	if dry.Before.Total != 90 || dry.Before.Within(0.2) || dry.Closed != 0 {
		t.Fatalf("after a rolling restart the 90 clients should sit outside ±20 %% (the node restarted last holds none): %+v", dry.Before)
	}

	out, stderr, code = natsops(c, t, "-i", invPath, "rebalance", "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("rebalance --yes: exit %d\n%s%s", code, out, stderr)
	}
	res := rebalanceOf(t, out, false)
	t.Logf("rebalance: %s -> %s in %d rounds, %d closed", rebalance.Counts(res.Before), rebalance.Counts(res.After), len(res.Rounds), res.Closed)
	if !res.Reached || res.After.Total != 90 {
		t.Fatalf("rebalance result: %+v", res)
	}
	per := connzTotals(c, t)
	withinEven(t, "after rebalance (/connz)", per, 90)
	for _, nc := range clients {
		if !nc.IsConnected() {
			t.Errorf("%s is not connected after the rebalance: %s", nc.Opts.Name, nc.Status())
		}
	}

	out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--rebalance", "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("restart --rebalance: exit %d\n%s%s", code, out, stderr)
	}
	rr := rebalanceOf(t, out, true)
	t.Logf("restart --rebalance: %s -> %s in %d rounds", rebalance.Counts(rr.Before), rebalance.Counts(rr.After), len(rr.Rounds))
	if !rr.Reached || rr.After.Total != 90 || rr.Before.Within(0.2) {
		t.Fatalf("restart --rebalance: %+v", rr)
	}
	withinEven(t, "after restart --rebalance (/connz)", connzTotals(c, t), 90)

	out, _, code = natsops(c, t, "-i", invPath, "history", "--limit", "5")
	if code != 0 || strings.Count(out, "rebalance") < 2 {
		t.Errorf("history does not show both rebalances: exit %d\n%s", code, out)
	}
}
