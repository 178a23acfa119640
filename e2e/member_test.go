//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsops/natsops/testbed"
)

// memberInventory writes the testbed inventory under name with extra TOML
// in its [server] table and the [cluster] name replaced by clusterName
// ("" keeps it).
func memberInventory(t *testing.T, name, serverExtra, clusterName string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(tb.Dir, "inventory.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "[server]\n", "[server]\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = \"1s\"\n"+serverExtra, 1)
	if clusterName != "" {
		s = strings.Replace(s, "name = \"testbed\"", fmt.Sprintf("name = %q", clusterName), 1)
	}
	path := filepath.Join(tb.Dir, name)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// TestDeployMemberDown (issue 23, item 1): a member killed with kill -9
// (its unit kept from restarting it, so it stays down) and a reloadable
// change deployed: deploy refuses with exit 3 naming it as a member that
// is down and the command that brings it back (never "joins", never
// "empty the directory"); that command (restart --node N --force) brings
// it back, the deploy then completes, and every node serves with the
// stream and its messages.
func TestDeployMemberDown(t *testing.T) {
	needCluster(t)
	c, v := ctx(t, 8*time.Minute), victim()
	first := memberInventory(t, "member-1.toml", "write_deadline = \"2s\"\n", "")
	inv := installRendered(c, t, first)

	nc, err := nats.Connect(clientURLs(inv), nats.Timeout(2*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_ = js.DeleteStream(c, "MEMBER")
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "MEMBER", Subjects: []string{"member.>"}, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), "MEMBER") })
	const msgs = 200
	for i := 0; i < msgs; i++ {
		if _, err := js.Publish(c, fmt.Sprintf("member.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitHealthy(c, t, inv)

	// The fault: nats-server on v dies of SIGKILL, and stays down.
	t.Cleanup(func() {
		tb.Exec(context.Background(), v, "rm -rf /run/systemd/system/nats-server.service.d; systemctl daemon-reload; systemctl start nats-server")
	})
	nodeOut(c, t, v, `mkdir -p /run/systemd/system/nats-server.service.d && printf '[Service]\nRestart=no\n' > /run/systemd/system/nats-server.service.d/99-e2e-norestart.conf && systemctl daemon-reload && kill -9 "$(systemctl show -p MainPID --value nats-server)"; echo ok`)
	if err := testbed.Poll(c, 30*time.Second, func() error {
		if code, _, err := tb.HTTPGet(c, v, "/healthz"); err == nil {
			return fmt.Errorf("%s still answers /healthz %d", v, code)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	second := memberInventory(t, "member-2.toml", "write_deadline = \"5s\"\n", "")
	out, stderr, code := natsops(c, t, "-i", second, "deploy", "--check")
	if strings.Contains(out, "joins the cluster") || !strings.Contains(out, v+" down: the cluster (") || !strings.Contains(out, "a member of the cluster that is down (a peer of the JetStream meta group") {
		t.Fatalf("deploy --check with %s down: exit %d, want it named a member that is down, not a joining node\n%s%s", v, code, out, stderr)
	}
	out, stderr, code = natsops(c, t, "-i", second, "deploy", "--yes")
	want := "natsops restart --node " + v + " --force --yes"
	if code != 3 || !strings.Contains(stderr, "a member of the cluster is down: "+v+" (a peer of the JetStream meta group") || !strings.Contains(stderr, want) || strings.Contains(stderr+out, "empty the directory") || strings.Contains(out, "joins") {
		t.Fatalf("deploy --yes with %s down: exit %d, want 3 naming it and %q\n%s%s", v, code, want, out, stderr)
	}
	for _, n := range inv.Nodes {
		if n.Name != v && readVarz(c, t, n.Name).WriteDeadline != 2*time.Second {
			t.Errorf("%s: the refused deploy changed its write_deadline", n.Name)
		}
	}

	// The command the refusal names brings it back.
	if out, stderr, code := natsops(c, t, "-i", second, "restart", "--node", v, "--force", "--yes"); code != 0 {
		t.Fatalf("restart --node %s --force --yes: exit %d\n%s%s", v, code, out, stderr)
	}
	waitHealthy(c, t, inv)
	if out, stderr, code := natsops(c, t, "-i", second, "deploy", "--yes"); code != 0 {
		t.Fatalf("deploy --yes with %s back: exit %d\n%s%s", v, code, out, stderr)
	}
	waitHealthy(c, t, inv)
	for _, n := range inv.Nodes {
		if got := readVarz(c, t, n.Name).WriteDeadline; got != 5*time.Second {
			t.Errorf("%s: write_deadline %v after the deploy, want 5s", n.Name, got)
		}
	}
	// Every replica holds every message (each server's own /jsz).
	if err := testbed.Poll(c, time.Minute, func() error {
		for _, n := range inv.Nodes {
			_, body, err := tb.HTTPGet(c, n.Name, "/jsz?streams=true")
			if err != nil {
				return err
			}
			var jsz struct {
				Accounts []struct {
					Streams []struct {
						Name  string `json:"name"`
						State struct {
							Msgs uint64 `json:"messages"`
						} `json:"state"`
					} `json:"stream_detail"`
				} `json:"account_details"`
			}
			if err := json.Unmarshal(body, &jsz); err != nil {
				return err
			}
			found := false
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					if s.Name == "MEMBER" {
						found = true
						if s.State.Msgs != msgs {
							return fmt.Errorf("%s: MEMBER holds %d messages, want %d", n.Name, s.State.Msgs, msgs)
						}
					}
				}
			}
			if !found {
				return fmt.Errorf("%s holds no replica of MEMBER", n.Name)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestForeignListenerNamed (issue 23, item 3): nats-server stopped on a
// node and another process (a second nats-server whose client port is
// 8222: it greets with INFO) listening on its monitoring port: `natsops
// status` and `check` name the process holding the port (foreign-process,
// its pid and command line), `status --monitor-only` says it is not a
// nats-server monitoring endpoint, and no raw transport error or
// net/http log line reaches stderr.
func TestForeignListenerNamed(t *testing.T) {
	needCluster(t)
	c, v := ctx(t, 4*time.Minute), victim()
	invPath := filepath.Join(tb.Dir, "inventory.toml")
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		tb.Exec(c, v, "p=$(ss -ltnpH 'sport = :8222' | sed -n 's/.*pid=\\([0-9]*\\),.*/\\1/p' | head -n 1); [ -n \"$p\" ] && kill \"$p\"; systemctl start nats-server")
		if err := waitCluster(c, names(), 90*time.Second); err != nil {
			t.Error(err)
		}
	})
	nodeOut(c, t, v, "systemctl stop nats-server && (setsid /usr/sbin/nats-server -p 8222 -a 0.0.0.0 >/dev/null 2>&1 < /dev/null &) ; echo ok")
	if err := testbed.Poll(c, 30*time.Second, func() error {
		if out, err := tb.Exec(c, v, "ss -ltnH 'sport = :8222'"); err != nil || !strings.Contains(out, "8222") {
			return fmt.Errorf("nothing listens on %s:8222 yet: %v %s", v, err, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pid := nodeOut(c, t, v, "ss -ltnpH 'sport = :8222' | sed -n 's/.*pid=\\([0-9]*\\),.*/\\1/p' | head -n 1")

	clean := func(what, stderr string) {
		t.Helper()
		for _, bad := range []string{"malformed", "transport connection broken", "Unsolicited response"} {
			if strings.Contains(stderr, bad) {
				t.Errorf("%s: stderr has %q:\n%s", what, bad, stderr)
			}
		}
	}
	named := "port 8222 is held by another process, pid " + pid + " (/usr/sbin/nats-server -p 8222 -a 0.0.0.0"
	out, stderr, code := natsops(c, t, "-i", invPath, "status")
	if code != 3 || !strings.Contains(out, named) || !strings.Contains(out, "[foreign-process]") {
		t.Fatalf("status: exit %d, want 3 naming %q [foreign-process]\n%s%s", code, named, out, stderr)
	}
	clean("status", stderr)
	out, stderr, code = natsops(c, t, "-i", invPath, "status", "--monitor-only")
	if code != 3 || !strings.Contains(out, "is not a nats-server monitoring endpoint") || !strings.Contains(out, "a NATS client port answers") || !strings.Contains(out, "foreign-process") {
		t.Fatalf("status --monitor-only: exit %d, want 3 and 'not a nats-server monitoring endpoint'\n%s%s", code, out, stderr)
	}
	clean("status --monitor-only", stderr)
	out, stderr, code = natsops(c, t, "-i", invPath, "check")
	if code != 2 || !strings.Contains(out, "pid "+pid+" (/usr/sbin/nats-server -p 8222") {
		t.Fatalf("check: exit %d, want 2 (CRITICAL) naming pid %s\n%s%s", code, pid, out, stderr)
	}
	clean("check", stderr)
}

// TestDeployClusterRenameRefused (issue 23, item 4): a cluster rename,
// which nats-server refuses between old and new nodes, is refused before
// any node is touched (exit 1; every server's start and config as
// before), naming the procedure; the procedure it names (deploy
// --bootstrap --force: every node installed, then all restarted together)
// applies it and the cluster forms under its new name.
func TestDeployClusterRenameRefused(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	inv := installRendered(c, t, memberInventory(t, "rename-1.toml", "", ""))
	before := starts(waitHealthy(c, t, inv))
	confs := map[string]string{}
	for _, n := range inv.Nodes {
		confs[n.Name] = nodeOut(c, t, n.Name, "cat /etc/nats-server.conf")
	}
	renamed := memberInventory(t, "rename-2.toml", "", "renamed")
	out, stderr, code := natsops(c, t, "-i", renamed, "deploy", "--yes")
	for _, want := range []string{"this change cannot roll one node at a time", `cluster.name "testbed" -> "renamed"`, "server/route.go:3109", "natsops deploy --bootstrap --force --yes"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("deploy --yes of a rename: exit %d, want 1 and %q\n%s%s", code, want, out, stderr)
		}
	}
	after := starts(waitHealthy(c, t, inv))
	for _, n := range inv.Nodes {
		if !after[n.Name].Equal(before[n.Name]) {
			t.Errorf("%s restarted by the refused deploy (start %v -> %v)", n.Name, before[n.Name], after[n.Name])
		}
		if got := nodeOut(c, t, n.Name, "cat /etc/nats-server.conf"); got != confs[n.Name] {
			t.Errorf("%s: the refused deploy changed its config", n.Name)
		}
	}
	// The procedure the refusal names.
	if out, stderr, code := natsops(c, t, "-i", renamed, "deploy", "--bootstrap", "--force", "--yes"); code != 0 {
		t.Fatalf("deploy --bootstrap --force --yes: exit %d\n%s%s", code, out, stderr)
	}
	if err := testbed.Poll(c, 2*time.Minute, func() error {
		out, _, code := natsops(c, t, "-i", renamed, "status")
		if code != 0 {
			return fmt.Errorf("status after the rename: exit %d\n%s", code, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
