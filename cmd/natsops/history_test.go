package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
)

// TestHistoryOnALocalCluster: a real restart of the local cluster leaves
// its records, read back through the CLI: this machine's log as a table
// and as JSON (--limit), node n1's own log (--node), a corrupt line
// skipped with a warning naming the file and line, and bad flags refused
// with exit 64.
func TestHistoryOnALocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()

	if code, out, stderr := natsopsExec(t, bin, "history"); code != ExitOK || out != "" || !strings.Contains(stderr, "no runs recorded in "+auditLogOf(bin)) {
		t.Fatalf("history before any run: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := natsopsExec(t, bin, "restart", "--yes", "--mode", "fast", "-i", inv); code != ExitOK {
		t.Fatalf("restart: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := natsopsExec(t, bin, "history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], " restart ") || !strings.Contains(lines[1], " ok ") || !strings.Contains(lines[1], " done n") || strings.Contains(lines[1], "not done") {
		t.Fatalf("history: exit %d, want a header and the restart\n%s%s", code, out, stderr)
	}

	// -o json: one document, the records in it.
	code, out, stderr = natsopsExec(t, bin, "history", "--limit", "1", "-o", "json")
	var doc struct {
		OK      bool           `json:"ok"`
		Source  string         `json:"source"`
		Records []audit.Record `json:"records"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || !doc.OK || doc.Source != auditLogOf(bin) || len(doc.Records) != 1 {
		t.Fatalf("history --limit 1 -o json: exit %d\n%s%s", code, out, stderr)
	}
	rec := doc.Records[0]
	if rec.Command != "restart" || rec.Outcome != audit.OK || rec.ExitCode != 0 || len(rec.Nodes) != 3 || rec.Node != "" || len(rec.Steps) == 0 || rec.InventorySHA256 == "" {
		t.Errorf("the operator's record: %+v", rec)
	}

	code, out, stderr = natsopsExec(t, bin, "history", "--node", "n1", "-o", "json", "-i", inv)
	doc.Records = nil
	if code != ExitOK || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Records) != 1 {
		t.Fatalf("history --node n1 -o json: exit %d\n%s%s", code, out, stderr)
	}
	onNode := doc.Records[0]
	if onNode.Node != "n1" || onNode.NodeOutcome != audit.NodeDone || onNode.Run != rec.Run {
		t.Errorf("n1's record: node %q outcome %q run %q, want n1 done in run %s", onNode.Node, onNode.NodeOutcome, onNode.Run, rec.Run)
	}

	f, err := os.OpenFile(auditLogOf(bin), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{not a record\n")
	f.Close()
	if code, out, stderr = natsopsExec(t, bin, "history"); code != ExitOK || !strings.Contains(stderr, auditLogOf(bin)+":2:") || !strings.Contains(out, " restart ") {
		t.Errorf("history with a corrupt line: exit %d, want 0 and a warning naming %s:2\n%s%s", code, auditLogOf(bin), out, stderr)
	}

	// A canary (--stop-after 1) shows the node it did and those it did
	// not, not every node it was asked to change.
	if code, out, stderr = natsopsExec(t, bin, "restart", "--yes", "--mode", "fast", "--stop-after", "1", "-i", inv); code != ExitOK {
		t.Fatalf("restart --stop-after 1: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = natsopsExec(t, bin, "history", "--limit", "1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != ExitOK || len(lines) != 2 || !strings.Contains(lines[1], "; not done n") || strings.Count(lines[1], "n1")+strings.Count(lines[1], "n2")+strings.Count(lines[1], "n3") != 3 {
		t.Errorf("history after a canary: exit %d\n%s%s", code, out, stderr)
	}

	if code, _, stderr = natsopsExec(t, bin, "history", "--limit", "-1"); code != ExitUsage || !strings.Contains(stderr, "--limit must be 0 (all) or more") {
		t.Errorf("history --limit -1: exit %d, want 64\n%s", code, stderr)
	}
	if code, _, stderr = natsopsExec(t, bin, "history", "--node", "n9", "-i", inv); code != ExitUsage || !strings.Contains(stderr, `--node "n9"`) || !strings.Contains(stderr, "n1, n2, n3") {
		t.Errorf("history --node n9 (no such node): exit %d, want 64\n%s", code, stderr)
	}
}
