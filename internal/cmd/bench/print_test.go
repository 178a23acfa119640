package bench

import (
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/bench"
)

// TestPrintStepCapacityAndMemory: a step shows connections over the
// node's capacity (19881, bound by open files), not max_connections
// (50000), and a memory growth that could not be measured as such,
// never a negative figure.
func TestPrintStepCapacityAndMemory(t *testing.T) {
	var b strings.Builder
	printStep(&b, bench.Step{Step: 1, Want: 1000, Held: 1000, ClientMemPer1k: 0, Nodes: []bench.NodeReading{
		{Node: "n1", Held: 1000, Connections: 1000, MaxConns: 50000, Capacity: 19881, CapacityLimit: "fds", MemBytes: 64 << 20, MemPer1k: 0},
		{Node: "n2", Held: 1000, Connections: 1000, MaxConns: 50000, Capacity: 50000, CapacityLimit: "max_connections", MemBytes: 64 << 20, MemPer1k: 2 << 20},
	}})
	out := b.String()
	for _, want := range []string{"client not measured per 1k", "n1: 1000 held, 1000/19881 connections (capacity bound by open files; max_connections 50000)", "(not measured per 1k)", "n2: 1000 held, 1000/50000 connections, 64.0 MiB (2.0 MiB per 1k)"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "-") {
		t.Errorf("a negative figure:\n%s", out)
	}
}
