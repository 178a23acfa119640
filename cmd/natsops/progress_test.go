package main

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// progressLine is "NODE WHAT: waiting Ns of LIMIT: SEEN" on stderr.
var progressLine = regexp.MustCompile(`^(\S+) (.+?): waiting (\d+)s(?: of (\S+))?(?:: (.*))?$`)

// TestProgressOnLongWaits: a wait of more than a few seconds says what it
// waits for and what it sees, while it waits, through the CLI against a
// real local cluster: a 20s --healthy-for soak in text (stderr lines,
// not a terminal), and a node that never becomes ready (another cluster
// name in its config: its routes are refused) with -o json (progress
// events before the result). The reports' own elapsed times are checked
// to rise (they come from the clock when they are made); the figures of
// their spacing are logged, never asserted against the wall clock.
func TestProgressOnLongWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops, starts a local cluster, waits 40s")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()

	start := time.Now()
	code, out, stderr := natsopsExec(t, bin, "restart", "--yes", "--node", "n2", "--mode", "fast", "--healthy-for", "20s", "-i", inv)
	if code != ExitOK {
		t.Fatalf("restart --healthy-for 20s: exit %d\n%s%s", code, out, stderr)
	}
	var soak []int
	for _, l := range strings.Split(stderr, "\n") {
		m := progressLine.FindStringSubmatch(l)
		if m == nil || m[1] != "n2" || m[2] != "healthy-for" {
			continue
		}
		s, _ := strconv.Atoi(m[3])
		if m[4] != "20s" || !strings.Contains(m[5], "ready") {
			t.Errorf("soak report %q: want the 20s limit and what it sees", l)
		}
		soak = append(soak, s)
	}
	// 5s, 10s, 15s (and 20s when the last reading lands on it).
	if len(soak) < 3 || !increasing(soak) || soak[len(soak)-1] > 20 {
		t.Errorf("soak reports at %v s, want at least 3, rising, within 20s:\n%s", soak, stderr)
	}
	t.Logf("20s soak: reports at %v s (run %.1fs)", soak, time.Since(start).Seconds())

	// n1 restarted into another cluster name never becomes ready.
	conf := c.Inventory.Nodes[0].Service.ConfigPath
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(orig), `name: "local"`, `name: "elsewhere"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = natsopsExec(t, bin, "restart", "--yes", "--node", "n1", "--mode", "fast", "--timeout", "20s", "-o", "json", "-i", inv)
	if code != ExitUnhealthy {
		t.Fatalf("restart into another cluster name: exit %d, want 3\n%s%s", code, out, stderr)
	}
	var ready []int64
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Event     string `json:"event"`
			Node      string `json:"node"`
			Waiting   string `json:"waiting_for"`
			ElapsedMS int64  `json:"elapsed_ms"`
			LimitMS   int64  `json:"limit_ms"`
			Seen      string `json:"seen"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if ev.Event != "progress" || ev.Node != "n1" || ev.Waiting != "ready" {
			continue
		}
		if ev.LimitMS != 20000 || !strings.Contains(ev.Seen, "route") {
			t.Errorf("ready report %s: want the 20s limit and the missing routes", sc.Text())
		}
		ready = append(ready, ev.ElapsedMS)
	}
	if len(ready) < 3 || !increasing(ready) {
		t.Errorf("ready reports at %v ms, want at least 3, rising:\n%s", ready, out)
	}
	t.Logf("never-ready node, --timeout 20s: reports at %v ms", ready)

	// Put n1 back.
	if err := os.WriteFile(conf, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := natsopsExec(t, bin, "restart", "--yes", "--node", "n1", "--mode", "fast", "--force", "-i", inv); code != ExitOK {
		t.Fatalf("restart n1 back: exit %d\n%s%s", code, out, stderr)
	}
}

func increasing[T int | int64](v []T) bool {
	for i := 1; i < len(v); i++ {
		if v[i] <= v[i-1] {
			return false
		}
	}
	return true
}
