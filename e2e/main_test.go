//go:build e2e

// Package e2e holds natsops's end-to-end tests. They run on the host against
// the Docker testbed (testbed/), reaching the nodes by their private IPs:
//
//	make e2e                      # build, up, test, tear down
//	make testbed-up && go test -tags e2e ./e2e/...   # keep the testbed
//
// NATSOPS_TESTBED_DIR points at the testbed's output directory (default
// ../testbed/out, relative to this package).
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/natsops/natsops/testbed"
)

var tb *testbed.Testbed

func TestMain(m *testing.M) {
	// The testbed's rollouts soak 100ms a node, not the 10s default
	// (tested in internal/cmd/restart and deploy; what it buys is
	// bench/crash-after-start.sh's): dozens of rollouts, 30s more each.
	// A test about the soak passes --healthy-for.
	os.Setenv("NATSOPS_HEALTHY_FOR", "100ms")
	dir := os.Getenv("NATSOPS_TESTBED_DIR")
	if dir == "" {
		dir = "../testbed/out"
	}
	var err error
	tb, err = testbed.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ctx is a test-scoped context with a bound, so no test can hang.
func ctx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func names() []string {
	var ns []string
	for _, n := range tb.Nodes {
		ns = append(ns, n.Name)
	}
	return ns
}
