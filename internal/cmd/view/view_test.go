package view

import (
	"regexp"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/health"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestPrintFleetAlignedInColour: with colour on, the HEALTH cells are
// painted and every column still starts where its header does (the ANSI
// codes take no width).
func TestPrintFleetAlignedInColour(t *testing.T) {
	f := &health.Fleet{Inventory: "inv.toml", Healthy: false, Nodes: []health.NodeStatus{
		{Node: "n1", Reachable: true, Healthz: "ok", Version: "2.15.2", Uptime: "1m", JetStream: "leader", FDs: "10/100"},
		{Node: "n2", Reachable: false, Diagnosis: "not-running", JetStream: "unknown", FDs: "-(no pid)"},
		{Node: "node-three", Reachable: true, Healthz: "unavailable", Version: "2.15.2", Uptime: "2m", JetStream: "follower", FDs: "10/100"},
	}}
	var b strings.Builder
	PrintFleet(&b, Style{On: true}, f)
	out := b.String()
	for _, c := range []string{ansiGreen + "ok" + ansiReset, ansiRed + "not-running" + ansiReset, ansiYellow + "unavailable" + ansiReset} {
		if !strings.Contains(out, c) {
			t.Errorf("no painted %q:\n%s", c, out)
		}
	}
	lines := strings.Split(ansi.ReplaceAllString(out, ""), "\n")
	header := lines[0]
	for _, col := range []string{"VERSION", "FDS", "JETSTREAM"} {
		at := strings.Index(header, col)
		for _, l := range lines[1:4] {
			if at >= len(l) || l[at-1] != ' ' || l[at] == ' ' {
				t.Errorf("column %s (at %d) misaligned in %q\n%s", col, at, l, out)
			}
		}
	}
	// Without colour: no escape at all.
	b.Reset()
	PrintFleet(&b, Style{}, f)
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("escape codes without colour:\n%s", b.String())
	}
}
