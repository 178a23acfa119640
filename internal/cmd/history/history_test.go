package history_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/history"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/audit"
)

func TestFlags(t *testing.T) {
	var got *history.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return history.NewCmd(f, func(o *history.Options) error { got = o; return nil })
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "history"); code != 0 || got.Limit != 20 || got.Node != "" {
		t.Fatalf("defaults: exit %d, %+v", code, got)
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "history", "--node", "n1", "--limit", "0"); code != 0 || got.Node != "n1" || got.Limit != 0 {
		t.Fatalf("exit %d, %+v", code, got)
	}
	got = nil
	if code, _, _ := cmdtest.Parse(t, newCmd, "history", "--limit", "-2"); code != cmdutil.ExitUsage || got != nil {
		t.Errorf("--limit -2: exit %d, want 64 before the run", code)
	}
}

// TestTableSaysWhatWasDone: a --stop-after run shows the nodes done and
// not done (not every node it was asked to change), a failed run the
// node it failed at and its reason; a record without those fields (an
// older natsops's) shows its nodes.
func TestTableSaysWhatWasDone(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	recs := []audit.Record{
		{Command: "deploy", Who: "ops@h", Run: "r1", Outcome: audit.OK, Nodes: []string{"n1", "n2", "n3"}, Done: []string{"n1"}, NotDone: []string{"n2", "n3"}},
		{Command: "restart", Who: "ops@h", Run: "r2", Outcome: audit.Failed, Nodes: []string{"n1", "n2", "n3"}, Done: []string{"n1"}, FailedNode: "n2", NotDone: []string{"n3"}, Error: "n2: not ready within 2m0s:\nno route to n3"},
		{Command: "tune", Who: "ops@h", Run: "r3", Outcome: audit.OK, Nodes: []string{"n1", "n2"}},
	}
	var data []byte
	for _, r := range recs {
		r.Schema = audit.Schema
		b, _ := json.Marshal(r)
		data = append(append(data, b...), '\n')
	}
	if err := os.WriteFile(log, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sys := cmdtest.System(&stdout, &stderr, false, "history")
	sys.Getenv = func(k string) (string, bool) { return log, k == audit.EnvLog }
	if code := cmdtest.Run(sys); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "REASON") {
		t.Fatalf("table:\n%s%s", stdout.String(), stderr.String())
	}
	for i, want := range []string{"done n1; not done n2,n3", "done n1; failed n2; not done n3", "n1,n2"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("row %d lacks %q:\n%s", i+1, want, lines[i+1])
		}
	}
	if !strings.Contains(lines[2], "n2: not ready within 2m0s:; no route to n3") {
		t.Errorf("failed run shows no reason:\n%s", lines[2])
	}
	if strings.Contains(lines[1], "n1,n2,n3") {
		t.Errorf("the --stop-after run claims every node:\n%s", lines[1])
	}
}

// TestUnknownNodeNamesNodeFlag: --node with a node the inventory lacks
// is a usage error about --node (not --limit) listing the nodes.
func TestUnknownNodeNamesNodeFlag(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	src := "[cluster]\nname = \"c\"\n\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n\n[[node]]\nname = \"n2\"\nhost = \"10.0.0.2\"\n"
	if err := os.WriteFile(inv, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cmdtest.CLI(t, "history", "-i", inv, "--node", "nope")
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, `--node "nope" is not a node of`) || !strings.Contains(stderr, "n1, n2") || strings.Contains(stderr, "--limit") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	// The node names complete for --node.
	code, out, _ := cmdtest.CLI(t, "__complete", "history", "-i", inv, "--node", "")
	if code != 0 || !strings.Contains(out, "n1\nn2\n") {
		t.Errorf("completion: exit %d\n%s", code, out)
	}
}
