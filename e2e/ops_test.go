//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/service"
	"github.com/natsops/natsops/testbed"
)

// The incident operations' inventory: the restart inventory with a system
// account user (natsops speaks to the meta leader as it) and an
// application user (the test's traffic).
const (
	opsSysPassword = "sys-e2e-password-0123"
	opsAppPassword = "app-e2e-password-0123"
	opsAuth        = "\n[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:NATSOPS_E2E_SYS\"\n\n[[server.auth.users]]\nuser = \"app\"\npassword = \"env:NATSOPS_E2E_APP\"\n"
)

// opsInventory writes the restart inventory with the users, edited by
// edit (nil: as is), as name in the testbed's directory.
func opsInventory(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	t.Setenv("NATSOPS_E2E_SYS", opsSysPassword)
	t.Setenv("NATSOPS_E2E_APP", opsAppPassword)
	base, err := os.ReadFile(restartInventory(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(base) + opsAuth
	if edit != nil {
		s = edit(s)
	}
	p := filepath.Join(tb.Dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// opsCluster brings the testbed's cluster to inventory name (the users,
// edited by edit) running nats-server v2.15 (the incident operations'
// requests are 2.15's: Debian's 2.9.10, what the testbed starts with,
// has no $JS.API.SERVER.EVACUATE or META.RESCUE, and its step-down takes
// no preferred server): the inventory deployed on 2.9 first
// (installRendered, which puts the old configs back at the end), then
// service.binary set to the testbed's 2.15 build and deployed (--force:
// six minor versions). At the end, before the old configs are back, the
// 2.15 stores are wiped and the unit's ExecStart drop-in removed (as
// TestDeployUpgrade leaves them).
func opsCluster(c context.Context, t *testing.T, name string, edit func(string) string, on29 func(string, *cluster.Inventory)) (string, *cluster.Inventory) {
	t.Helper()
	invPath := opsInventory(t, name, edit)
	inv := installRendered(c, t, invPath)
	if on29 != nil {
		on29(invPath, inv)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range inv.Nodes {
			nodeOut(c, t, n.Name, "systemctl stop nats-server; rm -rf /var/lib/nats/jetstream/*; rm -f /etc/systemd/system/nats-server.service.d/"+service.ExecDropInName+"* /etc/systemd/system/nats-server.service.d/"+service.ContractDropInName+"*; systemctl daemon-reload; echo ok")
		}
	})
	src, err := os.ReadFile(invPath)
	if err != nil {
		t.Fatal(err)
	}
	upg := strings.Replace(string(src), `binary = "/usr/sbin/nats-server"`, `binary = "`+testbedBinary215+`"`, 1)
	if upg == string(src) {
		t.Fatal("the testbed inventory has no service.binary line to change")
	}
	if err := os.WriteFile(invPath, []byte(upg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := natsops(c, t, "-i", invPath, "deploy", "--yes", "--mode", "fast", "--force"); code != 0 {
		t.Fatalf("deploy of nats-server 2.15: exit %d\n%s%s", code, out, stderr)
	}
	for name, s := range waitHealthy(c, t, inv) {
		if !strings.HasPrefix(s.Varz.Version, "2.15.") {
			t.Fatalf("%s runs %s, want 2.15", name, s.Varz.Version)
		}
	}
	return invPath, inv
}

func appConnect(t *testing.T, inv *cluster.Inventory) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(clientURLs(inv), nats.UserInfo("app", opsAppPassword), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestStepDownTo: `natsops step-down --to NODE` moves the JetStream meta
// leader to the node named: every node's /jsz names it after, the
// result says from where to where, and natsops history records it.
func TestStepDownTo(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	invPath, inv := opsCluster(c, t, "ops-stepdown.toml", nil, nil)
	snaps := waitHealthy(c, t, inv)
	prev := health.MetaLeader(snaps)
	to := tb.Nodes[0].Name
	if prev == to {
		to = tb.Nodes[1].Name
	}
	out, stderr, code := natsops(c, t, "-i", invPath, "step-down", "--to", to, "--yes")
	if code != 0 || !strings.Contains(out, "the JetStream meta leader moved from "+prev+" to "+to) {
		t.Fatalf("step-down --to %s: exit %d\n%s%s", to, code, out, stderr)
	}
	for name, s := range snapshots(c, inv) {
		if s.Jsz == nil || s.Jsz.Meta == nil || s.Jsz.Meta.Leader != to {
			t.Errorf("%s's /jsz after the step-down: %+v, want leader %s", name, s.Jsz, to)
		}
	}
	out, stderr, code = natsops(c, t, "-i", invPath, "history", "--limit", "1", "-o", "json")
	if rs := records(t, out); code != 0 || len(rs) != 1 || rs[0].Command != "step-down" || rs[0].Outcome != "ok" {
		t.Errorf("history after the step-down: exit %d\n%s%s", code, out, stderr)
	}
}

// TestEvacuateR1UnderTraffic: a node holding an R1 stream is evacuated
// (`natsops evacuate --node N`) while a client publishes to that stream
// with acks: after it, N holds no replica, the stream is led by another
// node, and every acknowledged message is in it (its message count is
// at least the acks, and every acked sequence reads back).
func TestEvacuateR1UnderTraffic(t *testing.T) {
	needCluster(t)
	c := ctx(t, 8*time.Minute)
	// On Debian's 2.9.10 first: the server has no evacuate request, and
	// natsops says so, naming the version, and moves nothing.
	invPath, inv := opsCluster(c, t, "ops-evacuate.toml", nil, func(invPath string, inv *cluster.Inventory) {
		_, js := appConnect(t, inv)
		s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "EVAC29", Subjects: []string{"evac29.>"}, Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer js.DeleteStream(c, "EVAC29")
		holder := s.CachedInfo().Cluster.Leader
		out, stderr, code := natsops(c, t, "-i", invPath, "evacuate", "--node", holder, "--yes")
		if code != 1 || !strings.Contains(stderr, "no server answered $JS.API.SERVER.EVACUATE") || !strings.Contains(stderr, "runs nats-server 2.9.10") || !strings.Contains(stderr, "nothing was moved") {
			t.Errorf("evacuate on 2.9.10: exit %d, want 1 naming the version\n%s%s", code, out, stderr)
		}
	})
	_, js := appConnect(t, inv)
	_ = js.DeleteStream(c, "EVAC")
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "EVAC", Subjects: []string{"evac.>"}, Replicas: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), "EVAC") })
	holder := s.CachedInfo().Cluster.Leader
	// Some data before, then publishing throughout.
	for i := 0; i < 2000; i++ {
		if _, err := js.Publish(c, "evac.x", []byte(fmt.Sprintf("pre%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var acked []uint64
	sent, errs := 0, 0
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pc, cancel := context.WithTimeout(c, 2*time.Second)
			ack, err := js.Publish(pc, "evac.x", []byte(fmt.Sprintf("m%d", i)))
			cancel()
			mu.Lock()
			sent++
			if err != nil {
				errs++
			} else {
				acked = append(acked, ack.Sequence)
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	out, stderr, code := natsops(c, t, "-i", invPath, "evacuate", "--node", holder, "--yes")
	time.Sleep(time.Second)
	close(stop)
	<-done
	if code != 0 || !strings.Contains(out, holder+" holds no JetStream replica: moved $G/EVAC") {
		t.Fatalf("evacuate --node %s: exit %d\n%s%s", holder, code, out, stderr)
	}
	t.Logf("evacuate:\n%s", out)
	str, err := js.Stream(c, "EVAC")
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Leader == holder || info.Cluster.Leader == "" {
		t.Errorf("EVAC after the evacuation: cluster %+v, want led by a node other than %s", info.Cluster, holder)
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for _, seq := range acked {
		if _, err := str.GetMsg(c, seq); err != nil {
			lost++
			if lost < 5 {
				t.Errorf("acked sequence %d not readable: %v", seq, err)
			}
		}
	}
	total := uint64(2000 + len(acked))
	t.Logf("traffic: %d publishes during the evacuation, %d acked, %d not acked; the stream holds %d messages, %d acknowledged in all, %d acked lost", sent, len(acked), errs, info.State.Msgs, total, lost)
	if info.State.Msgs < total || lost > 0 {
		t.Errorf("the stream holds %d messages, %d were acknowledged; %d acked sequences lost", info.State.Msgs, total, lost)
	}
	if len(acked) == 0 {
		t.Error("no publish was acknowledged during the evacuation")
	}
	st, body, err := tb.HTTPGet(c, holder, "/jsz")
	var jsz struct {
		Streams int `json:"streams"`
	}
	if err != nil || st != 200 || json.Unmarshal(body, &jsz) != nil || jsz.Streams != 0 {
		t.Errorf("%s /jsz after the evacuation: %d %v, %d streams, want none\n%s", holder, st, err, jsz.Streams, body)
	}
}

// TestReplaceDeadNode: a node's host dies (its container killed) and a
// fresh host takes its name: the incident runbook (docs/incidents.md,
// "Replace a dead node"), every step a natsops command: provision and
// tune the new host, `natsops replace --node N` takes the dead server out
// of the meta group, `natsops deploy` starts the new host, which joins,
// and the R3 stream the dead node held a replica of has three current
// replicas again, the new host one of them, with every message.
func TestReplaceDeadNode(t *testing.T) {
	needCluster(t)
	c := ctx(t, 20*time.Minute)
	bare, err := tb.UpBare(c, 1, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testbed.DownBare(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// The runbook's node, literally (docs/docs_test.go matches the
	// commands of docs/incidents.md to this function's).
	v := "n3"
	if victim() != v {
		t.Fatalf("the testbed's last node is %s; this test replaces n3", victim())
	}
	// As TestDeployScaleOutIn: the stores wiped and every server started
	// together once the configs are back, for the tests after this one.
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
	invPath, inv := opsCluster(c, t, "ops-before.toml", nil, nil)
	// Runs first: the new host's server stops (it would stay routed to
	// the members whose old configs come back), and the dead host is back
	// for the restore of its config.
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := bare.Exec(c, "b1", "systemctl stop nats-server; systemctl disable nats-server"); err != nil {
			t.Error(err)
		}
		if err := tb.Start(c, v); err != nil {
			t.Error(err)
		}
		if err := tb.WaitSSH(c, v, time.Minute); err != nil {
			t.Error(err)
		}
	})
	// The new host: the inventory's n3 points at it, and provision
	// uploads the same 2.15 build there.
	srcs, _ := filepath.Glob(filepath.Join(tb.Dir, "nats-server-v*"))
	if len(srcs) != 1 {
		t.Fatalf("want the one nats-server build testbed/build.sh caches in %s, found %v", tb.Dir, srcs)
	}
	data, err := os.ReadFile(srcs[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	node, err := tb.Node(v)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(invPath)
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("name = %q\nhost = %q\n", v, node.Host)
	if !strings.Contains(string(before), old) {
		t.Fatalf("no %q in the inventory", old)
	}
	replaced := strings.Replace(string(before), old, fmt.Sprintf("name = %q\nhost = %q\n\n[node.ssh]\nknown_hosts = \"bare_known_hosts\"\n\n[node.service]\ninstall = \"binary\"\nbinary_source = %q\nbinary_sha256 = %q\n", v, bare.Nodes[0].Host, filepath.Base(srcs[0]), hex.EncodeToString(sum[:])), 1)
	newHost := filepath.Join(tb.Dir, "ops-replaced.toml")
	if err := os.WriteFile(newHost, []byte(replaced), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(newHost) })
	waitHealthy(c, t, inv)
	_, js := appConnect(t, inv)
	_ = js.DeleteStream(c, "KEEP")
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := 0; i < n; i++ {
		if _, err := js.Publish(c, "keep.x", []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The meta leader must survive: the dead node is not it.
	if l := health.MetaLeader(waitHealthy(c, t, inv)); l == v {
		if out, stderr, code := natsops(c, t, "-i", invPath, "step-down", "--to", tb.Nodes[0].Name, "--yes"); code != 0 {
			t.Fatalf("step-down away from %s: exit %d\n%s%s", v, code, out, stderr)
		}
	}
	if err := tb.Kill(c, v); err != nil {
		t.Fatal(err)
	}
	unreachable(c, t, v)

	// The runbook, in order (docs/incidents.md).
	if out, stderr, code := natsops(c, t, "-i", newHost, "provision", "--limit", "n3", "--yes"); code != 0 {
		t.Fatalf("provision the new %s: exit %d\n%s%s", v, code, out, stderr)
	}
	if out, stderr, code := natsops(c, t, "-i", newHost, "tune", "--limit", "n3", "--yes"); code != 0 && code != 4 {
		t.Fatalf("tune the new %s: exit %d\n%s%s", v, code, out, stderr)
	}
	out, stderr, code := natsops(c, t, "-i", newHost, "replace", "--node", "n3", "--yes")
	if code != 0 || !strings.Contains(out, v+" is out of the JetStream meta group") {
		t.Fatalf("replace --node %s: exit %d\n%s%s", v, code, out, stderr)
	}
	t.Logf("replace:\n%s", out)
	out, stderr, code = natsops(c, t, "-i", newHost, "deploy", "--timeout", "10m", "--yes")
	if code != 0 {
		t.Fatalf("deploy the new %s: exit %d\n%s%s", v, code, out, stderr)
	}
	t.Logf("deploy:\n%s", out)
	invNew, err := cluster.Load(newHost)
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(c, t, invNew)
	// Its replicas rebuilt: KEEP has three current replicas, the new
	// host's among them, with every message.
	_, js2 := appConnect(t, invNew)
	waitUntil(c, t, "KEEP with 3 current replicas, "+v+" among them", 5*time.Minute, func() (bool, string) {
		s, err := js2.Stream(c, "KEEP")
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(c)
		if err != nil || info.Cluster == nil {
			return false, fmt.Sprint(err)
		}
		peers := []string{info.Cluster.Leader}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false, r.Name + " not current"
			}
			peers = append(peers, r.Name)
		}
		has := false
		for _, p := range peers {
			has = has || p == v
		}
		return len(peers) == 3 && has && info.State.Msgs == n, fmt.Sprintf("peers %v, %d msgs", peers, info.State.Msgs)
	})
	if out, stderr, code := natsops(c, t, "-i", newHost, "check"); code != 0 {
		t.Errorf("check after the replacement: exit %d\n%s%s", code, out, stderr)
	}
}

// TestRescueLostQuorum: two of the three hosts die (their containers
// killed): n1 alone has no JetStream meta leader. `natsops rescue` naming
// only one of them is refused (nothing changed, exit 3); naming both,
// n1's quorum is lowered, n1 leads, and n2 and n3 are out of the meta
// group (n1's /jsz: it leads, no other peer).
func TestRescueLostQuorum(t *testing.T) {
	needCluster(t)
	c := ctx(t, 10*time.Minute)
	if strings.Join(names(), ",") != "n1,n2,n3" {
		t.Fatalf("the testbed's nodes are %v; this test loses n2 and n3", names())
	}
	// Last: every store wiped and the servers started together (the meta
	// group shrank to n1).
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	invPath, inv := opsCluster(c, t, "ops-rescue.toml", nil, nil)
	// First: the dead hosts back, for the restore of their configs.
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, n := range []string{"n2", "n3"} {
			if err := tb.Start(c, n); err != nil {
				t.Error(err)
			}
			if err := tb.WaitSSH(c, n, time.Minute); err != nil {
				t.Error(err)
			}
		}
	})
	_, js := appConnect(t, inv)
	_ = js.DeleteStream(c, "SURVIVE")
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "SURVIVE", Subjects: []string{"survive.>"}, Replicas: 1, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n2", "n3"} {
		if err := tb.Kill(c, n); err != nil {
			t.Fatal(err)
		}
		unreachable(c, t, n)
	}
	out, stderr, code := natsops(c, t, "-i", invPath, "rescue", "--lost", "n2", "--yes")
	if code != 3 || !strings.Contains(stderr, "does not match the nodes that do not answer") {
		t.Errorf("rescue --lost n2 with n2 and n3 dead: exit %d, want 3\n%s%s", code, out, stderr)
	}
	// n1 notices it lost its leader within an election timeout or so.
	waitUntil(c, t, "n1 without a meta leader", 2*time.Minute, func() (bool, string) {
		s := snapshots(c, inv)["n1"]
		if s.Jsz == nil || s.Jsz.Meta == nil {
			return false, "no /jsz"
		}
		return s.Jsz.Meta.Leader == "", "leader " + s.Jsz.Meta.Leader
	})
	out, stderr, code = natsops(c, t, "-i", invPath, "rescue", "--lost", "n2,n3", "--yes")
	if code != 0 || !strings.Contains(out, "led by n1; removed n2, n3") {
		t.Fatalf("rescue --lost n2,n3: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("rescue:\n%s", out)
	s := snapshots(c, inv)["n1"]
	if s.Jsz == nil || s.Jsz.Meta == nil || s.Jsz.Meta.Leader != "n1" || len(s.Jsz.Meta.Replicas) != 0 {
		t.Errorf("n1's /jsz after the rescue: %+v, want n1 leading alone", s.Jsz)
	}
}
