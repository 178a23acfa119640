package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/natsops/natsops/internal/natstest"
)

// runCLI runs natsops in-process with args; returns exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(testSystem(&stdout, &stderr, false, args...))
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
	// In-process servers have no pid the inventory's service manager
	// knows: the FDS column says so, and everything else works.
	if strings.Count(out, "-(no pid)") != 3 || !strings.Contains(out, "0/65536") {
		t.Errorf("FDS / CONNS columns:\n%s", out)
	}
	if code, out, _ := runCLI(t, "status", "-i", inv, "--monitor-only"); code != ExitOK || strings.Count(out, "-(monitor-only)") != 3 {
		t.Errorf("status --monitor-only: exit %d:\n%s", code, out)
	}

	code, out, _ = runCLI(t, "status", "-i", inv, "-o", "json")
	var f struct {
		Healthy bool `json:"healthy"`
		Nodes   []struct {
			Node       string `json:"node"`
			RoutesSeen int    `json:"routes_seen"`
			MaxConns   int    `json:"max_connections"`
			Capacity   int    `json:"capacity"`
			HostNote   string `json:"host_note"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || code != 0 || !f.Healthy || len(f.Nodes) != 3 || f.Nodes[0].RoutesSeen != 2 || f.Nodes[0].MaxConns != 65536 || f.Nodes[0].Capacity != 65536 || f.Nodes[0].HostNote != "no pid" {
		t.Fatalf("json (exit %d, %v):\n%s", code, err, out)
	}

	if code, out, _ = runCLI(t, "check", "-i", inv, "--format", "nagios"); code != checkOK || !strings.HasPrefix(out, "NATS OK: 3 nodes healthy |") {
		t.Fatalf("check exit %d: %s", code, out)
	}
	if code, out, _ = runCLI(t, "check", "-i", inv, "--warn-connections", "0"); code != checkWarning || !strings.Contains(out, "WARNING") {
		t.Fatalf("check with a 0%% threshold: exit %d: %s", code, out)
	}
	// Each threshold flag moves the verdict.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--warn-connections", "0", "--crit-connections", "0"}, checkCritical, "connections"},
		{[]string{"--warn-slow", "0"}, checkWarning, "slow consumers since start"},
		{[]string{"--warn-slow", "0", "--crit-slow", "0"}, checkCritical, "slow consumers since start"},
		{[]string{"--warn-js", "0", "--crit-js", "0"}, checkCritical, "[js-storage]"},
		{[]string{"--warn-fds", "95", "--crit-fds", "90"}, checkUnknown, ""},
		{[]string{"--allow-version-skew"}, checkOK, "OK"},
		{[]string{"--monitor-only"}, checkOK, "OK"},
	} {
		if code, out, _ := runCLI(t, append([]string{"check", "-i", inv}, tc.args...)...); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("check %v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}

	// Prometheus: the same verdict, parsed by Prometheus's own parser.
	code, out, _ = runCLI(t, "check", "-i", inv, "--format", "prometheus")
	prom := promSamples(t, out)
	if code != checkOK || prom[`natsops_check_status`] != 0 || prom[`natsops_check_nodes`] != 3 || prom[`natsops_check_problems{severity="critical"}`] != 0 {
		t.Fatalf("check --format prometheus: exit %d:\n%s", code, out)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		l := `{cluster="test",node="` + n + `"}`
		if prom["natsops_node_up"+l] != 1 || prom["natsops_node_healthy"+l] != 1 || prom["natsops_node_connection_capacity"+l] != 65536 || prom["natsops_node_routes"+l] != 2 {
			t.Errorf("%s's series:\n%s", n, out)
		}
	}
	// In-process servers have no pid: no descriptors read, none shown.
	if _, ok := prom["natsops_check_fds_used_ratio"]; ok || prom["natsops_check_fds_read_nodes"] != 0 {
		t.Errorf("fds with no host read:\n%s", out)
	}
	if code, out, _ = runCLI(t, "check", "-i", inv, "--format", "prometheus", "--warn-slow", "0"); code != checkWarning || promSamples(t, out)[`natsops_check_problem{node="n1",code="slow-consumers",severity="warning"}`] != 1 {
		t.Errorf("check --format prometheus --warn-slow 0: exit %d:\n%s", code, out)
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
	code, out, _ = runCLI(t, "check", "-i", inv, "--format", "prometheus")
	prom = promSamples(t, out)
	if code != checkCritical || prom["natsops_check_status"] != 2 || prom[`natsops_node_up{cluster="test",node="n3"}`] != 0 || prom[`natsops_node_up{cluster="test",node="n1"}`] != 1 || prom[`natsops_node_healthy{cluster="test",node="n1"}`] != 0 {
		t.Fatalf("check --format prometheus with n3 down: exit %d:\n%s", code, out)
	}
	if code, out, _ = runCLI(t, "check", "-i", filepath.Join(t.TempDir(), "missing.toml"), "--format", "nagios"); code != checkUnknown || !strings.HasPrefix(out, "NATS UNKNOWN:") {
		t.Fatalf("check on a missing inventory: exit %d: %s", code, out)
	}
}

// watchWriter collects status --watch output and cancels the watch once
// it has seen want refreshes; after the first it calls onFirst.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	want    int
	onFirst func()
	cancel  context.CancelFunc
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	// A refresh is complete when its summary line is written.
	if n := strings.Count(w.buf.String(), "\x1b[H\x1b[2J"); strings.HasSuffix(w.buf.String(), "\n") && n > 0 {
		s := w.buf.String()
		last := s[strings.LastIndex(s, "\x1b[H\x1b[2J"):]
		if strings.Contains(last, "healthy") {
			if n == 1 && w.onFirst != nil {
				w.onFirst()
				w.onFirst = nil
			}
			if n >= w.want {
				w.cancel()
			}
		}
	}
	return len(p), nil
}

// TestStatusWatch: on a terminal, --watch clears the screen and redraws
// the table every --interval from fresh readings (a node stopped after the
// first frame shows as unreachable in a later one) until interrupted,
// then exits 0. Without a terminal it is a usage error.
func TestStatusWatch(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(inv, []byte(natstest.Inventory(servers)), 0o600); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "healthy status", func() (bool, string) {
		code, out, _ := runCLI(t, "status", "-i", inv)
		return code == ExitOK, out
	})
	if code, _, stderr := runCLI(t, "status", "-i", inv, "--watch"); code != ExitUsage || !strings.Contains(stderr, "--watch needs a terminal") {
		t.Fatalf("--watch without a terminal: exit %d: %s", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &watchWriter{want: 4, cancel: cancel, onFirst: func() { go servers[2].Shutdown() }}
	var stderr bytes.Buffer
	sys := testSystem(w, &stderr, true, "status", "-i", inv, "--watch", "--interval", "200ms")
	sys.Ctx = ctx
	if code := run(sys); code != ExitOK {
		t.Fatalf("watch exit %d: %s", code, stderr.String())
	}
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	frames := strings.Split(out, "\x1b[H\x1b[2J")[1:]
	if len(frames) < 4 {
		t.Fatalf("%d frames, want at least 4:\n%s", len(frames), out)
	}
	if !strings.Contains(frames[0], "natsops status") || !strings.Contains(frames[0], "n3") || strings.Contains(frames[0], "unreachable") {
		t.Errorf("first frame:\n%s", frames[0])
	}
	if last := frames[len(frames)-1]; !strings.Contains(last, "unreachable") || strings.Contains(last, "3 nodes healthy") {
		t.Errorf("last frame should show n3 stopped:\n%s", last)
	}
}

// promSamples parses Prometheus text exposition with Prometheus's parser
// (expfmt) into "name{labels}" -> value, labels in their written order.
func promSamples(t *testing.T, out string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, out)
	}
	samples := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			samples[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return samples
}
