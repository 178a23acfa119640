//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/testbed"
)

// upBare starts 3 fresh bare nodes (no nats-server, no nats user: the
// bare image) for one test and removes them when it ends.
func upBare(c context.Context, t *testing.T) *testbed.Testbed {
	t.Helper()
	bare, err := tb.UpBare(c, 3, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testbed.DownBare(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return bare
}

func bareOut(c context.Context, t *testing.T, bare *testbed.Testbed, node, script string) string {
	t.Helper()
	out, err := bare.Exec(c, node, script)
	if err != nil {
		t.Fatalf("%s: %s: %v", node, script, err)
	}
	return strings.TrimSpace(out)
}

// hostState is everything provision could change on a node, read as root
// through docker (not natsops): binaries, the account, directories, units,
// the package, and hidden temp files beside the binary. (Not the
// directories' own mtimes: a refused upload made and removed its temp file
// in /usr/local/bin.)
const hostState = `{ command -v nats-server; ls -lA /usr/local/bin; getent passwd nats; getent group nats
for d in /var/lib/nats /var/lib/nats/jetstream /var/lib/nats/js2 /var/log/nats; do stat -c '%n %U:%G %a' "$d"; done
ls -lA /etc/systemd/system /etc/systemd/system/multi-user.target.wants
dpkg-query -W -f='${db:Status-Abbrev}\n' nats-server; systemctl is-enabled nats-server; systemctl is-active nats-server; } 2>&1 || true`

func snapshot(c context.Context, t *testing.T, bare *testbed.Testbed) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, n := range bare.Nodes {
		s[n.Name] = bareOut(c, t, bare, n.Name, hostState)
	}
	return s
}

// unchanged fails the test when any node differs from before.
func unchanged(c context.Context, t *testing.T, bare *testbed.Testbed, before map[string]string, what string) {
	t.Helper()
	for name, after := range snapshot(c, t, bare) {
		if after != before[name] {
			t.Errorf("%s changed %s:\n--- before\n%s\n--- after\n%s", what, name, before[name], after)
		}
	}
}

// bareInventory is the bare nodes' generated inventory with its [service]
// and [jetstream] lines replaced (old -> new pairs).
func bareInventory(t *testing.T, bare *testbed.Testbed, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(bare.InventoryFile)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(src, replace[i]) {
			t.Fatalf("inventory has no %q", replace[i])
		}
		src = strings.Replace(src, replace[i], replace[i+1], 1)
	}
	path := filepath.Join(bare.Dir, name)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// lineOf is the line of path where substr first appears.
func lineOf(t *testing.T, path, substr string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), substr)
	if i < 0 {
		t.Fatalf("%s has no %q", path, substr)
	}
	return strings.Count(string(b[:i]), "\n") + 1
}

// checkAccount: nats is a system account (uid below 1000) with no login
// shell, and has its group.
func checkAccount(c context.Context, t *testing.T, bare *testbed.Testbed, node string) {
	t.Helper()
	f := strings.Split(bareOut(c, t, bare, node, "getent passwd nats"), ":")
	if len(f) != 7 || len(f[2]) > 3 || !strings.HasSuffix(f[6], "nologin") {
		t.Errorf("%s: nats account %v: want a system uid and no login shell", node, f)
	}
	if got := bareOut(c, t, bare, node, "getent group nats | cut -d: -f1"); got != "nats" {
		t.Errorf("%s: group nats: %q", node, got)
	}
}

// provisionTimed runs provision --yes and logs its wall time, the figure
// docs/provisioning.md quotes (bare -> provisioned, 3 nodes).
func provisionTimed(c context.Context, t *testing.T, mode, inv string) string {
	t.Helper()
	start := time.Now()
	out, stderr, code := natsops(c, t, "-i", inv, "provision", "--yes")
	t.Logf("provision --yes, %s mode, 3 bare nodes: %.2fs wall", mode, time.Since(start).Seconds())
	if code != 0 {
		t.Fatalf("provision --yes: exit %d\n%s%s", code, out, stderr)
	}
	return out
}

// nothingToDo: a second --yes and --check have nothing to do (exit 0), and
// -o json says so per host, then the result.
func nothingToDo(c context.Context, t *testing.T, bare *testbed.Testbed, inv string) {
	t.Helper()
	before := snapshot(c, t, bare)
	if out, _, code := natsops(c, t, "-i", inv, "provision", "--yes"); code != 0 || strings.Count(out, ": up to date\n") != 3 {
		t.Errorf("second provision --yes: exit %d\n%s", code, out)
	}
	if out, _, code := natsops(c, t, "-i", inv, "provision", "--check"); code != 0 || strings.Count(out, ": up to date\n") != 3 {
		t.Errorf("provision --check after provisioning: exit %d\n%s", code, out)
	}
	out, _, code := natsops(c, t, "-i", inv, "provision", "--check", "-o", "json")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], `{"event":"host","node":"b1"`) || !strings.Contains(lines[0], `"steps":null`) || !strings.HasPrefix(lines[3], `{"event":"result","ok":true,"exit_code":0,`) {
		t.Errorf("provision --check -o json: exit %d\n%s", code, out)
	}
	unchanged(c, t, bare, before, "a run with nothing to do")
}

// deployFromBare is the rest of the chain docs/provisioning.md's CI recipe
// gives: deploy bootstraps the cluster that has never formed, then status
// and check say it is healthy.
func deployFromBare(c context.Context, t *testing.T, inv string) {
	t.Helper()
	start := time.Now()
	if out, stderr, code := natsops(c, t, "-i", inv, "deploy", "--yes"); code != 0 {
		t.Fatalf("deploy --yes on provisioned hosts: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("deploy --yes (bootstrap), 3 provisioned nodes: %.2fs wall", time.Since(start).Seconds())
	natsopsStatusHealthy(c, t, inv)
	if out, _, code := natsops(c, t, "-i", inv, "check"); code != 0 {
		t.Errorf("check after deploy: exit %d\n%s", code, out)
	}
}

// TestProvisionPackage: bare hosts get Debian's nats-server package from
// their repositories (the image's local one: the testbed has no route to
// Debian's mirrors) through natsops provision alone, then tune.
func TestProvisionPackage(t *testing.T) {
	c := ctx(t, 8*time.Minute)
	bare := upBare(c, t)
	inv := bare.InventoryFile
	before := snapshot(c, t, bare)
	for _, n := range bare.Nodes {
		if !strings.Contains(before[n.Name], "no packages found matching nats-server") {
			t.Fatalf("%s is not bare:\n%s", n.Name, before[n.Name])
		}
	}

	// Bad input: the package is not in one host's repositories. The whole
	// run is refused, nothing changes on any host.
	bareOut(c, t, bare, "b2", "mv /etc/apt/sources.list.d/natsops-testbed.list /root/ && apt-get update -q >/dev/null 2>&1; echo ok")
	_, stderr, code := natsops(c, t, "-i", inv, "provision", "--yes")
	if code != 1 || !strings.Contains(stderr, "natsops: b2: refused: package nats-server is not available from this host's apt repositories (apt-cache policy shows no candidate); fix: add a repository that has it") ||
		!strings.Contains(stderr, "refused: nothing was changed on any host (b2)") {
		t.Errorf("package not available: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, before, "a refused run (package not available)")
	bareOut(c, t, bare, "b2", "mv /root/natsops-testbed.list /etc/apt/sources.list.d/ && apt-get update -q >/dev/null 2>&1; echo ok")

	// --check: the plan, exit 2, nothing changed.
	out, _, code := natsops(c, t, "-i", inv, "provision", "--check")
	if code != 2 {
		t.Fatalf("provision --check on bare hosts: exit %d, want 2", code)
	}
	for _, want := range []string{"b1: 5 steps pending", "  install package nats-server 2.9.10-1+b3 (apt)", "  user nats: absent -> system account, group nats, no login shell",
		"  dir /var/lib/nats/jetstream: absent -> nats:nats 0750", "  unit nats-server.service: absent -> the package's, or /etc/systemd/system/nats-server.service if it ships none",
		"  enable nats-server.service (absent -> enabled)", "b3: 5 steps pending"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	unchanged(c, t, bare, before, "provision --check")

	out = provisionTimed(c, t, "package", inv)
	for _, n := range bare.Nodes {
		if !strings.Contains(out, n.Name+": provisioned and verified: nats-server 2.9.10 (/usr/sbin/nats-server)") {
			t.Errorf("%s: not reported provisioned:\n%s", n.Name, out)
		}
		if got := bareOut(c, t, bare, n.Name, "/usr/sbin/nats-server --version"); got != "nats-server: v2.9.10" {
			t.Errorf("%s: %q", n.Name, got)
		}
		checkAccount(c, t, bare, n.Name)
		if got := bareOut(c, t, bare, n.Name, "stat -c '%U:%G %a' /var/lib/nats/jetstream"); got != "nats:nats 750" {
			t.Errorf("%s: store dir %q", n.Name, got)
		}
		// Debian ships a unit: it is the one used, enabled, and (the
		// package starts it with its default config) left running.
		if got := bareOut(c, t, bare, n.Name, "systemctl is-enabled nats-server; systemctl is-active nats-server; test -e /etc/systemd/system/nats-server.service && echo natsops-unit || echo package-unit"); got != "enabled\nactive\npackage-unit" {
			t.Errorf("%s: unit %q", n.Name, got)
		}
	}
	nothingToDo(c, t, bare, inv)

	// Bad input: the installed server is older than nats_version (and the
	// run would also make a new store directory: it must not).
	inv2 := bareInventory(t, bare, "bare-package-2.10.toml", `user = "nats"`, `user = "nats"`+"\nnats_version = \"2.10.0\"", `store_dir = "/var/lib/nats/jetstream"`, `store_dir = "/var/lib/nats/js2"`)
	before = snapshot(c, t, bare)
	_, stderr, code = natsops(c, t, "-i", inv2, "provision", "--yes")
	if code != 1 || !strings.Contains(stderr, "natsops: b1: refused: the installed nats-server package (2.9.10-1+b3) is nats-server 2.9.10, older than service.nats_version 2.10.0 (") ||
		!strings.Contains(stderr, "bare-package-2.10.toml:") || !strings.Contains(stderr, "refused: nothing was changed on any host (b1, b2, b3)") {
		t.Errorf("older than nats_version: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, before, "a refused run (installed server too old)")

	// tune on the provisioned hosts: nothing impossible to do, the running
	// (package default) servers already have the container's ceiling.
	if out, stderr, code := natsops(c, t, "-i", inv, "tune", "--yes"); code != 0 {
		t.Fatalf("tune --yes after provision: exit %d\n%s%s", code, out, stderr)
	}
	for _, n := range bare.Nodes {
		cat := bareOut(c, t, bare, n.Name, "systemctl cat nats-server")
		// The package's own stop (SIGINT) is left as it is; restart's
		// graceful mode sends SIGUSR2 itself.
		for _, want := range []string{"ExecStop=/bin/kill -s SIGINT $MAINPID", "LimitNOFILE=" + fmt.Sprint(bare.Kernel.NoFile)} {
			if !strings.Contains(cat, want) {
				t.Errorf("%s: systemctl cat nats-server lacks %q:\n%s", n.Name, want, cat)
			}
		}
	}
	deployFromBare(c, t, inv)
}

// TestProvisionBinary: bare hosts get nats-server from a binary on this
// machine (go.mod's version, built by testbed/build.sh), its SHA-256
// pinned, and natsops's unit; every bad input is refused with nothing
// changed on any host.
func TestProvisionBinary(t *testing.T) {
	c := ctx(t, 8*time.Minute)
	srcs, _ := filepath.Glob(filepath.Join(tb.Dir, "nats-server-v*"))
	if len(srcs) != 1 {
		t.Fatalf("want the one nats-server build testbed/build.sh caches in %s, found %v", tb.Dir, srcs)
	}
	src := filepath.Base(srcs[0])
	version := strings.TrimPrefix(src, "nats-server-v")
	data, err := os.ReadFile(srcs[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	bare := upBare(c, t)
	service := func(binary, sha, natsVersion string) []string {
		return []string{`binary = "/usr/sbin/nats-server"`, fmt.Sprintf("install = \"binary\"\nbinary = %q\nbinary_source = %q\nbinary_sha256 = %q\nnats_version = %q", binary, src, sha, natsVersion),
			"[server]\n", "[server]\nlame_duck_duration = \"45s\"\n"}
	}
	inv := bareInventory(t, bare, "bare-binary.toml", service("/usr/local/bin/nats-server", sha, version)...)
	before := snapshot(c, t, bare)

	// Bad input, each refused with nothing changed on any host:
	// a binary that is not the pinned build (before any host is reached),
	bad := bareInventory(t, bare, "bare-binary-sha.toml", service("/usr/local/bin/nats-server", strings.Repeat("0", 64), version)...)
	at := fmt.Sprintf("bare-binary-sha.toml:%d: node b1: service.binary_sha256: ", lineOf(t, bad, "binary_sha256 ="))
	if _, stderr, code := natsops(c, t, "-i", bad, "provision", "--yes"); code != 65 || !strings.Contains(stderr, at+src+" has sha256 "+sha+", not the pinned 0000") {
		t.Errorf("checksum mismatch: exit %d\n%s", code, stderr)
	}
	// a relative service.binary in binary mode (at load),
	bad = bareInventory(t, bare, "bare-binary-rel.toml", service("nats-server", sha, version)...)
	if _, stderr, code := natsops(c, t, "-i", bad, "provision", "--yes"); code != 65 || !strings.Contains(stderr, `service.binary: service.install = "binary" installs the binary at service.binary, but "nats-server" is not an absolute path`) {
		t.Errorf("relative binary: exit %d\n%s", code, stderr)
	}
	// a build older than nats_version (found on each host, in the upload's
	// check, before it replaces anything),
	bad = bareInventory(t, bare, "bare-binary-old.toml", service("/usr/local/bin/nats-server", sha, "2.99.0")...)
	if _, stderr, code := natsops(c, t, "-i", bad, "provision", "--yes"); code != 1 || strings.Count(stderr, "the uploaded binary is nats-server "+version+", older than service.nats_version 2.99.0 (") != 3 || !strings.Contains(stderr, "nothing replaced") {
		t.Errorf("build older than nats_version: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, before, "a refused run")
	// and a unit of that name that runs something else, on one host.
	bareOut(c, t, bare, "b2", "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/nats-server.service && systemctl daemon-reload && echo ok")
	withForeign := snapshot(c, t, bare)
	if _, stderr, code := natsops(c, t, "-i", inv, "provision", "--yes"); code != 1 ||
		!strings.Contains(stderr, `natsops: b2: refused: unit nats-server.service exists (/etc/systemd/system/nats-server.service) and runs "/bin/sleep", not nats-server; fix: set service.unit to a name of its own, or remove that unit`) ||
		!strings.Contains(stderr, "refused: nothing was changed on any host (b2)") {
		t.Errorf("foreign unit: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, withForeign, "a refused run (foreign unit)")
	bareOut(c, t, bare, "b2", "rm /etc/systemd/system/nats-server.service && systemctl daemon-reload && echo ok")

	out, _, code := natsops(c, t, "-i", inv, "provision", "--check")
	if code != 2 {
		t.Fatalf("provision --check on bare hosts: exit %d, want 2", code)
	}
	for _, want := range []string{"b1: 5 steps pending", "  binary /usr/local/bin/nats-server: absent -> sha256 " + sha[:12] + " from " + srcs[0],
		"  user nats: absent -> system account", "  dir /var/lib/nats/jetstream: absent -> nats:nats 0750",
		"  unit /etc/systemd/system/nats-server.service: absent -> natsops's unit", "  enable nats-server.service (absent -> enabled)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	unchanged(c, t, bare, before, "provision --check")

	out = provisionTimed(c, t, "binary", inv)
	for _, n := range bare.Nodes {
		if !strings.Contains(out, n.Name+": provisioned and verified: nats-server "+version+" (/usr/local/bin/nats-server)") {
			t.Errorf("%s: not reported provisioned:\n%s", n.Name, out)
		}
		if got := bareOut(c, t, bare, n.Name, "/usr/local/bin/nats-server --version; sha256sum /usr/local/bin/nats-server | cut -c1-64; stat -c '%U:%G %a' /usr/local/bin/nats-server"); got != "nats-server: v"+version+"\n"+sha+"\nroot:root 755" {
			t.Errorf("%s: binary %q", n.Name, got)
		}
		checkAccount(c, t, bare, n.Name)
		if got := bareOut(c, t, bare, n.Name, "stat -c '%U:%G %a' /var/lib/nats/jetstream"); got != "nats:nats 750" {
			t.Errorf("%s: store dir %q", n.Name, got)
		}
		// Enabled, not started: deploy installs the config and starts it.
		if got := bareOut(c, t, bare, n.Name, "systemctl is-enabled nats-server; systemctl is-active nats-server || true"); got != "enabled\ninactive" {
			t.Errorf("%s: unit %q", n.Name, got)
		}
		cat := bareOut(c, t, bare, n.Name, "systemctl cat nats-server")
		for _, want := range []string{"# /etc/systemd/system/nats-server.service\n# Managed by natsops (`natsops provision`)",
			"\nExecStart=/usr/local/bin/nats-server -c /etc/nats-server.conf\n", "\nExecReload=/bin/kill -s HUP $MAINPID\n",
			"\nExecStop=/bin/kill -s SIGUSR2 $MAINPID\n", "\nTimeoutStopSec=75\n", "\nUser=nats\nGroup=nats\n", "\nRestart=on-failure\n",
			"\nLimitNOFILE=" + fmt.Sprint(bare.Kernel.NoFile) + "\n"} {
			if !strings.Contains(cat, want) {
				t.Errorf("%s: systemctl cat nats-server lacks %q:\n%s", n.Name, want, cat)
			}
		}
		// systemd itself finds nothing wrong with it.
		if got := bareOut(c, t, bare, n.Name, "systemd-analyze verify /etc/systemd/system/nats-server.service 2>&1; echo rc=$?"); !strings.HasSuffix(got, "rc=0") || strings.Contains(got, "nats-server.service:") {
			t.Errorf("%s: systemd-analyze verify: %s", n.Name, got)
		}
	}
	nothingToDo(c, t, bare, inv)

	// Bad input once installed: the build on the hosts is older than
	// nats_version (and a new store directory must not appear).
	bad = bareInventory(t, bare, "bare-binary-old2.toml", append(service("/usr/local/bin/nats-server", sha, "2.99.0"), `store_dir = "/var/lib/nats/jetstream"`, `store_dir = "/var/lib/nats/js2"`)...)
	before = snapshot(c, t, bare)
	if _, stderr, code := natsops(c, t, "-i", bad, "provision", "--yes"); code != 1 || !strings.Contains(stderr, "natsops: b3: refused: /usr/local/bin/nats-server is nats-server "+version+", older than service.nats_version 2.99.0 (") {
		t.Errorf("installed build older than nats_version: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, before, "a refused run (installed build too old)")

	if out, stderr, code := natsops(c, t, "-i", inv, "tune", "--yes"); code != 0 {
		t.Fatalf("tune --yes after provision: exit %d\n%s%s", code, out, stderr)
	}
	for _, n := range bare.Nodes {
		if cat := bareOut(c, t, bare, n.Name, "systemctl cat nats-server"); !strings.Contains(cat, "# /etc/systemd/system/nats-server.service.d/90-natsops.conf\n") {
			t.Errorf("%s: no tune drop-in after tune --yes:\n%s", n.Name, cat)
		}
	}
	deployFromBare(c, t, inv)
	// The unit natsops wrote runs the server as nats with its limit.
	for _, n := range bare.Nodes {
		if got := bareOut(c, t, bare, n.Name, "pid=$(systemctl show -p MainPID --value nats-server); ps -o user=,args= -p $pid; awk '/^Max open files/ {print $5}' /proc/$pid/limits"); got != "nats     /usr/local/bin/nats-server -c /etc/nats-server.conf\n"+fmt.Sprint(bare.Kernel.NoFile) {
			t.Errorf("%s: running server %q", n.Name, got)
		}
	}

	// Bad input once running: another build for the same path would be
	// swapped under the running servers, outside deploy's gates.
	other := filepath.Join(tb.Dir, src+"-other")
	if err := os.WriteFile(other, append(append([]byte(nil), data...), 0), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(other) })
	otherSum := sha256.Sum256(append(append([]byte(nil), data...), 0))
	bad = bareInventory(t, bare, "bare-binary-other.toml", `binary = "/usr/sbin/nats-server"`, fmt.Sprintf("install = \"binary\"\nbinary = \"/usr/local/bin/nats-server\"\nbinary_source = %q\nbinary_sha256 = %q", src+"-other", hex.EncodeToString(otherSum[:])))
	before = snapshot(c, t, bare)
	if _, stderr, code := natsops(c, t, "-i", bad, "provision", "--yes"); code != 1 || !strings.Contains(stderr, "runs from /usr/local/bin/nats-server; replacing that file would change what its next restart runs") ||
		!strings.Contains(stderr, "refused: nothing was changed on any host (b1, b2, b3)") {
		t.Errorf("replacing the running binary: exit %d\n%s", code, stderr)
	}
	unchanged(c, t, bare, before, "a refused run (running binary)")
}

// TestProvisionTestbedNodes: the ordinary nodes (Debian's package, as the
// image installs it) have everything provision would do.
func TestProvisionTestbedNodes(t *testing.T) {
	c := ctx(t, 2*time.Minute)
	out, stderr, code := natsops(c, t, "-i", tb.InventoryFile, "provision", "--check")
	if code != 0 || strings.Count(out, ": up to date\n") != len(tb.Nodes) {
		t.Errorf("provision --check on the testbed's nodes: exit %d\n%s%s", code, out, stderr)
	}
}
