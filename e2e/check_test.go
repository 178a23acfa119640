//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/testbed"
)

// checkDoc is `natsops check -o json`.
type checkDoc struct {
	ExitCode int              `json:"exit_code"`
	Status   string           `json:"status"`
	Problems []health.Problem `json:"problems"`
	Rollouts []health.Rollout `json:"rollouts"`
}

// TestCheckDuringRollout: while `natsops restart` holds the lock and has
// its first node down (that node's start is slow: a drop-in makes
// systemd wait 25 s before nats-server starts), `natsops check` reports
// the rollout (holder, since, the node worked on) and that node as
// maintenance: WARNING, never CRITICAL, in -o json, nagios and
// prometheus; once the restart is done, check is OK with no rollout.
func TestCheckDuringRollout(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	leader := health.MetaLeader(waitHealthy(c, t, inv))
	first := ""
	for _, n := range inv.Nodes {
		if n.Name != leader {
			first = n.Name
			break
		}
	}
	if _, err := tb.Exec(c, first, fmt.Sprintf(`set -e
mkdir -p "$(dirname %[1]s)"
printf '%%s\n' '# natsops testbed fault: a slow start' '[Service]' 'ExecStartPre=/bin/sleep 25' > %[1]s
systemctl daemon-reload`, testbed.FaultDropIn)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.FixNATSStart(c, first); err != nil {
			t.Error(err)
		}
	})

	bin, err := natsopsBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(c, bin, "-i", invPath, "restart", "--yes", "--mode", "fast", "-o", "json")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	// The restart's own events say when it holds the lock.
	locked := false
	for !locked {
		l, ok := <-lines
		if !ok {
			break
		}
		out = append(out, l)
		var e jsonEvent
		locked = json.Unmarshal([]byte(l), &e) == nil && e.Step == rollout.StepLock && e.Result == rollout.ResultOK
	}
	if !locked {
		cmd.Wait()
		t.Fatalf("the restart never took the lock:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
	}

	// check sees the rollout; wait (bounded) until it is working on the
	// first node and that node is down (its start sleeps 25 s).
	var doc checkDoc
	var code int
	if err := pollUntil(c, 60*time.Second, func() bool {
		o, _, cd := natsops(c, t, "-i", invPath, "check", "-o", "json")
		doc, code = checkDoc{}, cd
		if json.Unmarshal([]byte(o), &doc) != nil || len(doc.Rollouts) != 1 || doc.Rollouts[0].Node != first {
			return false
		}
		for _, p := range doc.Problems {
			if p.Node == first && strings.HasPrefix(p.Message, "maintenance") {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("check never reported %s down in maintenance: exit %d, %+v", first, code, doc)
	}
	r := doc.Rollouts[0]
	if code != 1 || doc.Status != "WARNING" || r.Holder == "" || r.Since.IsZero() || r.NodeSince.IsZero() || r.Stale || !strings.Contains(r.Operation, "restart") {
		t.Errorf("check -o json during the rollout: exit %d, status %s, rollout %+v; want WARNING naming the holder, since and %s", code, doc.Status, r, first)
	}
	for _, p := range doc.Problems {
		if p.Severity == health.Critical {
			t.Errorf("CRITICAL during the rollout: %+v", p)
		}
	}
	nagios, _, ncode := natsops(c, t, "-i", invPath, "check", "--format", "nagios")
	if ncode != 1 || !strings.HasPrefix(nagios, "NATS WARNING:") || !strings.Contains(nagios, "rollout_in_progress=1") || !strings.Contains(nagios, "maintenance") {
		t.Errorf("nagios during the rollout: exit %d\n%s", ncode, nagios)
	}
	prom, _, pcode := natsops(c, t, "-i", invPath, "check", "--format", "prometheus")
	for _, re := range []string{`(?m)^natsops_rollout_in_progress\{cluster="[^"]+"\} 1$`, `(?m)^natsops_node_maintenance\{cluster="[^"]+",node="` + first + `"\} 1$`, `(?m)^natsops_check_status 1$`} {
		if !regexp.MustCompile(re).MatchString(prom) {
			t.Errorf("prometheus during the rollout (exit %d) lacks %s:\n%s", pcode, re, prom)
		}
	}
	text, _, tcode := natsops(c, t, "-i", invPath, "check")
	if tcode != 1 || !strings.Contains(text, "[rollout-in-progress]") || !strings.Contains(text, "working on "+first) {
		t.Errorf("text during the rollout: exit %d\n%s", tcode, text)
	}

	for l := range lines {
		out = append(out, l)
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("restart: %v\n%s\n%s", err, strings.Join(out, "\n"), stderr.String())
	}
	waitHealthy(c, t, inv)
	o, _, cd := natsops(c, t, "-i", invPath, "check", "-o", "json")
	doc = checkDoc{}
	if json.Unmarshal([]byte(o), &doc) != nil || cd != 0 || len(doc.Rollouts) != 0 {
		t.Errorf("check after the rollout: exit %d, %s", cd, o)
	}
}
