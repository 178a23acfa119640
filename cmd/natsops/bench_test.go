package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/internal/natstest"
)

// benchEvents decodes -o json's lines.
func benchEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestBenchOnALocalCluster: bench pubsub is complete over the demo's
// real 3-node cluster (processes in pidfile mode); bench connections
// against a node whose open-files limit was lowered to 512 with prlimit
// stops near it with server-out-of-fds, closes everything, and the node
// serves again afterwards.
func TestBenchOnALocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()

	code, out, stderr := natsopsExec(t, bin, "bench", "pubsub", "-i", inv, "--pub", "2", "--sub", "60", "--msgs", "300", "--size", "64", "--subject", "bench.test", "--timeout", "2m", "-o", "json")
	evs := benchEvents(t, out)
	if code != ExitOK || len(evs) != 1 || evs[0]["complete"] != true || evs[0]["deliveries"] != float64(60*300) || evs[0]["subject"] != "bench.test" {
		t.Fatalf("bench pubsub: exit %d\n%s%s", code, out, stderr)
	}

	n1 := c.Inventory.Nodes[0]
	pidText, err := os.ReadFile(*n1.Server.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidText))
	if out, err := exec.Command(prlimit, "--pid", pid, "--nofile=512:512").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}
	code, out, stderr = natsopsExec(t, bin, "bench", "connections", "-i", inv, "--limit", n1.Name, "--target", "2000", "--step", "400", "--hold", "0s", "--client", "lean", "--timeout", "5m", "-o", "json")
	evs = benchEvents(t, out)
	if code != ExitUnhealthy || len(evs) < 2 {
		t.Fatalf("bench connections at 512 fds: exit %d, want 3\n%s%s", code, out, stderr)
	}
	sum := evs[len(evs)-1]
	held := int(sum["held"].(float64))
	if sum["event"] != "result" || sum["exit_code"] != float64(ExitUnhealthy) || sum["cause"] != "server-out-of-fds" || sum["closed"] != sum["held"] || held < 300 || held > 512 {
		t.Fatalf("bench connections at 512 fds: %v\n%s", sum, stderr)
	}
	t.Logf("held %d connections at nofile 512", held)

	// Everything closed: the node accepts clients again (bounded wait).
	url := "nats://" + n1.RouteHost + ":" + strconv.Itoa(*n1.Server.Port)
	natstest.WaitFor(t, n1.Name+" serves again", func() (bool, string) {
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
		if err != nil {
			return false, err.Error()
		}
		defer nc.Close()
		return nc.FlushTimeout(2*time.Second) == nil, "flush"
	})
	code, out, stderr = natsopsExec(t, bin, "bench", "connections", "-i", inv, "--limit", n1.Name, "--target", "100", "--step", "100", "--hold", "0s")
	if code != ExitOK || !strings.Contains(out, "target reached: 100 connections held") || !strings.Contains(out, "closed 100 connections") {
		t.Fatalf("bench connections after: exit %d\n%s%s", code, out, stderr)
	}
}

// TestBenchInProcess: through the CLI in-process against a real server:
// --size above the node's max_payload is refused naming it (64); a small
// pubsub prints its report (0); a ramp reaches its target (0).
func TestBenchInProcess(t *testing.T) {
	servers := natstest.StartCluster(t, 1)
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(inv, []byte(natstest.Inventory(servers)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "bench", "pubsub", "-i", inv, "--size", "2000000")
	if code != ExitUsage || !strings.Contains(stderr, "--size 2000000 is above node n1's max_payload of 1048576 bytes") {
		t.Fatalf("--size above max_payload: exit %d\n%s", code, stderr)
	}
	code, out, stderr := runCLI(t, "bench", "pubsub", "-i", inv, "--sub", "20", "--msgs", "100")
	if code != ExitOK || !strings.Contains(out, "complete: yes, every subscriber got all 100 messages") || !strings.Contains(out, "latency:") {
		t.Fatalf("bench pubsub: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "bench", "connections", "-i", inv, "--target", "50", "--step", "25", "--hold", "10ms", "--client", "nats", "-o", "json")
	evs := benchEvents(t, out)
	if code != ExitOK || len(evs) != 3 || evs[2]["cause"] != "target-reached" || evs[2]["client"] != "nats" || evs[1]["held"] != float64(50) {
		t.Fatalf("bench connections: exit %d\n%s%s", code, out, stderr)
	}
}
