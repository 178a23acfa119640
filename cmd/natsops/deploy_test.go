package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/demo"
	"github.com/natsops/natsops/pkg/monitor"
)

// buildNatsops builds the binary (local nodes run `natsops server`).
func buildNatsops(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "natsops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// localCluster starts the demo's 3-node cluster (pidfile mode, local
// connections) without the demo's rollout, for other commands to drive.
func localCluster(t *testing.T, bin string) *demo.Cluster {
	t.Helper()
	c := newLocalCluster(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx, time.Minute, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return c
}

// newLocalCluster creates the demo's 3-node cluster (configs in place,
// nothing started) and stops whatever runs of it when the test ends.
func newLocalCluster(t *testing.T, bin string) *demo.Cluster {
	t.Helper()
	c, err := demo.Create(t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return c
}

// natsopsExec runs the binary and returns its exit code and output.
func natsopsExec(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// The runs' audit log sits next to the binary (one per test), never
	// in the user's state directory.
	cmd.Env = append(os.Environ(), audit.EnvLog+"="+auditLogOf(bin))
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

// auditLogOf is the audit log natsopsExec's runs of bin write.
func auditLogOf(bin string) string { return filepath.Join(filepath.Dir(bin), "audit.jsonl") }

// withServer returns a copy of the cluster's inventory (same file name, in
// a new directory: the rendered header names it) with extra settings under
// [server], and edit applied.
func withServer(t *testing.T, c *demo.Cluster, extra string, edit ...func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(c.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "[server]\n", "[server]\n"+extra, 1)
	for _, e := range edit {
		src = e(src)
	}
	path := filepath.Join(t.TempDir(), "natsops.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func varzOf(t *testing.T, c *demo.Cluster, node string) *monitor.Varz {
	t.Helper()
	for _, n := range c.Inventory.Nodes {
		if n.Name == node {
			v, err := (&monitor.Client{}).Varz(context.Background(), n.MonitorURL())
			if err != nil {
				t.Fatalf("%s /varz: %v", node, err)
			}
			return v
		}
	}
	t.Fatalf("no node %s", node)
	return nil
}

// TestDeployAndDiffOnALocalCluster drives diff and deploy through the CLI
// against a real running cluster: an unchanged inventory is up to date,
// a reloadable change is shown (diff, deploy --check exit 2) and reloaded
// without a restart, a second deploy started while one runs is refused by
// the lock with nothing installed, and a config that cannot start is
// rolled back with the node serving its previous config.
func TestDeployAndDiffOnALocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()

	code, out, stderr := natsopsExec(t, bin, "diff", "-i", inv)
	if code != ExitOK || strings.Count(out, "up to date") != 3 {
		t.Fatalf("diff of the deployed inventory: exit %d\n%s%s", code, out, stderr)
	}

	reload := withServer(t, c, "max_connections = 1234\n")
	code, out, stderr = natsopsExec(t, bin, "diff", "-i", reload)
	if code != ExitOK || strings.Count(out, "reload (max_connections)") != 3 || !strings.Contains(out, "+max_connections: 1234") {
		t.Fatalf("diff of a reloadable change: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-i", reload); code != ExitPending {
		t.Fatalf("deploy --check: exit %d, want %d\n%s", code, ExitPending, out)
	}
	code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-o", "json", "-i", reload)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Event    string   `json:"event"`
		OK       bool     `json:"ok"`
		ExitCode int      `json:"exit_code"`
		Changed  []string `json:"changed"`
	}
	if code != ExitPending || len(lines) != 4 || json.Unmarshal([]byte(lines[3]), &last) != nil || last.Event != "result" || last.ExitCode != ExitPending || len(last.Changed) != 3 {
		t.Fatalf("deploy --check -o json: exit %d\n%s", code, out)
	}
	// Another template directory: diff shows its difference.
	tmpl := t.TempDir()
	tsrc, err := os.ReadFile("../../templates/nats-server.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpl, "nats-server.conf.tmpl"), []byte(strings.Replace(string(tsrc), "# Do not edit on the host", "# Site template. Do not edit on the host", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = natsopsExec(t, bin, "diff", "--templates", tmpl, "-i", inv); code != ExitOK || !strings.Contains(out, "+# Site template.") {
		t.Fatalf("diff --templates: exit %d\n%s", code, out)
	}
	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "--templates", tmpl, "-i", inv); code != ExitPending {
		t.Fatalf("deploy --check --templates: exit %d\n%s", code, out)
	}
	before := varzOf(t, c, "n1")
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "--reload-timeout", "30s", "-i", reload)
	if code != ExitOK || strings.Count(out, ": reloaded") != 3 {
		t.Fatalf("deploy of a reloadable change: exit %d\n%s%s", code, out, stderr)
	}
	if v := varzOf(t, c, "n1"); v.MaxConnections != 1234 || !v.Start.Equal(before.Start) || !v.ConfigLoadTime.After(before.ConfigLoadTime) {
		t.Errorf("n1 after the reload: max_connections %d, start %s (was %s)", v.MaxConnections, v.Start, before.Start)
	}
	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-i", reload); code != ExitOK {
		t.Fatalf("deploy --check after deploying: exit %d\n%s", code, out)
	}

	// Two deploys at once: the second is refused by the first's lock,
	// naming it, and installs nothing.
	restart := withServer(t, c, "max_connections = 1234\nmax_pending = \"96MB\"\n")
	other := withServer(t, c, "max_connections = 999\n")
	first := exec.Command(bin, "deploy", "--yes", "--mode", "fast", "-i", restart)
	first.Env = append(os.Environ(), audit.EnvLog+"="+auditLogOf(bin))
	pipe, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	var firstOut strings.Builder
	for sc.Scan() {
		firstOut.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), " lock ") && strings.Contains(sc.Text(), " ok ") {
			break
		}
	}
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "-i", other)
	for sc.Scan() {
		firstOut.WriteString(sc.Text() + "\n")
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first deploy: %v\n%s%s", err, firstOut.String(), firstErr.String())
	}
	if code != ExitError || !strings.Contains(stderr, "another rollout holds the lock") || !strings.Contains(stderr, "(pid "+strconv.Itoa(first.Process.Pid)) {
		t.Fatalf("the second deploy: exit %d, want %d and the first's lock named\n%s%s", code, ExitError, out, stderr)
	}
	for _, n := range c.Inventory.Nodes {
		b, _ := os.ReadFile(n.Service.ConfigPath)
		if strings.Contains(string(b), "max_connections: 999") || !strings.Contains(string(b), "max_pending: 100663296") {
			t.Errorf("%s: %s after the two deploys:\n%s", n.Name, n.Service.ConfigPath, b)
		}
	}

	// A restart of the same nodes after a complete one starts afresh
	// (--no-resume says so explicitly); --poll sets the health poll.
	code, out, stderr = natsopsExec(t, bin, "restart", "--yes", "--mode", "fast", "--poll", "100ms", "--no-resume", "-i", restart)
	if code != ExitOK || !strings.Contains(out, "restarted n") {
		t.Fatalf("restart --no-resume --poll: exit %d\n%s%s", code, out, stderr)
	}

	// n2's new client port is taken: n2 cannot start with it, is rolled
	// back and serves its previous config; the deploy says so.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	n2 := c.Inventory.Nodes[1]
	prevConf, _ := os.ReadFile(n2.Service.ConfigPath)
	prevStart := varzOf(t, c, "n2").Start
	bad := withServer(t, c, "max_connections = 1234\nmax_pending = \"96MB\"\n", func(s string) string {
		return strings.Replace(s, "port = "+strconv.Itoa(*n2.Server.Port)+"\n", "port = "+strconv.Itoa(taken)+"\n", 1)
	})
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", bad)
	if code != ExitError || !strings.Contains(stderr, "rolled back: n2 runs its previous config again and serves") || !strings.Contains(out+stderr, "address already in use") {
		t.Fatalf("deploy of a config n2 cannot start with: exit %d\n%s%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(n2.Service.ConfigPath); !bytes.Equal(b, prevConf) {
		t.Errorf("n2's config after the rollback:\n%s\nwant the previous:\n%s", b, prevConf)
	}
	if v := varzOf(t, c, "n2"); !v.Start.After(prevStart) {
		t.Errorf("n2 was not restarted with its previous config (start %s, was %s)", v.Start, prevStart)
	}
	if code, out, _ = natsopsExec(t, bin, "status", "-i", restart); code != ExitOK {
		t.Errorf("status after the rollback: exit %d\n%s", code, out)
	}
}

// TestDeployBootstrapsALocalCluster: nodes that have never run (configs
// in place, nothing started) are a cluster that has never formed: deploy
// says so, starts them all together and waits for the cluster; a node
// that cannot start makes the bootstrap put every node back as it was
// (stopped); a second bootstrap of the formed cluster is refused.
func TestDeployBootstrapsALocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := newLocalCluster(t, bin)
	inv := c.InventoryPath()

	// n3's client port is taken: the first bootstrap cannot form.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*c.Inventory.Nodes[2].Server.Port))
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "--timeout", "30s", "-i", inv)
	l.Close()
	if code != ExitError || !strings.Contains(out, "n1, n2, n3 do not form a cluster yet") || !strings.Contains(stderr, "nats-server on n3 exited after it was started") || !strings.Contains(stderr, "n1, n2, n3 stopped, as before") {
		t.Fatalf("bootstrap with n3's port taken: exit %d\n%s%s", code, out, stderr)
	}
	if running := c.Running(); len(running) != 0 {
		t.Fatalf("servers left running after the failed bootstrap: %v", running)
	}

	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-i", inv); code != ExitPending || !strings.Contains(out, "bootstrapping, all 3 nodes restart together") {
		t.Fatalf("deploy --check on nodes never started: exit %d\n%s", code, out)
	}
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", inv)
	if code != ExitOK || strings.Count(out, ": restarted") != 3 || !strings.Contains(out, "the cluster formed") {
		t.Fatalf("bootstrap: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = natsopsExec(t, bin, "status", "-i", inv); code != ExitOK {
		t.Fatalf("status after the bootstrap: exit %d\n%s", code, out)
	}
	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-i", inv); code != ExitOK {
		t.Fatalf("deploy --check after the bootstrap: exit %d\n%s", code, out)
	}
	if code, _, stderr = natsopsExec(t, bin, "deploy", "--yes", "--bootstrap", "-i", inv); code != ExitError || !strings.Contains(stderr, "n1, n2, n3 form the cluster") {
		t.Fatalf("--bootstrap on the formed cluster: exit %d, want %d\n%s", code, ExitError, stderr)
	}
}

// TestDeployScalesALocalClusterOutAndIn: 3 nodes with a system account
// are bootstrapped; n4 added to the inventory joins them (the members
// take its route, then it starts); n4 marked remove = true leaves (lame
// duck, stop, peer removal through the system account, the members drop
// its route); the cluster is healthy with 4 and then 3, and the meta
// group shrinks back to 3.
func TestDeployScalesALocalClusterOutAndIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := newLocalCluster(t, bin)
	t.Setenv("NATSOPS_TEST_SYS", "sys-password-0123456789")
	t.Setenv("NATSOPS_TEST_APP", "app-password-0123456789")
	src, err := os.ReadFile(c.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	auth := "\n[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:NATSOPS_TEST_SYS\"\n\n[[server.auth.users]]\nuser = \"app\"\npassword = \"env:NATSOPS_TEST_APP\"\n"
	// n4's ports: free now and none of the other nodes' (which are not
	// listening yet: a free port may be one of theirs).
	taken := map[int]bool{}
	for _, n := range c.Inventory.Nodes {
		taken[*n.Server.Port], taken[*n.Server.HTTPPort], taken[*n.Cluster.Port] = true, true, true
	}
	var ports []int
	for len(ports) < 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if p := l.Addr().(*net.TCPAddr).Port; !taken[p] {
			taken[p] = true
			ports = append(ports, p)
		}
		l.Close()
	}
	n4 := func(extra string) string {
		base := filepath.Join(c.Dir, "n4")
		return fmt.Sprintf("\n[[node]]\nconnection = 'local'\nhost = '127.0.0.1'\nname = 'n4'\n%s\n[node.cluster]\nport = %d\n\n[node.jetstream]\nstore_dir = %q\n\n[node.server]\nhttp_port = %d\npid_file = %q\nport = %d\n\n[node.server.log]\nfile = %q\nsize_limit = '10MB'\n\n[node.service]\nconfig_path = %q\n",
			extra, ports[2], base+"/jetstream", ports[1], base+".pid", ports[0], base+".log", base+".conf")
	}
	write := func(body string) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "natsops.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	three := write(string(src) + auth)
	four := write(string(src) + n4("") + auth)
	leaving := write(string(src) + n4("remove = true") + auth)

	// Formed without auth, then given users and the system account one
	// node at a time (a rolling restart: the accounts block cannot
	// reload): the meta group must survive nodes with and without it.
	if code, out, stderr := natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", c.InventoryPath()); code != ExitOK || !strings.Contains(out, "the cluster formed") {
		t.Fatalf("bootstrap of 3: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", three); code != ExitOK || strings.Count(out, ": restarted") != 3 {
		t.Fatalf("adding the system account, one node at a time: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", four)
	if code != ExitOK || !strings.Contains(out, "n4 joins the cluster of n1, n2, n3") || strings.Count(out, ": reloaded") != 3 || !strings.Contains(out, "n4: restarted") {
		t.Fatalf("scale out to 4: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = natsopsExec(t, bin, "status", "-i", four); code != ExitOK || !strings.Contains(out, "4 nodes healthy") {
		t.Fatalf("status of 4: exit %d\n%s", code, out)
	}
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "--mode", "fast", "-i", leaving)
	if code != ExitOK || !strings.Contains(out, "n4: removed") || strings.Count(out, ": reloaded") != 3 {
		t.Fatalf("scale in to 3: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ = natsopsExec(t, bin, "status", "-i", leaving); code != ExitOK || !strings.Contains(out, "3 nodes healthy") {
		t.Fatalf("status of 3: exit %d\n%s", code, out)
	}
	if code, out, _ = natsopsExec(t, bin, "deploy", "--check", "-i", three); code != ExitOK {
		t.Errorf("the 3-node inventory after the removal: deploy --check exit %d\n%s", code, out)
	}
	for _, n := range c.Inventory.Nodes {
		js, err := (&monitor.Client{}).Jsz(context.Background(), n.MonitorURL())
		if err != nil {
			t.Fatal(err)
		}
		if js.Meta == nil || js.Meta.Leader != n.Name {
			continue
		}
		for _, r := range js.Meta.Replicas {
			if r.Name == "n4" {
				t.Errorf("the meta leader %s still lists n4: %+v", n.Name, js.Meta.Replicas)
			}
		}
	}
	if pid, _ := os.ReadFile(filepath.Join(c.Dir, "n4.pid")); len(pid) > 0 {
		if p, _ := strconv.Atoi(strings.TrimSpace(string(pid))); demo.Alive(p) {
			t.Errorf("n4 (pid %d) still runs", p)
		}
	}
}

// TestDeployMemberDownOnALocalCluster: the reproduction on the
// demo's cluster: n2's server killed (SIGKILL) and a reloadable change
// deployed. deploy names n2 a member that is down (never "joins"), refuses
// with exit 3 naming the command that brings it back, and never advises
// emptying its store; that command brings it back and the deploy then
// applies.
func TestDeployMemberDownOnALocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster as processes")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	var n2pid int
	for _, n := range c.Inventory.Nodes {
		if n.Name == "n2" {
			data, err := os.ReadFile(*n.Server.PidFile)
			if err != nil {
				t.Fatal(err)
			}
			n2pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
	}
	if n2pid <= 0 || !demo.Ours(n2pid, c.Dir) {
		t.Fatalf("n2's pid %d is not a server of this cluster", n2pid)
	}
	if err := syscall.Kill(n2pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for demo.Ours(n2pid, c.Dir) {
		time.Sleep(20 * time.Millisecond)
	}
	change := withServer(t, c, "max_connections = 1234\n")
	code, out, stderr := natsopsExec(t, bin, "deploy", "--check", "-i", change)
	if code != ExitPending || strings.Contains(out, "joins") || !strings.Contains(out, "n2 down: the cluster (n1, n3 up) knows it as a member") || !strings.Contains(stderr, "deploy --yes would refuse: a member of the cluster is down: n2") {
		t.Fatalf("deploy --check with n2 killed: exit %d\n%s%s", code, out, stderr)
	}
	// A CI step reads the same refusal as data: the result names the
	// member down, and the refusal says what --yes would answer.
	code, out, stderr = natsopsExec(t, bin, "deploy", "--check", "-o", "json", "-i", change)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Event       string   `json:"event"`
		ExitCode    int      `json:"exit_code"`
		Refusal     string   `json:"refusal"`
		MembersDown []string `json:"members_down"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || code != ExitPending || res.Event != "result" || res.ExitCode != ExitPending || !slices.Equal(res.MembersDown, []string{"n2"}) || !strings.Contains(res.Refusal, "natsops restart --node n2 --force --yes") {
		t.Fatalf("deploy --check -o json with n2 killed: exit %d, result %+v (%v)\n%s%s", code, res, err, out, stderr)
	}
	code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "-i", change)
	if code != ExitUnhealthy || !strings.Contains(stderr, "a member of the cluster is down: n2 (a peer of the JetStream meta group") || !strings.Contains(stderr, "natsops restart --node n2 --force --yes") || strings.Contains(out+stderr, "empty the directory") {
		t.Fatalf("deploy --yes with n2 killed: exit %d, want %d naming n2 and the restart\n%s%s", code, ExitUnhealthy, out, stderr)
	}
	if code, out, stderr = natsopsExec(t, bin, "restart", "--node", "n2", "--force", "--yes", "-i", change); code != ExitOK {
		t.Fatalf("restart --node n2 --force --yes: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr = natsopsExec(t, bin, "deploy", "--yes", "-i", change); code != ExitOK {
		t.Fatalf("deploy --yes with n2 back: exit %d\n%s%s", code, out, stderr)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if got := varzOf(t, c, n).MaxConnections; got != 1234 {
			t.Errorf("%s: max_connections %d, want 1234", n, got)
		}
	}
}
