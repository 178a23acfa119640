package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
)

// provisionInventory writes an inventory of local nodes (this machine, no
// sudo) in pidfile and binary mode, with every path under dir, and the
// binary it uploads: provision runs for real, without hosts or root.
func provisionInventory(t *testing.T, dir, version string, nodes ...string) string {
	t.Helper()
	bin := []byte("#!/bin/sh\necho 'nats-server: v" + version + "'\n")
	if err := os.WriteFile(filepath.Join(dir, "nats-server.build"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	var b strings.Builder
	b.WriteString(`[ssh]
sudo = false

[service]
manager = "pidfile"
install = "binary"
binary_source = "nats-server.build"
binary_sha256 = "` + hex.EncodeToString(sum[:]) + `"
nats_version = "2.15.0"

[jetstream]
enabled = true
`)
	for i, n := range nodes {
		nd := filepath.Join(dir, n)
		b.WriteString("\n[[node]]\nname = \"" + n + "\"\nhost = \"127.0.0.1\"\nconnection = \"local\"\n" +
			"service.binary = \"" + nd + "/bin/nats-server\"\n" +
			"service.config_path = \"" + nd + "/nats.conf\"\n" +
			"jetstream.store_dir = \"" + nd + "/jetstream\"\n" +
			"server = { port = " + strconv.Itoa(4222+i) + ", http_port = " + strconv.Itoa(8222+i) + ", pid_file = \"" + nd + "/nats.pid\", log = { file = \"" + nd + "/log/nats.log\" } }\n" +
			"cluster.port = " + strconv.Itoa(6222+i) + "\n")
	}
	path := filepath.Join(dir, "natsops.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLIWith runs natsops with stdin and a terminal (or not).
func runCLIWith(t *testing.T, stdin string, tty bool, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sys := testSystem(&stdout, &stderr, tty, args...)
	sys.Stdin = strings.NewReader(stdin)
	code := run(sys)
	return code, stdout.String(), stderr.String()
}

// TestProvisionFlow: --check (exit 2, nothing written), no terminal and no
// --yes (exit 5), a declined confirmation (exit 5), --yes (exit 0,
// verified), then nothing to do (exit 0), and -o json, through the CLI.
func TestProvisionFlow(t *testing.T) {
	dir := t.TempDir()
	inv := provisionInventory(t, dir, "2.15.2", "n1", "n2")
	bin1 := filepath.Join(dir, "n1/bin/nats-server")

	code, out, errOut := runCLI(t, "provision", "-i", inv, "--check")
	if code != ExitPending {
		t.Fatalf("--check exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"n1: 3 steps pending", "n2: 3 steps pending", "  binary " + bin1 + ": absent -> sha256 ", "  dir " + dir + "/n1/jetstream: absent -> 0750", "  dir " + dir + "/n1/log: absent -> 0750"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); !os.IsNotExist(err) {
		t.Fatalf("--check changed something: %v", err)
	}

	if code, _, errOut = runCLI(t, "provision", "-i", inv); code != ExitCancelled || !strings.Contains(errOut, "apply 6 steps on 2 hosts: no terminal to confirm on; rerun with --yes") {
		t.Fatalf("without a terminal: exit %d: %s", code, errOut)
	}
	if code, _, errOut = runCLIWith(t, "n\n", true, "provision", "-i", inv); code != ExitCancelled || !strings.Contains(errOut, "apply 6 steps on 2 hosts? [y/N] natsops: cancelled; nothing was changed") {
		t.Fatalf("declined: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); !os.IsNotExist(err) {
		t.Fatalf("a declined run changed something: %v", err)
	}

	code, out, errOut = runCLIWith(t, "y\n", true, "provision", "-i", inv, "--parallel", "1")
	if code != ExitOK || !strings.Contains(out, "n1: provisioned and verified: nats-server 2.15.2 ("+bin1+")") || !strings.Contains(out, "n2: provisioned and verified") {
		t.Fatalf("confirmed: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(bin1); err != nil || !strings.Contains(string(b), "v2.15.2") {
		t.Fatalf("binary: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "n2/jetstream")); err != nil || st.Mode().Perm() != 0o750 {
		t.Fatalf("store dir: %v %v", st, err)
	}

	if code, out, _ = runCLI(t, "provision", "-i", inv, "--yes"); code != ExitOK || strings.Count(out, "up to date") != 2 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	if code, out, _ = runCLI(t, "provision", "-i", inv, "--check", "--limit", "n2"); code != ExitOK || out != "n2: up to date\n" {
		t.Fatalf("second --check: exit %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, "provision", "-i", inv, "--check", "-o", "json")
	// A host event per host, then the result.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], `{"event":"host","node":"n1"`) || !strings.HasPrefix(lines[2], `{"event":"result","ok":true,"exit_code":0,`) {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	var h struct {
		Node    string `json:"node"`
		Applied bool   `json:"applied"`
		Plan    struct {
			Steps []any `json:"steps"`
		} `json:"plan"`
		Verify struct {
			Version string `json:"version"`
		} `json:"verify"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Node != "n1" || h.Applied || len(h.Plan.Steps) != 0 || h.Verify.Version != "2.15.2" {
		t.Errorf("json line %s (%v)", lines[0], err)
	}
}

// TestProvisionRefusesBeforeAnyChange: bad input on one host stops the run
// with nothing changed on any host (exit 1, the host and the fix named);
// a binary that does not match its pin is an inventory error (exit 65,
// file:line) before any host is reached.
func TestProvisionRefusesBeforeAnyChange(t *testing.T) {
	dir := t.TempDir()
	inv := provisionInventory(t, dir, "2.15.2", "n1", "n2")
	// n2's store directory is a file.
	if err := os.MkdirAll(filepath.Join(dir, "n2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n2/jetstream"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "provision", "-i", inv, "--yes")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{"natsops: n2: refused: " + dir + "/n2/jetstream (jetstream.store_dir) exists and is not a directory; fix: move it away", "natsops: refused: nothing was changed on any host (n2); fix what is named above and rerun"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); !os.IsNotExist(err) {
		t.Errorf("n1 was changed although n2 was refused: %v", err)
	}
	if code, _, _ = runCLI(t, "provision", "-i", inv, "--check"); code != ExitError {
		t.Errorf("--check with a refused host: exit %d, want 1", code)
	}

	// The build changed, the pin did not.
	if err := os.WriteFile(filepath.Join(dir, "nats-server.build"), []byte("#!/bin/sh\necho 'nats-server: v2.15.3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "provision", "-i", inv, "--yes")
	if code != ExitInvalid || !strings.Contains(errOut, "natsops.toml:8") || !strings.Contains(errOut, "service.binary_sha256: nats-server.build has sha256 ") || !strings.Contains(errOut, "fix: make sure binary_source is the build you meant") {
		t.Fatalf("checksum mismatch: exit %d\n%s", code, errOut)
	}
	code, out, _ := runCLI(t, "provision", "-i", inv, "--check", "-o", "json")
	if code != ExitInvalid || !strings.Contains(out, `"key":"service.binary_sha256"`) {
		t.Fatalf("checksum mismatch, json: exit %d\n%s", code, out)
	}
}

// TestProvisionAudit: a provision past its confirmation writes an audit
// record like tune's, on this machine and on each node: who, the plan
// per host, the plan, apply and verify steps, the outcome; --check
// writes none.
func TestProvisionAudit(t *testing.T) {
	dir := t.TempDir()
	inv := provisionInventory(t, dir, "2.15.2", "n1", "n2")
	local := filepath.Join(dir, "operator-audit.jsonl")
	runWith := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		sys := testSystem(&stdout, &stderr, false, args...)
		sys.Getenv = func(k string) (string, bool) {
			if k == audit.EnvLog {
				return local, true
			}
			return "", false
		}
		return run(sys), stdout.String() + stderr.String()
	}
	if code, out := runWith("provision", "-i", inv, "--check"); code != ExitPending {
		t.Fatalf("--check: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(local); !os.IsNotExist(err) {
		t.Fatalf("--check wrote an audit record: %v", err)
	}
	if code, out := runWith("provision", "-i", inv, "--yes", "--limit", "n1"); code != ExitOK {
		t.Fatalf("provision --yes: exit %d\n%s", code, out)
	}
	data, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	recs, warns := audit.Parse(bytes.NewReader(data), local)
	if len(recs) != 1 || len(warns) != 0 {
		t.Fatalf("operator's log: %d records, %v\n%s", len(recs), warns, data)
	}
	r := recs[0]
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, s.Node+"/"+s.Step+"="+s.Result)
	}
	if r.Command != "provision" || r.Outcome != audit.OK || r.ExitCode != 0 || r.Who == "" || len(r.Nodes) != 1 || r.Nodes[0] != "n1" ||
		len(r.Plan) != 1 || r.Plan[0].Change != "provision" || len(r.Plan[0].Items) != 3 ||
		strings.Join(steps, " ") != "n1/plan=ok n1/apply=ok n1/verify=ok" {
		t.Errorf("record %+v\nsteps %v", r, steps)
	}
	node, err := os.ReadFile(filepath.Join(dir, "n1/nats.conf") + audit.LocalNodeSuffix)
	if err != nil {
		t.Fatalf("n1's own log: %v", err)
	}
	if recs, _ := audit.Parse(bytes.NewReader(node), "n1"); len(recs) != 1 || recs[0].Node != "n1" || recs[0].NodeOutcome != audit.NodeDone || recs[0].Run != r.Run {
		t.Errorf("n1's record: %+v", recs)
	}
}
