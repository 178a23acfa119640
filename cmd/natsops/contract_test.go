package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
)

// contractRow is one run of the output contract's table: a command line
// (-o json is added), its input on stdin, the exit code it must end
// with, and whether the command streams (JSON Lines ending in the
// result) or prints one document.
type contractRow struct {
	name   string
	args   []string
	stdin  string
	code   int
	stream bool
	// outcome: a non-zero code that is an answer, not an error (a
	// verdict, pending changes, an unhealthy fleet): no "error" key.
	outcome bool
}

// TestJSONOutputContract holds docs/output.md's contract for every
// command, on a success and a failure path (and usage errors): with -o
// json, stdout is exactly one JSON document whose "ok" is exit_code == 0
// and whose "exit_code" is the process's exit code, with "error" on a
// failure; a streaming command prints JSON Lines, every line an object
// naming its "event", the last and only "result" line carrying ok and
// exit_code. Runs the built binary against a real local cluster.
func TestJSONOutputContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops and starts a local cluster")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.toml", "[server]\nmax_connections = -1\n[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\n")
	exists := write("exists.toml", "# taken\n")
	example := filepath.Join("..", "..", "inventory", "example.toml")
	provDir := filepath.Join(dir, "prov")
	if err := os.Mkdir(provDir, 0o700); err != nil {
		t.Fatal(err)
	}
	prov := provisionInventory(t, provDir, "2.15.2", "p1")
	ansible := filepath.Join("..", "..", "pkg", "ansible", "testdata", "hosts.json")
	rows := []contractRow{
		{name: "init", args: []string{"init", "-i", filepath.Join(dir, "new.toml")}},
		{name: "init over a file", args: []string{"init", "-i", exists}, code: ExitError},
		{name: "validate", args: []string{"validate", "-i", inv}},
		{name: "validate --rules", args: []string{"validate", "--rules"}},
		{name: "validate invalid", args: []string{"validate", "-i", bad}, code: ExitInvalid},
		{name: "validate no inventory", args: []string{"validate", "-i", filepath.Join(dir, "missing.toml")}, code: ExitError},
		{name: "render", args: []string{"render", "-i", inv, "--out", filepath.Join(dir, "render")}},
		{name: "render -", args: []string{"render", "-i", inv, "--out", "-"}},
		{name: "render invalid", args: []string{"render", "-i", bad, "--out", "-"}, code: ExitInvalid},
		{name: "render no --out", args: []string{"render", "-i", inv}, code: ExitUsage},
		{name: "provision --check", args: []string{"provision", "--check", "-i", prov}, code: ExitPending, stream: true, outcome: true},
		{name: "provision", args: []string{"provision", "--yes", "-i", prov}, stream: true},
		{name: "provision unreachable", args: []string{"provision", "--check", "-i", example}, code: ExitError, stream: true},
		{name: "tune --check", args: []string{"tune", "--check", "-i", inv}, code: ExitPending, stream: true, outcome: true},
		{name: "tune unreachable", args: []string{"tune", "--check", "-i", example}, code: ExitError, stream: true},
		{name: "tune bad flag", args: []string{"tune", "--chekc", "-i", inv}, code: ExitUsage, stream: true},
		{name: "diff", args: []string{"diff", "-i", inv}},
		{name: "diff unreachable", args: []string{"diff", "-i", example}, code: ExitError},
		{name: "deploy --check", args: []string{"deploy", "--check", "-i", inv}, stream: true},
		{name: "deploy", args: []string{"deploy", "--yes", "-i", inv}, stream: true},
		{name: "deploy unreachable", args: []string{"deploy", "--yes", "-i", example}, code: ExitError, stream: true},
		{name: "deploy bad --restart", args: []string{"deploy", "--restart", "sometimes", "-i", inv}, code: ExitUsage, stream: true},
		{name: "status", args: []string{"status", "-i", inv}},
		{name: "status unhealthy", args: []string{"status", "-i", example, "--monitor-only"}, code: ExitUnhealthy, outcome: true},
		{name: "restart", args: []string{"restart", "--yes", "--node", "n1", "--mode", "fast", "-i", inv}, stream: true},
		{name: "restart unknown node", args: []string{"restart", "--yes", "--node", "n9", "-i", inv}, code: ExitUsage, stream: true},
		{name: "restart refused", args: []string{"restart", "--yes", "-i", example}, code: ExitUnhealthy, stream: true},
		{name: "rebalance --dry-run", args: []string{"rebalance", "--dry-run", "-i", inv}, code: ExitError, stream: true},
		{name: "rebalance no system user", args: []string{"rebalance", "--yes", "-i", inv}, code: ExitError, stream: true},
		{name: "rebalance bad --within", args: []string{"rebalance", "--within", "200%", "-i", inv}, code: ExitUsage, stream: true},
		{name: "step-down no system user", args: []string{"step-down", "--yes", "-i", inv}, code: ExitError, stream: true},
		{name: "step-down unknown --to", args: []string{"step-down", "--to", "n9", "--yes", "-i", inv}, code: ExitUsage, stream: true},
		{name: "evacuate no system user", args: []string{"evacuate", "--node", "n1", "--yes", "-i", inv}, code: ExitError, stream: true},
		{name: "evacuate no --node", args: []string{"evacuate", "--yes", "-i", inv}, code: ExitUsage, stream: true},
		{name: "replace no system user", args: []string{"replace", "--node", "n3", "--yes", "-i", inv}, code: ExitError, stream: true},
		{name: "replace no --node", args: []string{"replace", "--yes", "-i", inv}, code: ExitUsage, stream: true},
		{name: "rescue no system user", args: []string{"rescue", "--lost", "n3", "--yes", "-i", inv}, code: ExitError, stream: true},
		{name: "rescue no --lost", args: []string{"rescue", "--yes", "-i", inv}, code: ExitUsage, stream: true},
		{name: "check", args: []string{"check", "-i", inv}},
		{name: "check critical", args: []string{"check", "-i", example, "--monitor-only"}, code: checkCritical, outcome: true},
		{name: "check no inventory", args: []string{"check", "-i", filepath.Join(dir, "missing.toml")}, code: checkUnknown},
		{name: "check with --format nagios", args: []string{"check", "-i", inv, "--format", "nagios"}, code: checkUnknown},
		{name: "check bad flag", args: []string{"check", "--warn-fds", "abc", "-i", inv}, code: checkUnknown},
		{name: "hash-password", args: []string{"hash-password", "--cost", "4"}, stdin: "secret\n"},
		{name: "hash-password empty", args: []string{"hash-password"}, code: ExitUsage},
		{name: "version", args: []string{"version"}},
		{name: "version with an argument", args: []string{"version", "extra"}, code: ExitUsage},
		{name: "bench pubsub", args: []string{"bench", "pubsub", "-i", inv, "--sub", "5", "--msgs", "50"}, stream: true},
		{name: "bench pubsub unknown user", args: []string{"bench", "pubsub", "-i", inv, "--user", "nobody"}, code: ExitUsage, stream: true},
		{name: "bench connections", args: []string{"bench", "connections", "-i", inv, "--target", "20", "--step", "10", "--hold", "0s"}, stream: true},
		{name: "bench connections no target", args: []string{"bench", "connections", "-i", inv, "--target", "0"}, code: ExitUsage, stream: true},
		{name: "history", args: []string{"history"}},
		{name: "history --node", args: []string{"history", "-i", inv, "--node", "n1"}},
		{name: "history bad --limit", args: []string{"history", "--limit", "-1"}, code: ExitUsage},
		{name: "inventory import", args: []string{"inventory", "import", "--ansible", ansible, "--group", "nats", "--out", filepath.Join(dir, "imported.toml")}},
		{name: "inventory import no group", args: []string{"inventory", "import", "--ansible", ansible, "--out", filepath.Join(dir, "x.toml")}, code: ExitUsage},
		{name: "contexts", args: []string{"contexts", "-i", inv, "--dir", filepath.Join(dir, "ctx")}},
		{name: "contexts unknown user", args: []string{"contexts", "-i", inv, "--user", "nobody", "--dir", filepath.Join(dir, "ctx")}, code: ExitUsage},
		{name: "demo --stop not a demo", args: []string{"demo", "--stop", dir}, code: ExitUsage, stream: true},
		{name: "unknown command", args: []string{"bogus"}, code: ExitUsage},
		{name: "unknown flag", args: []string{"validate", "--bogus"}, code: ExitUsage},
		{name: "bad --output", args: []string{"validate", "-i", inv, "--parallel", "0"}, code: ExitUsage},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			code, out, stderr := natsopsJSON(t, bin, r.stdin, r.args...)
			if code != r.code {
				t.Fatalf("natsops %s -o json: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), code, r.code, out, stderr)
			}
			if r.stream {
				checkStream(t, out, code, r.outcome)
			} else {
				checkDocument(t, out, code, r.outcome)
			}
		})
	}
	// The demo streams too: its own cluster, started, restarted, removed.
	t.Run("demo", func(t *testing.T) {
		code, out, stderr := natsopsJSON(t, bin, "", "demo")
		if code != 0 {
			t.Fatalf("demo -o json: exit %d\n%s\n%s", code, out, stderr)
		}
		checkStream(t, out, code, false)
	})
}

// natsopsJSON runs the binary with -o json, stdin as its input.
func natsopsJSON(t *testing.T, bin, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-o", "json")...)
	cmd.Env = append(os.Environ(), audit.EnvLog+"="+auditLogOf(bin), "XDG_CONFIG_HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// checkEnvelope checks the result's own keys.
func checkEnvelope(t *testing.T, doc map[string]json.RawMessage, code int, outcome bool) {
	t.Helper()
	var ok bool
	var exit int
	if err := json.Unmarshal(doc["ok"], &ok); err != nil || doc["ok"] == nil {
		t.Errorf(`no boolean "ok": %s`, doc["ok"])
	}
	if err := json.Unmarshal(doc["exit_code"], &exit); err != nil || doc["exit_code"] == nil {
		t.Errorf(`no "exit_code": %s`, doc["exit_code"])
	}
	if ok != (code == 0) || exit != code {
		t.Errorf(`"ok": %v, "exit_code": %d; the process exited %d`, ok, exit, code)
	}
	_, hasErr := doc["error"]
	switch {
	case code == 0 && hasErr:
		t.Errorf(`"error" on success: %s`, doc["error"])
	case code != 0 && !outcome && !hasErr:
		t.Errorf(`no "error" on a failure (exit %d)`, code)
	}
}

// checkDocument: stdout is exactly one JSON object with the envelope.
func checkDocument(t *testing.T, out string, code int, outcome bool) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var doc map[string]json.RawMessage
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	var more json.RawMessage
	if err := dec.Decode(&more); err != io.EOF {
		t.Fatalf("more than one JSON document on stdout (%v):\n%s", err, out)
	}
	checkEnvelope(t, doc, code, outcome)
}

// checkStream: every line is a JSON object with an "event"; the last
// line, and only it, is the result.
func checkStream(t *testing.T, out string, code int, outcome bool) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 4<<20)
	var last map[string]json.RawMessage
	n := 0
	for sc.Scan() {
		n++
		if last != nil && string(last["event"]) == `"result"` {
			t.Fatalf("a line after the result: %s", sc.Text())
		}
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %q", n, err, sc.Text())
		}
		var ev string
		if err := json.Unmarshal(line["event"], &ev); err != nil || ev == "" {
			t.Fatalf(`line %d has no "event": %q`, n, sc.Text())
		}
		last = line
	}
	if last == nil || string(last["event"]) != `"result"` {
		t.Fatalf("the stream does not end in a result line:\n%s", out)
	}
	checkEnvelope(t, last, code, outcome)
}
