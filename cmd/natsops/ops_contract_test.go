package main

import (
	"context"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/demo"
)

// TestOpsJSONContract: the incident operations' -o json on their success
// and refusal paths, on the demo cluster with its accounts (the system
// account's admin is the user they speak as): JSON Lines ending in the
// result, ok and exit_code the process's.
func TestOpsJSONContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops and starts a local cluster")
	}
	bin := buildNatsops(t)
	c, err := demo.CreateWithAccounts(t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx, time.Minute, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	inv := c.InventoryPath()
	for _, r := range []contractRow{
		{name: "step-down", args: []string{"step-down", "--yes", "-i", inv}},
		{name: "step-down --to", args: []string{"step-down", "--to", "n2", "--yes", "-i", inv}},
		{name: "evacuate nothing held", args: []string{"evacuate", "--node", "n1", "--yes", "-i", inv}},
		{name: "replace a serving node", args: []string{"replace", "--node", "n3", "--yes", "-i", inv}, code: ExitError},
		{name: "rescue refused", args: []string{"rescue", "--lost", "n3", "--yes", "-i", inv}, code: ExitUnhealthy},
	} {
		t.Run(r.name, func(t *testing.T) {
			code, out, stderr := natsopsJSON(t, bin, r.stdin, r.args...)
			if code != r.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, r.code, out, stderr)
			}
			checkStream(t, out, code, r.outcome)
		})
	}
}
