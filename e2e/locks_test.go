//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/rollout"
)

// rolloutProc is a natsops rollout run by the test with its stdout a pipe
// the test reads line by line (and may close).
type rolloutProc struct {
	cmd    *exec.Cmd
	out    *bufio.Scanner
	pipe   interface{ Close() error }
	stderr bytes.Buffer
	lines  []string
}

func startRollout(c context.Context, t *testing.T, args ...string) *rolloutProc {
	t.Helper()
	bin, err := natsopsBin()
	if err != nil {
		t.Fatalf("build natsops: %v", err)
	}
	p := &rolloutProc{cmd: exec.CommandContext(c, bin, args...)}
	p.cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "NO_COLOR=1", audit.EnvLog+"="+filepath.Join(tb.Dir, "audit.jsonl"))
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.pipe = out
	p.out = bufio.NewScanner(out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// until reads lines until one has step and result in its step and result
// columns, and returns that line's node ("" when the output ended).
func (p *rolloutProc) until(step, result string) string {
	for p.out.Scan() {
		l := p.out.Text()
		p.lines = append(p.lines, l)
		if f := strings.Fields(l); len(f) >= 4 && f[2] == step && f[3] == result {
			return f[1]
		}
	}
	return ""
}

// wait reads the rest (unless the pipe was closed) and returns the exit
// code.
func (p *rolloutProc) wait(t *testing.T, closed bool) int {
	t.Helper()
	if !closed {
		for p.out.Scan() {
			p.lines = append(p.lines, p.out.Text())
		}
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("natsops: %v", err)
	}
	t.Logf("natsops -> exit %d (%v)\n--- stdout:\n%s\n--- stderr:\n%s", code, err, strings.Join(p.lines, "\n"), p.stderr.String())
	return code
}

// stopping waits until node's /healthz no longer answers ok (its stop
// is under way).
func stopping(c context.Context, t *testing.T, inv *cluster.Inventory, node string) {
	t.Helper()
	var url string
	for _, n := range inv.Nodes {
		if n.Name == node {
			url = n.MonitorURL() + "/healthz"
		}
	}
	cl := &http.Client{Timeout: time.Second}
	for c.Err() == nil {
		res, err := cl.Get(url)
		if err != nil {
			return
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never stopped", node)
}

// noLock fails unless no node holds a rollout lock.
func noLock(c context.Context, t *testing.T, inv *cluster.Inventory, after string) {
	t.Helper()
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "test -e "+rollout.LockPath+" && cat "+rollout.LockPath+" || echo free"); got != "free" {
			t.Errorf("%s: lock left after %s: %s", n.Name, after, got)
		}
	}
}

// lastRecord is this machine's newest audit record, through natsops
// history.
func lastRecord(c context.Context, t *testing.T, invPath string) audit.Record {
	t.Helper()
	out, stderr, code := natsops(c, t, "-i", invPath, "history", "--limit", "1", "-o", "json")
	rs := records(t, out)
	if code != 0 || len(rs) != 1 {
		t.Fatalf("history --limit 1 -o json: exit %d\n%s%s", code, out, stderr)
	}
	return rs[0]
}

// TestRolloutSurvivesSignals: `natsops restart --yes` on the testbed,
// its stdout a pipe, hit mid-node by what ends an operator's session: the
// pipe's reader going away after the first node's stop line (as `| head`
// does: SIGPIPE at natsops's next write), and a closed terminal (SIGHUP)
// sent while the first node's graceful stop runs over SSH (between its
// stop and its start). Each time natsops finishes that node, touches no
// other, releases the lock on every node, records the run as interrupted
// with that node done, and exits 5; every node serves after (natsops
// status exit 0), and a following natsops restart --dry-run and
// deploy --check are not refused by a lock.
func TestRolloutSurvivesSignals(t *testing.T) {
	needCluster(t)
	c := ctx(t, 8*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	waitHealthy(c, t, inv)

	for _, sig := range []string{"SIGPIPE", "SIGHUP"} {
		t.Run(sig, func(t *testing.T) {
			before := serverIDsOf(waitHealthy(c, t, inv))
			// --no-resume: each run is its own rollout of every node (the
			// one before it was interrupted, and would be resumed).
			p := startRollout(c, t, "-i", invPath, "restart", "--yes", "--no-resume")
			var first string
			switch sig {
			case "SIGPIPE":
				first = p.until(rollout.StepStop, rollout.ResultOK)
				p.pipe.Close()
			case "SIGHUP":
				// The JetStream check is the last step before the stop
				// and start (one SSH round trip): once the node's
				// /healthz stops saying ok, the stop is under way and
				// the signal lands between it and the node back.
				first = p.until(rollout.StepJetStream, rollout.ResultOK)
				if first != "" {
					stopping(c, t, inv, first)
				}
				_ = p.cmd.Process.Signal(syscall.SIGHUP)
			}
			code := p.wait(t, sig == "SIGPIPE")
			if first == "" {
				t.Fatal("no node reached its stop")
			}
			if code != 5 {
				t.Fatalf("%s mid node: exit %d, want 5", sig, code)
			}
			if !strings.Contains(p.stderr.String(), "interrupted by "+sig) {
				t.Errorf("stderr does not name %s", sig)
			}
			natsopsStatusHealthy(c, t, invPath)
			after := serverIDsOf(waitHealthy(c, t, inv))
			for n, id := range before {
				if changed := after[n] != id; changed != (n == first) {
					t.Errorf("%s: restarted %v, want only %s restarted", n, changed, first)
				}
			}
			noLock(c, t, inv, sig)
			rec := lastRecord(c, t, invPath)
			if rec.Outcome != audit.Interrupted || rec.ExitCode != 5 || strings.Join(rec.Done, ",") != first || len(rec.NotDone) != len(inv.Nodes)-1 {
				t.Errorf("history after %s: outcome %q exit %d done %v not done %v, want interrupted, exit 5, %s done", sig, rec.Outcome, rec.ExitCode, rec.Done, rec.NotDone, first)
			}
			if out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--dry-run"); code != 0 {
				t.Errorf("restart --dry-run after %s: exit %d\n%s%s", sig, code, out, stderr)
			}
			if out, stderr, code := natsops(c, t, "-i", invPath, "deploy", "--check"); code != 0 || strings.Contains(stderr, "lock") {
				t.Errorf("deploy --check after %s: exit %d\n%s%s", sig, code, out, stderr)
			}
		})
	}
	// The rest of the interrupted restart, so the testbed is left as it
	// was found: the rerun resumes it.
	if out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, stderr)
	}
}

// TestDeployBreaksADeadLock: a restart killed with SIGKILL while it holds
// the lock (in its first node's soak, the node back) leaves the lock on
// every node; deploy then says the holder's pid on this machine no longer
// runs and names deploy's own --break-lock (exit 1, nothing installed);
// natsops deploy --break-lock --yes takes the lock over and deploys, and
// leaves no lock behind.
func TestDeployBreaksADeadLock(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	waitHealthy(c, t, inv)

	p := startRollout(c, t, "-i", invPath, "restart", "--yes", "--healthy-for", "2m")
	first := p.until(rollout.StepReady, rollout.ResultOK)
	_ = p.cmd.Process.Kill()
	p.wait(t, false)
	if first == "" {
		t.Fatal("the restart never had a node back")
	}
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "test -e "+rollout.LockPath+" && echo locked || echo free"); got != "locked" {
			t.Fatalf("%s: no lock left by the killed restart", n.Name)
		}
	}
	waitHealthy(c, t, inv)

	changed := deployInventory(t, "max_connections = 4321\n")
	out, stderr, code := natsops(c, t, "-i", changed, "deploy", "--yes")
	want := "on this machine, which is no longer running"
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "rerun natsops deploy with --break-lock") {
		t.Fatalf("deploy on a dead run's lock: exit %d, want 1 saying %q and naming deploy --break-lock\n%s%s", code, want, out, stderr)
	}
	if got := readVarz(c, t, first).MaxConnections; got == 4321 {
		t.Errorf("%s: deploy refused by the lock changed max_connections", first)
	}
	out, stderr, code = natsops(c, t, "-i", changed, "deploy", "--break-lock", "--yes")
	if code != 0 {
		t.Fatalf("deploy --break-lock: exit %d\n%s%s", code, out, stderr)
	}
	for _, n := range inv.Nodes {
		if got := readVarz(c, t, n.Name).MaxConnections; got != 4321 {
			t.Errorf("%s: max_connections %d after deploy --break-lock, want 4321", n.Name, got)
		}
	}
	noLock(c, t, inv, "deploy --break-lock")
	natsopsStatusHealthy(c, t, invPath)
	// Back to the testbed's configs.
	installRendered(c, t, invPath)
}

// TestKilledMidNodeLeavesItServing: natsops killed with SIGKILL (nothing
// can catch it) while a node is in its graceful stop. The node's stop and
// start run as one script on the node that ignores the dropped
// connection, so the node comes back by itself: never left down. The
// dead run's lock stays, said to be dead, and --break-lock takes it over.
func TestKilledMidNodeLeavesItServing(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	before := serverIDsOf(waitHealthy(c, t, inv))

	p := startRollout(c, t, "-i", invPath, "restart", "--yes", "--no-resume", "--mode", "graceful")
	first := p.until(rollout.StepJetStream, rollout.ResultOK)
	if first == "" {
		p.wait(t, false)
		t.Fatal("no node reached its stop")
	}
	stopping(c, t, inv, first)
	_ = p.cmd.Process.Kill()
	p.wait(t, false)

	// No natsops runs now: the node must come back on its own.
	after := serverIDsOf(waitHealthy(c, t, inv))
	if after[first] == before[first] {
		t.Fatalf("%s: same server id %s: it was never restarted, so the kill did not land mid-node", first, after[first])
	}
	out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--node", first, "--yes", "--no-resume")
	if code != 1 || !strings.Contains(stderr, "which is no longer running") || !strings.Contains(stderr, "rerun natsops restart with --break-lock") {
		t.Fatalf("restart on the killed run's lock: exit %d, want 1 naming the dead holder and --break-lock\n%s%s", code, out, stderr)
	}
	if out, stderr, code = natsops(c, t, "-i", invPath, "restart", "--node", first, "--break-lock", "--yes", "--no-resume"); code != 0 {
		t.Fatalf("restart --node %s --break-lock: exit %d\n%s%s", first, code, out, stderr)
	}
	noLock(c, t, inv, "restart --break-lock")
	natsopsStatusHealthy(c, t, invPath)
}
