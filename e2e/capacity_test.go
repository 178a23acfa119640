//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsops/natsops/testbed"
)

// capacityNode is the node the capacity test pins low and benches.
const capacityNode = "n1"

// capacityInventory is the testbed's inventory with [tune] nofile set:
// kernel-wide sysctls pinned as the tune tests do.
func capacityInventory(t *testing.T, nofile int64) string {
	t.Helper()
	tune := &testbed.Tune{NoFile: nofile, Sysctl: tb.Kernel.Tune().Sysctl}
	path := filepath.Join(tb.Dir, "capacity-e2e.toml")
	if err := os.WriteFile(path, []byte(testbed.Inventory(tb.Nodes, "id_ed25519", "known_hosts", "e2e/capacity_test.go", tune)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// nodeRow is what the capacity test reads of `status -o json`.
type nodeRow struct {
	Node        string `json:"node"`
	Connections int    `json:"connections"`
	FDsOpen     int    `json:"fds_open"`
	FDsSoft     int64  `json:"fds_soft_limit"`
	Capacity    int    `json:"capacity"`
	Diagnosis   string `json:"diagnosis"`
	HostNote    string `json:"host_note"`
}

func statusRow(c context.Context, t *testing.T, inv, node string) (nodeRow, int, string) {
	t.Helper()
	out, _, code := natsops(c, t, "-i", inv, "status", "--limit", node, "-o", "json")
	var f struct {
		Nodes []nodeRow `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || len(f.Nodes) != 1 {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return f.Nodes[0], code, out
}

// tuneAndRestart sets capacityNode's open-files limit through natsops:
// tune (exit want: 4 when the running server has less than the limit and
// needs a restart to get it; 0 when it already has at least that much),
// then a restart of that node, after which the running server has it.
func tuneAndRestart(c context.Context, t *testing.T, inv string, nofile int64, want int) nodeRow {
	t.Helper()
	if out, stderr, code := natsops(c, t, "-i", inv, "tune", "--yes", "--limit", capacityNode); code != want {
		t.Fatalf("tune --yes: exit %d, want %d\n%s%s", code, want, out, stderr)
	}
	if out, stderr, code := natsops(c, t, "-i", inv, "restart", "--yes", "--mode", "fast", "--node", capacityNode); code != 0 {
		t.Fatalf("restart after tune: exit %d\n%s%s", code, out, stderr)
	}
	var row nodeRow
	waitUntil(c, t, "the restarted node healthy with its new limit", 2*time.Minute, func() (bool, string) {
		r, code, out := statusRow(c, t, inv, capacityNode)
		row = r
		return code == 0 && r.FDsSoft == nofile && r.Capacity > 0, out
	})
	return row
}

// waitUntil polls cond every 500ms until it holds, bounded by within.
func waitUntil(c context.Context, t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || c.Err() != nil {
			t.Fatalf("%s: not after %s; last:\n%s", what, within, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// bench is a `natsops bench connections` run in the background.
type bench struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{}
	code   int
}

func startBench(c context.Context, t *testing.T, inv string, args ...string) *bench {
	t.Helper()
	bin, err := natsopsBin()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{done: make(chan struct{})}
	b.cmd = exec.CommandContext(c, bin, append([]string{"-i", inv, "bench", "connections", "--limit", capacityNode, "-o", "json"}, args...)...)
	b.cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "NO_COLOR=1")
	var stderr bytes.Buffer
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.done)
		err := b.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			b.code = ee.ExitCode()
		}
		t.Logf("natsops bench connections %s -> exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(args, " "), b.code, b.stdout.String(), stderr.String())
	}()
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGINT)
		<-b.done
	})
	return b
}

// wait waits for the bench to end (bounded) and returns its exit code
// and summary (the last JSON line).
func (b *bench) wait(t *testing.T, within time.Duration) (int, map[string]any) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(within):
		b.cmd.Process.Signal(syscall.SIGINT)
		<-b.done
		t.Fatalf("bench did not end within %s", within)
	}
	var last map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.stdout.Bytes()))
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			last = ev
		}
	}
	return b.code, last
}

// interrupt stops the bench as Ctrl-C would.
func (b *bench) interrupt(t *testing.T) int {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGINT)
	code, _ := b.wait(t, time.Minute)
	return code
}

// checkCode runs natsops check on the capacity node.
func checkCode(c context.Context, t *testing.T, inv string) (int, string) {
	t.Helper()
	out, _, code := natsops(c, t, "-i", inv, "check", "--limit", capacityNode, "--format", "nagios")
	return code, out
}

// TestCapacitySeedStory is the seed's "Can't connect" story on real
// hosts, driven only by natsops: a node's nofile pinned low (2048) by
// tune and restart; as a bench ramp approaches the limit, check turns
// WARNING then CRITICAL; at the limit the bench stops with the server out
// of descriptors and status names it; then nofile raised (16384), tune,
// restart, and the same bench holds the whole new capacity.
//
// The testbed's nodes inherit dockerd's open-files ceiling (20000 on
// this machine): 16384 is below it, the mechanism the same at 1024000.
func TestCapacitySeedStory(t *testing.T) {
	c := ctx(t, 10*time.Minute)
	t.Cleanup(func() { cleanTuning(t) })
	low := capacityInventory(t, 2048)
	// From whatever the nodes run, natsops's cluster (deploy adopts or
	// bootstraps it).
	if out, stderr, code := natsops(c, t, "-i", low, "deploy", "--yes"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, stderr)
	}
	// The running server has more than 2048: tune has nothing to prove
	// (exit 0), the restart gives it the lower limit.
	row := tuneAndRestart(c, t, low, 2048, 0)
	t.Logf("%s at nofile 2048: capacity %d (reserve %d fds open now %d)", capacityNode, row.Capacity, 2048-row.Capacity, row.FDsOpen)

	// Near the limit: WARNING (85% of the descriptors), then CRITICAL
	// (94%), each held by a bench until check says so, then Ctrl-C: the
	// bench closes every connection.
	for _, step := range []struct {
		pct  float64
		code int
	}{{0.85, 1}, {0.94, 2}} {
		n := int(step.pct*2048) - row.FDsOpen
		b := startBench(c, t, low, "--target", itoa(n), "--step", itoa(n), "--hold", "5m")
		waitUntil(c, t, "check exit "+itoa(step.code)+" with "+itoa(n)+" connections", 2*time.Minute, func() (bool, string) {
			code, out := checkCode(c, t, low)
			return code == step.code, out
		})
		if code := b.interrupt(t); code != 5 {
			t.Errorf("bench interrupted: exit %d, want 5", code)
		}
		waitUntil(c, t, "connections closed after Ctrl-C", time.Minute, func() (bool, string) {
			r, _, out := statusRow(c, t, low, capacityNode)
			return r.Connections < 10, out
		})
	}

	// At the limit: the bench ramps past it and stops, the server out of
	// descriptors; while it holds them, status names the cause.
	b := startBench(c, t, low, "--target", "4000", "--step", "500", "--hold", "20s")
	waitUntil(c, t, "status naming out of file descriptors", 2*time.Minute, func() (bool, string) {
		out, _, code := natsops(c, t, "-i", low, "status", "--limit", capacityNode)
		return code == 3 && strings.Contains(out, "out of file descriptors"), out
	})
	if code, out := checkCode(c, t, low); code != 2 || !strings.Contains(out, "out of file descriptors") {
		t.Errorf("check at the limit: exit %d, want 2 naming the cause:\n%s", code, out)
	}
	code, sum := b.wait(t, 3*time.Minute)
	if code != 3 || sum["cause"] != "server-out-of-fds" {
		t.Fatalf("bench past the limit: exit %d, summary %v; want 3 and server-out-of-fds", code, sum)
	}
	held := int(sum["held"].(float64))
	if held < row.Capacity*99/100 || held > 2048 {
		t.Errorf("held %d connections at nofile 2048, capacity %d: want at least 99%% of it", held, row.Capacity)
	}
	t.Logf("nofile 2048: held %d of capacity %d (%.1f%%)", held, row.Capacity, 100*float64(held)/float64(row.Capacity))
	waitUntil(c, t, "the node healthy again once the bench closed its connections", 2*time.Minute, func() (bool, string) {
		_, code, out := statusRow(c, t, low, capacityNode)
		return code == 0, out
	})

	// Raised: the same bench holds the new capacity.
	high := capacityInventory(t, 16384)
	row = tuneAndRestart(c, t, high, 16384, 4)
	b = startBench(c, t, high, "--target", itoa(row.Capacity), "--step", "4000", "--hold", "3s")
	code, sum = b.wait(t, 5*time.Minute)
	if code != 0 || sum["cause"] != "target-reached" {
		t.Fatalf("bench at nofile 16384 to capacity %d: exit %d, summary %v", row.Capacity, code, sum)
	}
	held = int(sum["held"].(float64))
	if held < row.Capacity*99/100 {
		t.Errorf("held %d of capacity %d at nofile 16384", held, row.Capacity)
	}
	t.Logf("nofile 16384: held %d of capacity %d (%.1f%%)", held, row.Capacity, 100*float64(held)/float64(row.Capacity))
}

func itoa(n int) string { return strconv.Itoa(n) }
