//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/testbed"
)

// deployInventory writes an inventory for deploying to the testbed, with
// extra TOML appended to its [server] settings.
func deployInventory(t *testing.T, serverExtra string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(tb.Dir, "inventory.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(base), "[server]\n", "[server]\n"+serverExtra, 1)
	path := filepath.Join(tb.Dir, "deploy-e2e.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

type varz struct {
	Start          time.Time     `json:"start"`
	ConfigLoadTime time.Time     `json:"config_load_time"`
	MaxConnections int           `json:"max_connections"`
	WriteDeadline  time.Duration `json:"write_deadline"`
	ServerName     string        `json:"server_name"`
}

func readVarz(c context.Context, t *testing.T, node string) varz {
	t.Helper()
	code, body, err := tb.HTTPGet(c, node, "/varz")
	if err != nil || code != 200 {
		t.Fatalf("%s /varz: %d %v", node, code, err)
	}
	var v varz
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDeploy: the first deploy needs a restart and is refused by auto;
// installed with --restart never; a reloadable change is then applied by
// reload (no restart, new values in /varz); a config the node's own older
// nats-server rejects stops the deploy at the first node with nothing
// changed.
func TestDeploy(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	orig := map[string]string{}
	for _, n := range tb.Nodes {
		orig[n.Name] = nodeOut(c, t, n.Name, "cat /etc/nats-server.conf")
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Reset the hosts, not a rollout: every server stopped before any
		// store is wiped (wiping one member's store while the others run
		// on with the group's state left 2.9 "not current" for minutes),
		// then all started on the hand-written cluster config.
		for _, n := range tb.Nodes {
			if _, err := tb.Exec(c, n.Name, "systemctl stop nats-server"); err != nil {
				t.Error(err)
			}
		}
		for _, n := range tb.Nodes {
			if _, err := tb.Exec(c, n.Name, "rm -rf /var/lib/nats/jetstream/* /etc/nats-server.conf.natsops-bak /etc/systemd/system/nats-server.service.d/91-natsops-exec.conf* /etc/systemd/system/nats-server.service.d/92-natsops-service.conf*; systemctl daemon-reload; printf '%s\\n' '"+strings.ReplaceAll(orig[n.Name], "'", "'\\''")+"' > /etc/nats-server.conf; systemctl start nats-server"); err != nil {
				t.Error(err)
			}
		}
		for _, n := range tb.Nodes {
			if err := tb.WaitHealthz(c, n.Name, time.Minute); err != nil {
				t.Error(err)
			}
		}
	})

	// Start from standalone servers as Debian installs them (no
	// server_name, no cluster), whatever earlier tests left.
	for _, n := range tb.Nodes {
		nodeOut(c, t, n.Name, "rm -rf /var/lib/nats/jetstream/*; printf 'port: 4222\\nhttp_port: 8222\\n' > /etc/nats-server.conf; systemctl restart nats-server; echo ok")
	}
	for _, n := range tb.Nodes {
		if err := tb.WaitHealthz(c, n.Name, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	inv := deployInventory(t, "max_connections = 1000\nwrite_deadline = \"3s\"\n")
	out, _, code := natsops(c, t, "-i", inv, "deploy", "--check")
	if code != 2 || !strings.Contains(out, "+server_name: \"n1\"") || !strings.Contains(out, "n1, n2, n3 do not form a cluster yet") || !strings.Contains(out, "runs a config without server_name") || !strings.Contains(out, "bootstrapping, all 3 nodes restart together") {
		t.Fatalf("deploy --check: exit %d\n%s", code, out)
	}
	// A bootstrap with one host unreachable starts nothing and names it.
	if err := tb.Disconnect(c, "n3"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := natsops(c, t, "-i", inv, "deploy", "--yes")
	if err := tb.Reconnect(c, "n3"); err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(stderr, "nothing deployed: could not read n3") {
		t.Fatalf("deploy with n3 unreachable: exit %d\n%s", code, stderr)
	}
	if got := nodeOut(c, t, "n1", "cat /etc/nats-server.conf"); got != "port: 4222\nhttp_port: 8222" {
		t.Fatalf("a refused deploy changed the config: %q", got)
	}
	if err := tb.WaitSSH(c, "n3", time.Minute); err != nil {
		t.Fatal(err)
	}

	if _, _, code = natsops(c, t, "-i", inv, "deploy", "--yes", "--restart", "never"); code != 0 {
		t.Fatalf("deploy --restart never: exit %d", code)
	}
	// Installed, not loaded: still pending (the file is newer than the
	// running server's config_load_time), not "up to date".
	time.Sleep(1100 * time.Millisecond)
	nodeOut(c, t, "n1", "touch /etc/nats-server.conf; echo ok")
	if out, _, code = natsops(c, t, "-i", inv, "deploy", "--check"); code != 2 || !strings.Contains(out, "n1: /etc/nats-server.conf is installed but not loaded by the running server: restart needed") {
		t.Fatalf("deploy --check after --restart never: exit %d, want 2 and n1 pending\n%s", code, out)
	}
	for _, n := range tb.Nodes {
		if got := nodeOut(c, t, n.Name, "stat -c '%a %U:%G' /etc/nats-server.conf"); got != "640 root:nats" {
			t.Errorf("%s: config mode/owner %q", n.Name, got)
		}
	}
	// Debian's standalone servers never formed a cluster: natsops
	// bootstraps it, every node started together (no node can be ready
	// alone: a JetStream meta group needs its quorum).
	out, stderr, code = natsops(c, t, "-i", inv, "deploy", "--yes")
	if code != 0 || !strings.Contains(out, "bootstrapping, all 3 nodes restart together") || !strings.Contains(out, "the cluster formed") || strings.Count(out, ": restarted") != 3 {
		t.Fatalf("bootstrap deploy: exit %d\n%s%s", code, out, stderr)
	}
	natsopsStatusHealthy(c, t, inv)
	if _, _, code = natsops(c, t, "-i", inv, "deploy", "--check"); code != 0 {
		t.Fatalf("deploy --check after deploying: exit %d, want 0", code)
	}

	// A reloadable change: reload, no restart.
	before := map[string]varz{}
	for _, n := range tb.Nodes {
		before[n.Name] = readVarz(c, t, n.Name)
	}
	inv = deployInventory(t, "max_connections = 2000\nwrite_deadline = \"5s\"\n")
	out, _, code = natsops(c, t, "-i", inv, "deploy", "--yes")
	if code != 0 || strings.Count(out, ": reloaded") != len(tb.Nodes) {
		t.Fatalf("reload deploy: exit %d\n%s", code, out)
	}
	for _, n := range tb.Nodes {
		v := readVarz(c, t, n.Name)
		if !v.Start.Equal(before[n.Name].Start) {
			t.Errorf("%s restarted (start %v -> %v)", n.Name, before[n.Name].Start, v.Start)
		}
		if v.MaxConnections != 2000 || v.WriteDeadline != 5*time.Second || !v.ConfigLoadTime.After(before[n.Name].ConfigLoadTime) {
			t.Errorf("%s after reload: %+v", n.Name, v)
		}
	}

	// A change a reload cannot apply: each node restarted in turn, the
	// meta leader last, healthy at the end.
	inv = deployInventory(t, "max_connections = 2000\nwrite_deadline = \"5s\"\nlame_duck_duration = \"40s\"\n")
	out, _, code = natsops(c, t, "-i", inv, "deploy", "--yes", "--mode", "fast")
	if code != 0 || strings.Count(out, ": restarted") != len(tb.Nodes) || !strings.Contains(out, "restart needed (lame_duck_duration)") {
		t.Fatalf("restart deploy: exit %d\n%s", code, out)
	}
	for _, n := range tb.Nodes {
		if v := readVarz(c, t, n.Name); v.Start.Equal(before[n.Name].Start) {
			t.Errorf("%s was not restarted", n.Name)
		}
	}
	natsopsStatusHealthy(c, t, inv)

	// A config that passes the node's own -t but cannot start (n2's new
	// client port is taken): the deploy stops at n2, n2 gets its previous
	// config back and serves, the nodes after it are untouched.
	squat := "setsid nohup /usr/local/bin/nats-server-2.15 -a 0.0.0.0 -p 4333 >/dev/null 2>&1 < /dev/null & echo ok"
	nodeOut(c, t, "n2", squat)
	t.Cleanup(func() { tb.Exec(context.Background(), "n2", "pkill -f 'nats-server-2.15 -a 0.0.0.0 -p 4333'") })
	inv = deployInventory(t, "max_connections = 2500\nwrite_deadline = \"5s\"\nlame_duck_duration = \"40s\"\n")
	b, _ := os.ReadFile(inv)
	b = []byte(strings.Replace(string(b), "name = \"n2\"\n", "name = \"n2\"\nserver.port = 4333\n", 1))
	if err := os.WriteFile(inv, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Default --timeout (2m): the dead process is noticed on the node
	// (systemctl is-active), not by waiting out the timeout.
	out, stderr, code = natsops(c, t, "-i", inv, "deploy", "--yes", "--mode", "fast")
	if code == 0 || !strings.Contains(stderr, "n2") || !strings.Contains(stderr, "rolled back: n2 runs its previous config again") || !strings.Contains(out+stderr, "address already in use") {
		t.Fatalf("deploy of a config that cannot start: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "nats-server on n2 exited after it was started: systemd reports the unit failed") || strings.Contains(stderr, "rerun natsops restart") || !strings.Contains(stderr, "rerun natsops deploy") {
		t.Errorf("deploy rollback message: want the dead process named and deploy's own advice:\n%s", stderr)
	}
	if v := readVarz(c, t, "n2"); v.MaxConnections != 2000 {
		t.Errorf("n2 after rollback: max_connections %d, want the previous 2000", v.MaxConnections)
	}
	// The others only needed a reload; those before n2 in the order got it,
	// those after it (if any) were not touched.
	for _, n := range tb.Nodes {
		done := strings.Contains(out, n.Name+": reloaded")
		v := readVarz(c, t, n.Name)
		if n.Name != "n2" && done != (v.MaxConnections == 2500) {
			t.Errorf("%s: reported reloaded=%v but max_connections %d", n.Name, done, v.MaxConnections)
		}
	}
	natsopsStatusHealthy(c, t, deployInventory(t, "max_connections = 2000\nwrite_deadline = \"5s\"\nlame_duck_duration = \"40s\"\n"))

	// logfile_max_num passes natsops's validation (nats-server 2.15) but
	// Debian's 2.9.10 on the node rejects it: the node's own -t stops the
	// deploy at n1, nothing changes anywhere.
	for _, n := range tb.Nodes {
		before[n.Name] = readVarz(c, t, n.Name)
	}
	inv = deployInventory(t, "max_connections = 3000\nwrite_deadline = \"5s\"\nlame_duck_duration = \"40s\"\nlog.file = \"/var/log/nats/nats.log\"\nlog.size_limit = \"10MB\"\nlog.max_files = 3\n")
	_, stderr, code = natsops(c, t, "-i", inv, "deploy", "--yes", "--restart", "never")
	if code != 1 || !strings.Contains(stderr, "n1: install /etc/nats-server.conf") || !strings.Contains(stderr, "logfile_max_num") || !strings.Contains(stderr, "nodes after it were not touched") {
		t.Fatalf("deploy of a config the node rejects: exit %d\n%s", code, stderr)
	}
	for _, n := range tb.Nodes {
		if got := readVarz(c, t, n.Name); got.MaxConnections != before[n.Name].MaxConnections || !got.Start.Equal(before[n.Name].Start) {
			t.Errorf("%s changed: max_connections %d, start %v", n.Name, got.MaxConnections, got.Start)
		}
		if got := nodeOut(c, t, n.Name, "grep -c max_connections /etc/nats-server.conf; grep -c logfile_max_num /etc/nats-server.conf || true"); !strings.HasSuffix(got, "0") {
			t.Errorf("%s: the rejected config reached the file: %q", n.Name, got)
		}
	}
}

// natsopsStatusHealthy polls natsops status until the cluster is healthy.
func natsopsStatusHealthy(c context.Context, t *testing.T, inv string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, _, code := natsops(c, t, "-i", inv, "status")
		if code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not healthy after a minute:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestDeployTwoAtOnce: two `deploy --yes` started together on the
// testbed: the one that takes the lock deploys, the other is refused
// naming it, and installs no config anywhere.
func TestDeployTwoAtOnce(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	base, err := os.ReadFile(invPath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, extra string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(p, filepath.Base(invPath))
		src := strings.Replace(string(base), "[server]\n", "[server]\n"+extra, 1)
		src = strings.ReplaceAll(src, `"id_ed25519"`, `"`+filepath.Join(tb.Dir, "id_ed25519")+`"`)
		src = strings.ReplaceAll(src, `"known_hosts"`, `"`+filepath.Join(tb.Dir, "known_hosts")+`"`)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", "max_pending = \"96MB\"\n") // a restart: the slow one
	b := write("b", "max_connections = 777\n")  // a reload
	bin, err := natsopsBin()
	if err != nil {
		t.Fatal(err)
	}
	first := exec.CommandContext(c, bin, "-i", a, "deploy", "--yes", "--mode", "fast")
	first.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "NO_COLOR=1")
	pipe, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var firstErr strings.Builder
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	var firstOut strings.Builder
	for sc.Scan() {
		firstOut.WriteString(sc.Text() + "\n")
		if f := strings.Fields(sc.Text()); len(f) > 3 && f[2] == "lock" && f[3] == "ok" {
			break
		}
	}
	out, stderr, code := natsops(c, t, "-i", b, "deploy", "--yes")
	for sc.Scan() {
		firstOut.WriteString(sc.Text() + "\n")
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first deploy: %v\n%s%s", err, firstOut.String(), firstErr.String())
	}
	t.Logf("first deploy:\n%s", firstOut.String())
	if code != 1 || !strings.Contains(stderr, "another rollout holds the lock "+rollout.LockPath) || !strings.Contains(stderr, fmt.Sprintf("(pid %d,", first.Process.Pid)) {
		t.Fatalf("the second deploy: exit %d, want 1 and the first's lock named\n%s%s", code, out, stderr)
	}
	for _, n := range inv.Nodes {
		got := nodeOut(c, t, n.Name, "grep -c 'max_connections: 777' "+n.Service.ConfigPath+" || true; grep -c 'max_pending: 100663296' "+n.Service.ConfigPath+" || true")
		if got != "0\n1" {
			t.Errorf("%s: the refused deploy's config reached the node, or the first's did not (%q)", n.Name, got)
		}
	}
}

// TestDeployScaleOutIn: a new host is provisioned (Debian's package) and
// added to the inventory: deploy has the members take its route, starts
// it, and waits until the meta leader has it current; then it is marked
// remove = true: deploy lame-ducks and stops it, disables its unit,
// removes it from the JetStream meta group through the system account,
// and the members drop its route. A client publishes to an R3 stream
// with acks all along: no acknowledged message is lost, and the cluster
// never loses its quorum.
func TestDeployScaleOutIn(t *testing.T) {
	needCluster(t)
	c := ctx(t, 12*time.Minute)
	bare, err := tb.UpBare(c, 1, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testbed.DownBare(context.Background()); err != nil {
			t.Error(err)
		}
	})
	t.Setenv("NATSOPS_E2E_SYS", "sys-e2e-password-0123")
	t.Setenv("NATSOPS_E2E_APP", "app-e2e-password-0123")
	base, err := os.ReadFile(restartInventory(t))
	if err != nil {
		t.Fatal(err)
	}
	auth := "\n[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:NATSOPS_E2E_SYS\"\n\n[[server.auth.users]]\nuser = \"app\"\npassword = \"env:NATSOPS_E2E_APP\"\n"
	n4 := func(extra string) string {
		return fmt.Sprintf("\n[[node]]\nname = \"n4\"\nhost = %q\n%s\n[node.ssh]\nknown_hosts = \"bare_known_hosts\"\n", bare.Nodes[0].Host, extra)
	}
	write := func(name, src string) string {
		p := filepath.Join(tb.Dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
		return p
	}
	three := write("scale-3.toml", string(base)+auth)
	four := write("scale-4.toml", string(base)+n4("")+auth)
	leaving := write("scale-leaving.toml", string(base)+n4("remove = true")+auth)
	// After installRendered has put the configs back: a JetStream meta
	// group that grew to 4 and shrank by a peer removal is not the state
	// the next tests start from (2.9's meta leader kept flapping on the
	// restored configs): every server stopped, the stores wiped, all
	// started together.
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range tb.Nodes {
			nodeOut(c, t, n.Name, "systemctl stop nats-server; echo ok")
		}
		for _, n := range tb.Nodes {
			nodeOut(c, t, n.Name, "rm -rf /var/lib/nats/jetstream/*; systemctl start nats-server; echo ok")
		}
		if err := waitCluster(c, names(), 90*time.Second); err != nil {
			t.Error(err)
		}
	})
	inv3 := installRendered(c, t, three)

	// The new host: provisioned and tuned like any other.
	if out, stderr, code := natsops(c, t, "-i", four, "provision", "--yes", "--limit", "n4"); code != 0 {
		t.Fatalf("provision n4: exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := natsops(c, t, "-i", four, "tune", "--yes", "--limit", "n4"); code != 0 && code != 4 {
		t.Fatalf("tune n4: exit %d\n%s%s", code, out, stderr)
	}

	p, check := startTraffic(c, t, inv3, nats.UserInfo("app", "app-e2e-password-0123"))
	time.Sleep(time.Second)
	out, stderr, code := natsops(c, t, "-i", four, "deploy", "--yes")
	if code != 0 || !strings.Contains(out, "n4 joins the cluster of n1, n2, n3") || !strings.Contains(out, "n4: restarted") {
		t.Fatalf("scale out: exit %d\n%s%s", code, out, stderr)
	}
	inv4, err := cluster.Load(four)
	if err != nil {
		t.Fatal(err)
	}
	snaps := waitHealthy(c, t, inv4)
	if l := health.MetaLeader(snaps); l == "" || len(snaps[l].Jsz.Meta.Replicas) != 3 {
		t.Errorf("after the scale-out the meta leader %q lists %+v, want 3 replicas", l, snaps[l].Jsz)
	}

	out, stderr, code = natsops(c, t, "-i", leaving, "deploy", "--yes")
	if code != 0 || !strings.Contains(out, "n4: removed from the cluster") {
		t.Fatalf("scale in: exit %d\n%s%s", code, out, stderr)
	}
	snaps = waitHealthy(c, t, inv3)
	time.Sleep(time.Second)
	check()
	t.Logf("traffic over the scale-out and in: %d publishes", p.sent)
	if l := health.MetaLeader(snaps); l == "" || len(snaps[l].Jsz.Meta.Replicas) != 2 {
		t.Errorf("after the scale-in the meta leader %q lists %+v, want the 2 other members", l, snaps[l].Jsz)
	}
	if got := strings.TrimSpace(bareOut(c, t, bare, "b1", "systemctl is-enabled nats-server || true; systemctl is-active nats-server || true")); got != "disabled\ninactive" {
		t.Errorf("n4 after its removal: %q, want disabled and inactive", got)
	}
	if out, _, code := natsops(c, t, "-i", leaving, "deploy", "--check"); code != 0 {
		t.Errorf("after the removal: deploy --check exit %d\n%s", code, out)
	}
}
