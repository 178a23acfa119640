package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/rollout"
)

// TestSignalMidNodeFinishesIt: natsops restart on a real local cluster,
// its stdout a pipe, hit while the first node is being restarted (the
// line of its stop step read) by each signal an operator's session sends
// a rollout: the reader of the output going away (the pipe closed: SIGPIPE
// at the next write, as `| head` does), a closed terminal (SIGHUP),
// SIGTERM. Each time natsops survives, finishes that node (confirmed back,
// never left stopped), does not touch the next, releases the lock, records
// the run as interrupted with the node done, and exits 5; the cluster is
// healthy after (natsops status exit 0). SIGINT (Ctrl-C) does the same.
func TestSignalMidNodeFinishesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops, starts a local cluster")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()
	for _, sig := range []string{"SIGPIPE", "SIGHUP", "SIGTERM", "SIGINT"} {
		t.Run(sig, func(t *testing.T) {
			cmd := exec.Command(bin, "restart", "--yes", "--mode", "fast", "--healthy-for", "1s", "-i", inv)
			cmd.Env = append(os.Environ(), audit.EnvLog+"="+auditLogOf(bin))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			var seen []string
			first := ""
			for sc.Scan() {
				l := sc.Text()
				seen = append(seen, l)
				if f := strings.Fields(l); len(f) >= 4 && f[2] == rollout.StepStop && f[3] == rollout.ResultOK {
					first = f[1]
					break
				}
			}
			if first == "" {
				t.Fatalf("no node's stop step seen:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
			}
			switch sig {
			case "SIGPIPE":
				out.Close() // the reader goes away: the next write raises SIGPIPE
			case "SIGHUP":
				_ = cmd.Process.Signal(syscall.SIGHUP)
			case "SIGTERM":
				_ = cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				_ = cmd.Process.Signal(syscall.SIGINT)
			}
			var rest []string
			if sig != "SIGPIPE" {
				for sc.Scan() {
					rest = append(rest, sc.Text())
				}
			}
			err = cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			all := strings.Join(append(seen, rest...), "\n")
			if code != ExitCancelled {
				t.Fatalf("%s mid node: exit %d (%v), want 5\n%s\n%s", sig, code, err, all, stderr.String())
			}
			if !strings.Contains(stderr.String(), sig) || !strings.Contains(stderr.String(), "before changing") {
				t.Errorf("stderr does not say the signal and where it stopped:\n%s", stderr.String())
			}
			if sig != "SIGPIPE" && !regexp.MustCompile(`\s`+first+`\s+steady\s+ok\s`).MatchString(all) {
				t.Errorf("%s not soaked after the signal:\n%s", first, all)
			}
			for _, n := range c.Inventory.Nodes {
				if _, err := os.Stat(rollout.LockPathFor(n)); err == nil {
					t.Errorf("%s: lock %s left", n.Name, rollout.LockPathFor(n))
				}
			}
			if code, out, errOut := natsopsExec(t, bin, "status", "-i", inv); code != ExitOK {
				t.Errorf("status after %s: exit %d\n%s%s", sig, code, out, errOut)
			}
			code, js, errOut := natsopsExec(t, bin, "history", "--limit", "1", "-o", "json")
			var doc struct {
				Records []audit.Record `json:"records"`
			}
			if code != ExitOK || json.Unmarshal([]byte(js), &doc) != nil || len(doc.Records) != 1 {
				t.Fatalf("history: exit %d\n%s%s", code, js, errOut)
			}
			rec := doc.Records[0]
			if rec.Outcome != audit.Interrupted || strings.Join(rec.Done, ",") != first || len(rec.NotDone) != 2 || rec.ExitCode != ExitCancelled {
				t.Errorf("record after %s: outcome %q done %v not done %v exit %d; want interrupted, %s done", sig, rec.Outcome, rec.Done, rec.NotDone, rec.ExitCode, first)
			}
			// The lock is gone: the rerun resumes and finishes the rest.
			if code, out, errOut := natsopsExec(t, bin, "restart", "--yes", "--mode", "fast", "-i", inv); code != ExitOK || !strings.Contains(out, "resuming") {
				t.Fatalf("rerun after %s: exit %d, want 0 resuming\n%s%s", sig, code, out, errOut)
			}
		})
	}
}
