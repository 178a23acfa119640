package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/pkg/rollout"
)

// TestRebalanceThroughCLI: a local 3-node cluster given a system account
// (deploy, one node at a time), 30 clients all on n1: `rebalance
// --dry-run` closes nothing, `rebalance --yes -o json` streams its rounds
// and ends with every node within ±20 % of even; `restart --rebalance`
// evens the clients the restart piled up; and the refusals: no system
// user (exit 1), bad flags (exit 64), --limit (exit 64).
func TestRebalanceThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	plain := c.InventoryPath()
	t.Setenv("NATSOPS_TEST_SYS", "sys-password-0123456789")
	t.Setenv("NATSOPS_TEST_APP", "app-password-0123456789")
	src, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	auth := "\n[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:NATSOPS_TEST_SYS\"\n\n[[server.auth.users]]\nuser = \"app\"\npassword = \"env:NATSOPS_TEST_APP\"\n"
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(inv, append(src, auth...), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without the system user: refused, naming the keys (exit 1).
	code, _, stderr := natsopsExec(t, bin, "rebalance", "--yes", "-i", plain)
	if code != ExitError || !strings.Contains(stderr, "server.auth.system_user") {
		t.Fatalf("rebalance without a system user: exit %d, want %d naming server.auth.system_user\n%s", code, ExitError, stderr)
	}
	for _, bad := range [][]string{{"--within", "0%"}, {"--within", "abc"}, {"--rounds", "0"}, {"--max-per-round", "0"}, {"--timeout", "0s"}, {"--limit", "n1"}} {
		if code, _, stderr := natsopsExec(t, bin, append([]string{"rebalance", "--yes", "-i", inv}, bad...)...); code != ExitUsage {
			t.Errorf("rebalance %s: exit %d, want %d\n%s", strings.Join(bad, " "), code, ExitUsage, stderr)
		}
	}

	if code, out, stderr := natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", inv); code != ExitOK {
		t.Fatalf("deploying the system account: exit %d\n%s%s", code, out, stderr)
	}
	n1 := fmt.Sprintf("nats://127.0.0.1:%d", *c.Inventory.Nodes[0].Server.Port)
	for i := 0; i < 30; i++ {
		nc, err := nats.Connect(n1, nats.UserInfo("app", "app-password-0123456789"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
	}

	code, out, stderr := natsopsExec(t, bin, "rebalance", "--dry-run", "-i", inv)
	if code != ExitOK || !strings.Contains(out, "clients before: n1 30, n2 0, n3 0") || !strings.Contains(out, "would close 20 on n1") {
		t.Fatalf("rebalance --dry-run: exit %d\n%s%s", code, out, stderr)
	}

	// Another run's lock (a dead one, elsewhere): refused naming it and
	// --break-lock, nothing closed; then broken.
	lock := c.Inventory.Nodes[1].Service.ConfigPath + rollout.LocalLockSuffix
	held := fmt.Sprintf(`{"id":"dead01","owner":"ops@elsewhere","pid":4242,"started":%q}`, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(lock, []byte(held+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = natsopsExec(t, bin, "rebalance", "--yes", "-i", inv)
	if code != ExitError || !strings.Contains(stderr, "ops@elsewhere") || !strings.Contains(stderr, "--break-lock") || strings.Contains(out, "closed") {
		t.Fatalf("rebalance under another run's lock: exit %d, want %d naming the holder and --break-lock\n%s%s", code, ExitError, out, stderr)
	}
	code, out, stderr = natsopsJSON(t, bin, "", "rebalance", "--yes", "--break-lock", "--within", "20%", "--rounds", "10", "--max-per-round", "100", "--timeout", "1m", "-i", inv)
	if code != ExitOK {
		t.Fatalf("rebalance --yes --break-lock -o json: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the lock %s is still there after the run: %v", lock, err)
	}
	checkStream(t, out, code, false)
	res := lastResult(t, out)
	if !res.Reached || res.Before.Nodes[0].Clients != 30 || res.After.Total != 30 || !strings.Contains(out, `"event":"round"`) {
		t.Fatalf("rebalance result: %+v\n%s", res, out)
	}
	for _, n := range res.After.Nodes {
		if n.Clients < 8 || n.Clients > 12 {
			t.Errorf("after: %s holds %d clients, want 8–12 (±20%% of 10)", n.Node, n.Clients)
		}
	}
	if code, out, _ := natsopsExec(t, bin, "history", "-i", inv); code != ExitOK || !strings.Contains(out, "rebalance") {
		t.Errorf("history does not show the rebalance: exit %d\n%s", code, out)
	}

	// A restart moves the clients about; --rebalance evens them after.
	code, out, stderr = natsopsJSON(t, bin, "", "restart", "--yes", "--mode", "fast", "--rebalance", "-i", inv)
	if code != ExitOK {
		t.Fatalf("restart --rebalance: exit %d\n%s%s", code, out, stderr)
	}
	checkStream(t, out, code, false)
	var rr struct {
		Rebalance *rebalanceResult `json:"rebalance"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rr); err != nil || rr.Rebalance == nil || !rr.Rebalance.Reached || rr.Rebalance.After.Total != 30 {
		t.Fatalf("restart --rebalance result has no reached rebalance of 30 clients (%v):\n%s", err, lines[len(lines)-1])
	}
}

type rebalanceResult struct {
	Reached bool `json:"reached"`
	Before  struct {
		Nodes []struct {
			Node    string `json:"node"`
			Clients int    `json:"clients"`
		} `json:"nodes"`
	} `json:"before"`
	After struct {
		Total int `json:"total"`
		Nodes []struct {
			Node    string `json:"node"`
			Clients int    `json:"clients"`
		} `json:"nodes"`
	} `json:"after"`
}

func lastResult(t *testing.T, out string) rebalanceResult {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r rebalanceResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	return r
}
