//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
	"github.com/natsops/natsops/testbed"
)

// restartInventory writes the testbed inventory with a short lame duck
// (30 s is nats-server's minimum; with no clients it exits at once).
func restartInventory(t *testing.T) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(tb.Dir, "inventory.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "[server]\n", "[server]\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = \"1s\"\n", 1)
	path := filepath.Join(tb.Dir, "restart-e2e.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

func connectNode(c context.Context, t *testing.T, inv *cluster.Inventory, n *cluster.Node) remote.Host {
	t.Helper()
	h, err := remote.Connect(c, n, inv.Dir, remote.Env{Home: t.TempDir(), User: "nobody"}, remote.DialOptions{})
	if err != nil {
		t.Fatalf("%s: connect: %v", n.Name, err)
	}
	return h
}

// installRendered brings the testbed's cluster to the inventory's configs
// with natsops itself (`natsops deploy --yes`: a rolling deploy of the
// running cluster, or a bootstrap when it has never formed), and restores
// what the nodes had when the test ends.
func installRendered(c context.Context, t *testing.T, invPath string) *cluster.Inventory {
	t.Helper()
	inv, err := cluster.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	type old struct {
		data   []byte
		exists bool
	}
	olds := map[string]old{}
	for _, n := range inv.Nodes {
		h := connectNode(c, t, inv, n)
		data, exists, err := remote.ReadFile(c, h, n.Service.ConfigPath, true)
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
		olds[n.Name] = old{data, exists}
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, n := range inv.Nodes {
			// The stop contract this deploy installed goes too (an
			// inventory with another lame duck would find it stale).
			nodeOut(c, t, n.Name, "rm -f "+rollout.LockPath+" "+rollout.StatePath+"* /etc/systemd/system/nats-server.service.d/"+service.ContractDropInName+"*; systemctl daemon-reload; echo ok")
			o := olds[n.Name]
			if !o.exists {
				continue
			}
			h := connectNode(c, t, inv, n)
			if _, err := remote.Install(c, h, remote.File{Path: n.Service.ConfigPath, Data: o.data, Mode: 0o644}, true); err != nil {
				t.Error(err)
			}
			h.Close()
			nodeOut(c, t, n.Name, "systemctl restart "+n.Service.Unit+"; echo ok")
		}
		for _, n := range inv.Nodes {
			if err := tb.WaitHealthz(c, n.Name, time.Minute); err != nil {
				t.Error(err)
			}
		}
	})
	if out, stderr, code := natsops(c, t, "-i", invPath, "deploy", "--yes", "--mode", "fast"); code != 0 {
		t.Fatalf("natsops deploy of %s: exit %d\n%s%s", invPath, code, out, stderr)
	}
	waitHealthy(c, t, inv)
	return inv
}

func nodeURL(n *cluster.Node) string {
	return fmt.Sprintf("http://%s:%d", n.RouteHost, *n.Server.HTTPPort)
}

func snapshots(c context.Context, inv *cluster.Inventory) map[string]*monitor.Snapshot {
	mc := &monitor.Client{}
	out := map[string]*monitor.Snapshot{}
	for _, n := range inv.Nodes {
		out[n.Name] = mc.Snapshot(c, nodeURL(n))
	}
	monitor.NameRoutes(out)
	return out
}

func waitHealthy(c context.Context, t *testing.T, inv *cluster.Inventory) map[string]*monitor.Snapshot {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		snaps := snapshots(c, inv)
		rs := health.ClusterReady(inv, snaps)
		if len(rs) == 0 {
			return snaps
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not healthy after 90s: %v", rs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func starts(snaps map[string]*monitor.Snapshot) map[string]time.Time {
	out := map[string]time.Time{}
	for n, s := range snaps {
		if s.Varz != nil {
			out[n] = s.Varz.Start
		}
	}
	return out
}

type jsonEvent struct {
	rollout.Event
	OK      bool     `json:"ok"`
	Done    []string `json:"done"`
	Skipped []string `json:"skipped"`
	NotDone []string `json:"not_done"`
	Error   string   `json:"error"`
}

func parseEvents(t *testing.T, out string) []jsonEvent {
	t.Helper()
	var evs []jsonEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e jsonEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not one JSON event per line: %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// stopOrder is the order of the nodes' stop (or start) events.
func stopOrder(evs []jsonEvent) []string {
	var order []string
	for _, e := range evs {
		if e.Step == rollout.StepStart && e.Result == rollout.ResultOK {
			order = append(order, e.Node)
		}
	}
	return order
}

// publisher publishes to an R3 stream with acks until stopped, and a core
// subscriber records the longest gap between messages it sees.
type publisher struct {
	mu      sync.Mutex
	acked   []uint64
	sent    int
	errs    int
	lastMsg time.Time
	maxGap  time.Duration
}

// clientURLs is every node's client URL, comma-separated.
func clientURLs(inv *cluster.Inventory) string {
	var urls []string
	for _, n := range inv.Nodes {
		urls = append(urls, fmt.Sprintf("nats://%s:%d", n.RouteHost, *n.Server.Port))
	}
	return strings.Join(urls, ",")
}

func startTraffic(c context.Context, t *testing.T, inv *cluster.Inventory, extra ...nats.Option) (*publisher, func()) {
	t.Helper()
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.Timeout(2 * time.Second)}, extra...)
	nc, err := nats.Connect(clientURLs(inv), opts...)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := nats.Connect(clientURLs(inv), opts...)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_ = js.DeleteStream(c, "ROLL")
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "ROLL", Subjects: []string{"roll.>"}, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	p := &publisher{}
	if _, err := sc.Subscribe("roll.>", func(m *nats.Msg) {
		now := time.Now()
		p.mu.Lock()
		if !p.lastMsg.IsZero() && now.Sub(p.lastMsg) > p.maxGap {
			p.maxGap = now.Sub(p.lastMsg)
		}
		p.lastMsg = now
		p.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pc, cancel := context.WithTimeout(c, 2*time.Second)
			ack, err := js.Publish(pc, "roll.x", []byte(fmt.Sprintf("m%d", i)))
			cancel()
			p.mu.Lock()
			p.sent++
			if err != nil {
				p.errs++
			} else {
				p.acked = append(p.acked, ack.Sequence)
			}
			p.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { nc.Close(); sc.Close() })
	return p, func() {
		close(stop)
		<-done
		// Every acknowledged sequence must be readable.
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := js.Stream(c, "ROLL")
		if err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		lost := 0
		for _, seq := range p.acked {
			if _, err := s.GetMsg(c, seq); err != nil {
				lost++
				if lost < 5 {
					t.Errorf("acked sequence %d not readable: %v", seq, err)
				}
			}
		}
		t.Logf("traffic: %d publishes, %d acked, %d errors (not acked, client retried nothing), %d acked lost, longest subscriber gap %s", p.sent, len(p.acked), p.errs, lost, p.maxGap.Round(time.Millisecond))
		if lost > 0 {
			t.Errorf("%d acknowledged messages lost", lost)
		}
		if len(p.acked) == 0 {
			t.Error("no publish was acknowledged")
		}
		_ = js.DeleteStream(c, "ROLL")
	}
}

// TestRestartRolling: a graceful rolling restart of every node while a
// client publishes to an R3 stream with acks: every start time changes,
// the meta leader goes last, the cluster is healthy at the end, and no
// acknowledged message is lost.
func TestRestartRolling(t *testing.T) {
	needCluster(t)
	c := ctx(t, 8*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	before := waitHealthy(c, t, inv)
	leader := health.MetaLeader(before)
	if leader == "" {
		t.Fatal("no meta leader before the rollout")
	}

	// The dry run touches nothing.
	out, _, code := natsops(c, t, "-i", invPath, "restart", "--dry-run")
	if code != 0 || !strings.Contains(out, "SIGUSR2") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if got := starts(snapshots(c, inv)); fmt.Sprint(got) != fmt.Sprint(starts(before)) {
		t.Fatalf("dry run restarted something: %v -> %v", starts(before), got)
	}

	p, check := startTraffic(c, t, inv)
	time.Sleep(time.Second)
	began := time.Now()
	out, _, code = natsops(c, t, "-i", invPath, "restart", "--yes", "-o", "json")
	took := time.Since(began)
	time.Sleep(time.Second)
	check()
	if code != 0 {
		t.Fatalf("restart exit %d", code)
	}
	evs := parseEvents(t, out)
	order := stopOrder(evs)
	if len(order) != len(inv.Nodes) || order[len(order)-1] != leader {
		t.Errorf("order %v: want every node once and the meta leader %s last", order, leader)
	}
	after := waitHealthy(c, t, inv)
	for n, s := range starts(before) {
		if !starts(after)[n].After(s) {
			t.Errorf("%s: start time %s did not change", n, s)
		}
	}
	if last := evs[len(evs)-1]; !last.OK || len(last.Done) != len(inv.Nodes) {
		t.Errorf("last line %+v: want ok with every node done", last)
	}
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "ls "+rollout.StateDir+" 2>/dev/null | tr '\\n' ' '; echo"); got != "" {
			t.Errorf("%s: lock or state left behind: %s", n.Name, got)
		}
	}
	p.mu.Lock()
	t.Logf("graceful rolling restart of %d nodes under load: %s (gap %s)", len(inv.Nodes), took.Round(time.Millisecond), p.maxGap.Round(time.Millisecond))
	p.mu.Unlock()
}

// TestRestartStoppedNode: a node stopped before the rollout makes
// preflight refuse, naming it; --node n3 --force starts it alone.
func TestRestartStoppedNode(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	v := victim()
	before := starts(waitHealthy(c, t, inv))
	nodeOut(c, t, v, "systemctl stop nats-server; echo ok")

	_, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 3 || !strings.Contains(stderr, "preflight") || !strings.Contains(stderr, v+": ") {
		t.Fatalf("preflight with %s stopped: exit %d, want 3 naming %s:\n%s", v, code, v, stderr)
	}
	// Refused: the others were not touched.
	now := starts(snapshots(c, inv))
	for _, n := range others(v) {
		if !now[n].Equal(before[n]) {
			t.Errorf("%s was restarted although preflight refused", n)
		}
	}

	out, _, code := natsops(c, t, "-i", invPath, "restart", "--node", v, "--force", "--yes")
	if code != 0 || !strings.Contains(out, "--force: skipped preflight check") {
		t.Fatalf("--node %s --force: exit %d\n%s", v, code, out)
	}
	after := starts(waitHealthy(c, t, inv))
	for _, n := range others(v) {
		if !after[n].Equal(before[n]) {
			t.Errorf("%s was restarted by --node %s", n, v)
		}
	}
	if !after[v].After(before[v]) {
		t.Errorf("%s: not started anew", v)
	}
}

// TestRestartLock: while one rollout runs, a second is refused naming the
// holder; a stale lock is reported and broken only with --break-lock.
func TestRestartLock(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)

	// Two at once: start one, wait until it holds the lock, start another.
	first := make(chan int, 1)
	var firstOut string
	go func() {
		out, _, code := natsops(c, t, "-i", invPath, "restart", "--yes")
		firstOut = out
		first <- code
	}()
	if err := pollUntil(c, 30*time.Second, func() bool {
		out, _ := tb.Exec(c, inv.Nodes[0].Name, "cat "+rollout.LockPath+" 2>/dev/null")
		return strings.Contains(out, `"owner"`)
	}); err != nil {
		t.Fatal("the first rollout never took the lock")
	}
	holder := nodeOut(c, t, inv.Nodes[0].Name, "cat "+rollout.LockPath)
	var li rollout.LockInfo
	if err := json.Unmarshal([]byte(holder), &li); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 1 || !strings.Contains(stderr, "another rollout holds the lock") || !strings.Contains(stderr, li.Owner) || !strings.Contains(stderr, fmt.Sprintf("pid %d", li.PID)) {
		t.Errorf("second rollout: exit %d, want 1 naming holder %s pid %d:\n%s", code, li.Owner, li.PID, stderr)
	}
	if code := <-first; code != 0 {
		t.Fatalf("first rollout: exit %d\n%s", code, firstOut)
	}
	waitHealthy(c, t, inv)

	// A stale lock (a dead rollout's) is reported with its owner and
	// broken only on request.
	stale := `{"id":"dead01","owner":"alice@laptop","pid":4242,"started":"2020-01-01T00:00:00Z"}`
	nodeOut(c, t, inv.Nodes[1].Name, "mkdir -p "+rollout.StateDir+" && printf '%s\\n' '"+stale+"' > "+rollout.LockPath+"; echo ok")
	before := starts(snapshots(c, inv))
	_, stderr, code = natsops(c, t, "-i", invPath, "restart", "--yes")
	if code != 1 || !strings.Contains(stderr, "stale") || !strings.Contains(stderr, "alice@laptop") || !strings.Contains(stderr, "--break-lock") {
		t.Errorf("stale lock: exit %d, want 1 naming alice@laptop and --break-lock:\n%s", code, stderr)
	}
	if got := starts(snapshots(c, inv)); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Error("a node was restarted although the lock was held")
	}
	if got := nodeOut(c, t, inv.Nodes[0].Name, "test -e "+rollout.LockPath+" && echo left || echo gone"); got != "gone" {
		t.Error("the refused rollout left its own lock on another node")
	}
	if _, _, code := natsops(c, t, "-i", invPath, "restart", "--yes", "--break-lock", "--mode", "fast"); code != 0 {
		t.Fatalf("--break-lock: exit %d", code)
	}
	waitHealthy(c, t, inv)
}

func pollUntil(c context.Context, d time.Duration, f func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return nil
		}
		select {
		case <-c.Done():
			return c.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("timeout after %s", d)
}

// TestRestartPidfile: the seed's way (`nats-server -c nats.conf &`, no
// systemd): natsops stops through the pid file (--signal ldm) and starts
// with the inventory's start command, one node at a time.
func TestRestartPidfile(t *testing.T) {
	needCluster(t)
	c := ctx(t, 6*time.Minute)
	base := restartInventory(t)
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	const pidFile = "/var/lib/nats/nats.pid"
	const start = "runuser -u nats -- /usr/sbin/nats-server -c /etc/nats-server.conf"
	s := strings.Replace(string(data), `manager = "systemd"`, `manager = "pidfile"`+"\nstart_command = \""+start+"\"", 1)
	s = strings.Replace(s, "[server]\n", "[server]\npid_file = \""+pidFile+"\"\nlog.file = \"/var/log/nats/nats.log\"\n", 1)
	invPath := filepath.Join(tb.Dir, "restart-pidfile-e2e.toml")
	if err := os.WriteFile(invPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(invPath) })
	inv, err := cluster.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	// The hosts as the seed ran them: a hand-written config (the
	// testbed's cluster, with a pid file) and the server started by hand,
	// no systemd. natsops then adopts them with a rolling deploy.
	orig := map[string]string{}
	for _, n := range inv.Nodes {
		orig[n.Name] = nodeOut(c, t, n.Name, "cat /etc/nats-server.conf")
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range inv.Nodes {
			nodeOut(c, t, n.Name, "/usr/sbin/nats-server --signal quit="+pidFile+" 2>/dev/null; for i in $(seq 100); do pgrep -x nats-server >/dev/null || break; sleep 0.1; done; rm -f "+rollout.LockPath+" "+rollout.StatePath+"*; echo ok")
		}
		for _, n := range inv.Nodes {
			if _, err := tb.RunInput(c, n.Name, testbed.User, "sudo -n tee /etc/nats-server.conf >/dev/null && sudo -n systemctl start nats-server", []byte(orig[n.Name]+"\n")); err != nil {
				t.Error(err)
			}
		}
		for _, n := range inv.Nodes {
			if err := tb.WaitHealthz(c, n.Name, time.Minute); err != nil {
				t.Error(err)
			}
		}
	})
	seed := "systemctl stop nats-server; grep -q '^pid_file' /etc/nats-server.conf || echo 'pid_file: \"" + pidFile + "\"' >> /etc/nats-server.conf; setsid nohup " + start + " >/dev/null 2>&1 </dev/null & echo ok"
	for _, n := range inv.Nodes {
		nodeOut(c, t, n.Name, seed)
	}
	waitHealthy(c, t, inv)
	if out, stderr, code := natsops(c, t, "-i", invPath, "deploy", "--yes", "--mode", "fast"); code != 0 {
		t.Fatalf("natsops deploy adopting the hand-run servers: exit %d\n%s%s", code, out, stderr)
	}
	before := starts(waitHealthy(c, t, inv))

	out, _, code := natsops(c, t, "-i", invPath, "restart", "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("pidfile restart: exit %d", code)
	}
	evs := parseEvents(t, out)
	for _, e := range evs {
		if e.Step == rollout.StepStop && e.Result == rollout.ResultOK && !strings.Contains(e.Detail, "graceful") {
			t.Errorf("stop event %+v", e)
		}
	}
	after := starts(waitHealthy(c, t, inv))
	for n, s := range before {
		if !after[n].After(s) {
			t.Errorf("%s: start time %s did not change", n, s)
		}
	}
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "systemctl is-active nats-server || true"); got == "active" {
			t.Errorf("%s: natsops started the systemd unit in pidfile mode", n.Name)
		}
		if got := nodeOut(c, t, n.Name, "test \"$(cat "+pidFile+")\" = \"$(pgrep -x nats-server)\" && echo same || echo differ"); got != "same" {
			t.Errorf("%s: pid file does not name the one running nats-server", n.Name)
		}
	}
}

// TestRestartStopsAtFailure: the second node of the order cannot start:
// the rollout stops there with its journal, exit non-zero, the first node
// restarted, the last (the meta leader) untouched.
func TestRestartStopsAtFailure(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	snaps := waitHealthy(c, t, inv)
	before := starts(snaps)
	leader := health.MetaLeader(snaps)
	var order []string
	for _, n := range inv.Nodes {
		if n.Name != leader {
			order = append(order, n.Name)
		}
	}
	order = append(order, leader)
	bad := order[1]
	if err := tb.BreakNATSStart(c, bad); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tb.FixNATSStart(c, bad); err != nil {
			t.Error(err)
		}
		nodeOut(c, t, bad, "systemctl start nats-server; echo ok")
	})

	out, stderr, code := natsops(c, t, "-i", invPath, "restart", "--yes", "--mode", "fast")
	if code == 0 {
		t.Fatal("restart succeeded with a node that cannot start")
	}
	if !strings.Contains(stderr, bad+": start failed") || !strings.Contains(stderr, "later nodes were not touched") || !strings.Contains(stderr, bad+": last log lines:") || !strings.Contains(stderr, "start refused") {
		t.Errorf("stderr does not name %s's failed start, the stop and its log:\n%s", bad, stderr)
	}
	if !strings.Contains(out, "done: "+order[0]+"; failed: "+bad+" (") || !strings.Contains(out, "; not reached: "+leader) {
		t.Errorf("stdout does not say what was and was not done:\n%s", out)
	}
	now := starts(snapshots(c, inv))
	if !now[order[0]].After(before[order[0]]) {
		t.Errorf("%s (first) was not restarted", order[0])
	}
	if !now[leader].Equal(before[leader]) {
		t.Errorf("%s (after the failure) was touched", leader)
	}
	if got := nodeOut(c, t, inv.Nodes[0].Name, "ls "+rollout.StateDir+" | tr '\\n' ' '"); !strings.Contains(got, "rollout.state") || strings.Contains(got, "rollout.lock") {
		t.Errorf("after a failure: want the state kept for resume and the lock released, got %q", got)
	}

	// Fixed and rerun: the first node is skipped, the rest restarted.
	if err := tb.FixNATSStart(c, bad); err != nil {
		t.Fatal(err)
	}
	out, _, code = natsops(c, t, "-i", invPath, "restart", "--yes", "--mode", "fast", "--force")
	if code != 0 || !strings.Contains(out, "skipped, already restarted: "+order[0]) {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	after := starts(waitHealthy(c, t, inv))
	if !after[bad].After(before[bad]) || !after[leader].After(before[leader]) || !after[order[0]].Equal(now[order[0]]) {
		t.Errorf("resume: starts %v -> %v -> %v", before, now, after)
	}
}

// TestRestartInterrupt: Ctrl-C (SIGINT) during a rolling restart stops it
// between nodes with exit 5; the node in hand is still brought back, so
// every node serves; the lock is released; a rerun resumes, skipping the
// nodes the interrupted rollout already restarted.
func TestRestartInterrupt(t *testing.T) {
	needCluster(t)
	c := ctx(t, 5*time.Minute)
	invPath := restartInventory(t)
	inv := installRendered(c, t, invPath)
	before := starts(waitHealthy(c, t, inv))

	bin, err := natsopsBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(c, bin, "-i", invPath, "restart", "--yes", "--mode", "fast", "-o", "json")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sent := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var e jsonEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && !sent && e.Step == rollout.StepSteady && e.Result == rollout.ResultOK {
			// The first node is back and stayed ready: interrupt as an
			// operator would.
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	out := strings.Join(lines, "\n")
	t.Logf("interrupted restart: exit %d\n%s\n%s", code, out, stderr.String())
	if !sent {
		t.Fatal("no node became ready: nothing to interrupt")
	}
	evs := parseEvents(t, out)
	last := evs[len(evs)-1]
	if code != 5 || last.OK || !strings.Contains(last.Error, "interrupted") || len(last.Done) == 0 || len(last.Done) == len(inv.Nodes) {
		t.Fatalf("exit %d, result %+v: want exit 5, interrupted, some nodes done and some not", code, last)
	}
	// Every node serves, none was left down; no lock left.
	mid := starts(waitHealthy(c, t, inv))
	for _, n := range inv.Nodes {
		if got := nodeOut(c, t, n.Name, "test -e "+rollout.LockPath+" && echo locked || echo free"); got != "free" {
			t.Errorf("%s: lock left after Ctrl-C", n.Name)
		}
	}

	out, _, code = natsops(c, t, "-i", invPath, "restart", "--yes", "--mode", "fast", "-o", "json")
	if code != 0 {
		t.Fatalf("rerun: exit %d", code)
	}
	res := parseEvents(t, out)
	fin := res[len(res)-1]
	for _, n := range last.Done {
		if !slices.Contains(fin.Skipped, n) {
			t.Errorf("rerun restarted %s again (skipped %v), want it skipped as done by the interrupted rollout", n, fin.Skipped)
		}
	}
	after := starts(waitHealthy(c, t, inv))
	for _, n := range inv.Nodes {
		if !after[n.Name].After(before[n.Name]) {
			t.Errorf("%s: never restarted (start %s)", n.Name, after[n.Name])
		}
		if slices.Contains(last.Done, n.Name) && !after[n.Name].Equal(mid[n.Name]) {
			t.Errorf("%s restarted twice", n.Name)
		}
	}
}
