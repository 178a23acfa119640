package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
)

// TestCheckReportsTheRolloutHoldingTheLock: with a rollout's lock and
// state on the nodes (local nodes keep them next to their config) and the
// node it works on down, check is WARNING with the rollout named and that
// node in maintenance, in json, nagios and prometheus; the same node down
// between nodes of the rollout, or under a stale lock, still pages.
func TestCheckReportsTheRolloutHoldingTheLock(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	dir := t.TempDir()
	src := natstest.Inventory(servers)
	for i := 1; i <= 3; i++ {
		src = strings.Replace(src, fmt.Sprintf("name = \"n%d\"\n", i), fmt.Sprintf("name = \"n%d\"\nservice.config_path = %q\n", i, filepath.Join(dir, fmt.Sprintf("n%d.conf", i))), 1)
	}
	inv := filepath.Join(dir, "natsops.toml")
	if err := os.WriteFile(inv, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	lock := func(started time.Time) {
		for i := 1; i <= 3; i++ {
			p := filepath.Join(dir, fmt.Sprintf("n%d.conf", i))
			l := fmt.Sprintf(`{"id":"r1","owner":"ops@bastion","pid":4242,"started":%q}`, started.Format(time.RFC3339))
			if err := os.WriteFile(p+rollout.LocalLockSuffix, []byte(l+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	state := func(current string) {
		for i := 1; i <= 3; i++ {
			p := filepath.Join(dir, fmt.Sprintf("n%d.conf", i))
			s := fmt.Sprintf(`{"id":"r1","operation":"restart graceful n1,n2,n3","owner":"ops@bastion","started":%q,"done":{"n1":%q},"current":%q,"current_since":%q}`,
				started.Format(time.RFC3339), started.Format(time.RFC3339), current, started.Add(30*time.Second).Format(time.RFC3339))
			if err := os.WriteFile(p+rollout.LocalStateSuffix, []byte(s+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	natstest.WaitFor(t, "healthy", func() (bool, string) {
		code, out, _ := runCLI(t, "check", "-i", inv)
		return code == checkOK, out
	})
	lock(started)
	state("n2")
	// Healthy with a rollout between checks: WARNING, the rollout named.
	if code, out, _ := runCLI(t, "check", "-i", inv); code != checkWarning || !strings.Contains(out, "[rollout-in-progress]") || !strings.Contains(out, "ops@bastion (pid 4242)") || !strings.Contains(out, "working on n2") {
		t.Errorf("check with a rollout, all up: exit %d\n%s", code, out)
	}

	servers[1].Shutdown()
	natstest.WaitFor(t, "n2 down in maintenance", func() (bool, string) {
		code, out, _ := runCLI(t, "check", "-i", inv, "-o", "json")
		return code == checkWarning && strings.Contains(out, "maintenance ("), out
	})
	code, out, _ := runCLI(t, "check", "-i", inv, "-o", "json")
	var doc struct {
		Status   string           `json:"status"`
		Problems []health.Problem `json:"problems"`
		Rollouts []health.Rollout `json:"rollouts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != checkWarning || doc.Status != "WARNING" || len(doc.Rollouts) != 1 {
		t.Fatalf("check -o json: exit %d (%v)\n%s", code, err, out)
	}
	if r := doc.Rollouts[0]; r.Holder != "ops@bastion" || r.PID != 4242 || !r.Since.Equal(started) || r.Node != "n2" || r.Stale || strings.Join(r.Done, ",") != "n1" {
		t.Errorf("rollout %+v", r)
	}
	for _, p := range doc.Problems {
		if p.Severity == health.Critical {
			t.Errorf("paged for the rollout's node: %+v", p)
		}
	}
	if code, out, _ := runCLI(t, "check", "-i", inv, "--format", "nagios"); code != checkWarning || !strings.HasPrefix(out, "NATS WARNING:") || !strings.Contains(out, "rollout_in_progress=1") {
		t.Errorf("nagios: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "check", "-i", inv, "--format", "prometheus")
	prom := promSamples(t, out)
	if code != checkWarning || prom[`natsops_rollout_in_progress{cluster="test"}`] != 1 || prom[`natsops_node_maintenance{cluster="test",node="n2"}`] != 1 || prom["natsops_check_status"] != 1 {
		t.Errorf("prometheus: exit %d\n%s", code, out)
	}
	// --monitor-only reads no lock: it cannot know, so it pages.
	if code, out, _ := runCLI(t, "check", "-i", inv, "--monitor-only"); code != checkCritical {
		t.Errorf("--monitor-only: exit %d\n%s", code, out)
	}

	// Between nodes (no node worked on): n2 down is not the rollout's.
	state("")
	if code, out, _ := runCLI(t, "check", "-i", inv); code != checkCritical || !strings.Contains(out, "between nodes") {
		t.Errorf("between nodes with n2 down: exit %d\n%s", code, out)
	}
	// A stale lock excuses nothing.
	state("n2")
	lock(started.Add(-2 * time.Hour))
	if code, out, _ := runCLI(t, "check", "-i", inv); code != checkCritical || !strings.Contains(out, "[rollout-lock-stale]") || !strings.Contains(out, "--break-lock") {
		t.Errorf("stale lock: exit %d\n%s", code, out)
	}
}
