package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/rollout"
)

// TestOpsJSONContract: the incident operations' -o json on their success
// and refusal paths, on the demo cluster with its accounts (the system
// account's admin is the user they speak as): JSON Lines ending in the
// result, ok and exit_code the process's; and under another run's lock,
// each refuses naming its own --break-lock, which then takes it over.
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

	// Another run's lock (a dead one, elsewhere): each operation refuses
	// naming its own --break-lock and changes nothing; with --break-lock
	// it takes the lock over and runs, and leaves no lock behind.
	lock := c.Inventory.Nodes[1].Service.ConfigPath + rollout.LocalLockSuffix
	for _, op := range []struct {
		args []string
		code int
	}{
		{[]string{"step-down"}, ExitOK},
		{[]string{"evacuate", "--node", "n1"}, ExitOK},
		{[]string{"replace", "--node", "n3"}, ExitError},
		{[]string{"rescue", "--lost", "n3"}, ExitUnhealthy},
	} {
		held := fmt.Sprintf(`{"id":"dead01","owner":"ops@elsewhere","pid":4242,"started":%q}`, time.Now().UTC().Format(time.RFC3339))
		if err := os.WriteFile(lock, []byte(held+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{}, op.args...), "--yes", "--poll", "20ms", "-i", inv)
		code, out, stderr := natsopsExec(t, bin, args...)
		if want := "rerun natsops " + op.args[0] + " with --break-lock"; code != ExitError || !strings.Contains(stderr, "ops@elsewhere") || !strings.Contains(stderr, want) {
			t.Fatalf("%s under another run's lock: exit %d, want %d naming the holder and %q\n%s%s", strings.Join(args, " "), code, ExitError, want, out, stderr)
		}
		args = append(append([]string{}, op.args...), "--yes", "--break-lock", "--poll", "20ms", "-i", inv)
		if code, out, stderr = natsopsExec(t, bin, args...); code != op.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, op.code, out, stderr)
		}
		if _, err := os.Stat(lock); !os.IsNotExist(err) {
			t.Errorf("%s: the lock %s is still there after the run: %v", strings.Join(args, " "), lock, err)
		}
		os.Remove(lock)
	}
}
