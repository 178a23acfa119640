package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/remote"
)

// runCLI runs natsops in-process with args; returns exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sys := &system{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, args: args,
		getenv: func(string) (string, bool) { return "", false },
		isTTY:  func(any) bool { return false },
		sshEnv: func() (remote.Env, error) { return remote.Env{}, nil },
	}
	code := run(sys)
	return code, stdout.String(), stderr.String()
}

// TestStatusAndCheckAgainstRealCluster: status and check read a real
// 3-node JetStream cluster; with one node down, both say which and why.
func TestStatusAndCheckAgainstRealCluster(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(inv, []byte(natstest.Inventory(servers)), 0o600); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "healthy status", func() (bool, string) {
		code, out, _ := runCLI(t, "status", "-i", inv)
		return code == ExitOK, out
	})
	code, out, _ := runCLI(t, "status", "-i", inv)
	if code != 0 || !strings.Contains(out, "3 nodes healthy") {
		t.Fatalf("status exit %d:\n%s", code, out)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(out, n+"    ok") || !strings.Contains(out, "2/2") {
			t.Errorf("row for %s missing or wrong:\n%s", n, out)
		}
	}
	if strings.Count(out, "leader") != 1 || strings.Count(out, "follower") != 2 {
		t.Errorf("JetStream roles:\n%s", out)
	}

	code, out, _ = runCLI(t, "status", "-i", inv, "-o", "json")
	var f struct {
		Healthy bool `json:"healthy"`
		Nodes   []struct {
			Node       string `json:"node"`
			RoutesSeen int    `json:"routes_seen"`
			MaxConns   int    `json:"max_connections"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || code != 0 || !f.Healthy || len(f.Nodes) != 3 || f.Nodes[0].RoutesSeen != 2 || f.Nodes[0].MaxConns != 65536 {
		t.Fatalf("json (exit %d, %v):\n%s", code, err, out)
	}

	if code, out, _ = runCLI(t, "check", "-i", inv, "--format", "nagios"); code != checkOK || !strings.HasPrefix(out, "NATS OK: 3 nodes healthy |") {
		t.Fatalf("check exit %d: %s", code, out)
	}
	if code, out, _ = runCLI(t, "check", "-i", inv, "--warn-connections", "0"); code != checkWarning || !strings.Contains(out, "WARNING") {
		t.Fatalf("check with a 0%% threshold: exit %d: %s", code, out)
	}

	servers[2].Shutdown()
	natstest.WaitFor(t, "n3 reported down", func() (bool, string) {
		code, out, _ := runCLI(t, "status", "-i", inv)
		return code == ExitUnhealthy && strings.Contains(out, "n3: monitoring endpoint") && strings.Contains(out, "n1: no route to n3"), out
	})
	code, out, _ = runCLI(t, "check", "-i", inv, "--format", "nagios")
	if code != checkCritical || !strings.HasPrefix(out, "NATS CRITICAL:") || !strings.Contains(out, "n3 monitoring endpoint") {
		t.Fatalf("check exit %d: %s", code, out)
	}
	if code, out, _ = runCLI(t, "check", "-i", filepath.Join(t.TempDir(), "missing.toml"), "--format", "nagios"); code != checkUnknown || !strings.HasPrefix(out, "NATS UNKNOWN:") {
		t.Fatalf("check on a missing inventory: exit %d: %s", code, out)
	}
}
