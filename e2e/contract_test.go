//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
)

const (
	unitDir = "/etc/systemd/system/nats-server.service.d"
	// distroTimeout models a distribution unit that ships a stop timeout
	// shorter than the lame duck (sorts before natsops's drop-ins).
	distroTimeout = unitDir + "/10-e2e-distro-timeout.conf"
	// adminOverride is an admin's drop-in sorting after natsops's.
	adminOverride = unitDir + "/99-e2e-admin.conf"
)

// contractInventory: a lame duck whose grace period alone (20s, while a
// client is connected) outlasts the distribution's 15s TimeoutStopSec.
func contractInventory(t *testing.T) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(tb.Dir, "inventory.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "[server]\n", "[server]\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = \"20s\"\n", 1)
	path := filepath.Join(tb.Dir, "contract-e2e.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// watcher is a nats.go client of one node that records, in order, the
// lame-duck notice, the disconnect and the server it reconnected to.
type watcher struct {
	nc     *nats.Conn
	mu     sync.Mutex
	events []string
}

func (w *watcher) add(e string) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
}

func (w *watcher) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.events...)
}

// watch connects to the inventory's nodes, first is the one it lands on
// (no randomizing: on a disconnect it tries the next one).
func watch(t *testing.T, inv *cluster.Inventory, first string) *watcher {
	t.Helper()
	urls := []string{}
	for _, n := range inv.Nodes {
		u := fmt.Sprintf("nats://%s:%d", n.RouteHost, *n.Server.Port)
		if n.Name == first {
			urls = append([]string{u}, urls...)
		} else {
			urls = append(urls, u)
		}
	}
	w := &watcher{}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Timeout(2*time.Second),
		nats.LameDuckModeHandler(func(*nats.Conn) { w.add("ldm") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { w.add(fmt.Sprintf("disconnect %v", err)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { w.add("reconnect " + nc.ConnectedUrl()) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if nc.ConnectedUrl() != urls[0] {
		t.Fatalf("connected to %s, want %s", nc.ConnectedUrl(), urls[0])
	}
	w.nc = nc
	return w
}

// restartAsAnyone runs a plain `systemctl restart` on node (what anyone,
// or a reboot, does, outside natsops) and returns the unit's journal of
// it and how long it took.
func restartAsAnyone(c context.Context, t *testing.T, node string) (string, time.Duration) {
	t.Helper()
	since := nodeOut(c, t, node, "date +%s")
	start := time.Now()
	nodeOut(c, t, node, "systemctl restart nats-server; echo ok")
	took := time.Since(start)
	// The journal lags a moment behind systemctl's return.
	time.Sleep(time.Second)
	return nodeOut(c, t, node, "journalctl -u nats-server --since @"+since+" --no-pager -o cat"), took
}

func dropIns(c context.Context, t *testing.T, node string) string {
	return nodeOut(c, t, node, "ls "+unitDir+" 2>/dev/null; systemctl show -p KillSignal -p TimeoutStopUSec -p ExecStop -p DropInPaths nats-server")
}

// TestUnitContract: after natsops deploy installs the stop contract, a
// plain `systemctl restart` of a node is a lame-duck stop (its client
// gets the notice before the connection closes, and moves to another
// node), and a lame duck longer than the distribution's TimeoutStopSec
// is not SIGKILLed; before it (Debian's unit) the same restart cuts the
// client with no notice, and an admin's drop-in that shortens the
// timeout again gets the server SIGKILLed mid lame duck, which tune
// --check reports.
func TestUnitContract(t *testing.T) {
	c := ctx(t, 10*time.Minute)
	ensureCluster(t)
	invPath := contractInventory(t)
	for _, n := range tb.Nodes {
		nodeOut(c, t, n.Name, "mkdir -p "+unitDir+" && printf '[Service]\\nTimeoutStopSec=15\\n' > "+distroTimeout+" && systemctl daemon-reload && echo ok")
	}
	inv := installRendered(c, t, invPath)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range tb.Nodes {
			nodeOut(c, t, n.Name, "rm -f "+distroTimeout+" "+adminOverride+" "+unitDir+"/"+service.ContractDropInName+"*; systemctl daemon-reload; echo ok")
		}
	})
	victim := inv.Nodes[0].Name
	victimURL := fmt.Sprintf("nats://%s:%d", inv.Nodes[0].RouteHost, *inv.Nodes[0].Server.Port)
	path := unitDir + "/" + service.ContractDropInName
	t.Logf("%s after deploy:\n%s", victim, dropIns(c, t, victim))
	if got := nodeOut(c, t, victim, "cat "+path); !strings.Contains(got, "KillSignal=SIGUSR2") || !strings.Contains(got, "TimeoutStopSec=60") {
		t.Fatalf("deploy did not install the contract:\n%s", got)
	}

	// Without it (Debian's unit, as before natsops): the restart cuts
	// the client, no lame-duck notice.
	for _, n := range tb.Nodes {
		nodeOut(c, t, n.Name, "rm -f "+path+"; systemctl daemon-reload; echo ok")
	}
	w := watch(t, inv, victim)
	journal, _ := restartAsAnyone(c, t, victim)
	waitHealthy(c, t, inv)
	if ev := w.seen(); len(ev) == 0 || ev[0] == "ldm" || !strings.HasPrefix(ev[0], "disconnect") {
		t.Errorf("Debian's unit: client events %q, want a disconnect with no lame-duck notice first\n%s", ev, journal)
	}
	w.nc.Close()

	// natsops shows the missing drop-in and puts it back with no restart.
	out, _, code := natsops(c, t, "-i", invPath, "deploy", "--check")
	if code != 2 || !strings.Contains(out, "+++ "+path) || !strings.Contains(out, "+KillSignal=SIGUSR2") || !strings.Contains(out, "+ExecStop=") || !strings.Contains(out, "+TimeoutStopSec=60") || !strings.Contains(out, "unit updated") {
		t.Fatalf("deploy --check: exit %d, want 2 and the contract's diff", code)
	}
	if out, _, code := natsops(c, t, "-i", invPath, "tune", "--check"); code == 1 || !strings.Contains(out, victim+": the stop contract is not installed: nats-server.service stops with KillSignal=SIGTERM, ExecStop /bin/kill -s SIGINT $MAINPID, TimeoutStopSec=15s") {
		t.Errorf("tune --check before the contract: exit %d (a missing contract is a note, not a failure)", code)
	}
	before := starts(snapshots(c, inv))
	if _, _, code := natsops(c, t, "-i", invPath, "deploy", "--yes"); code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	after := starts(snapshots(c, inv))
	for name, s := range before {
		if !after[name].Equal(s) {
			t.Errorf("%s was restarted to install the contract (start %s -> %s): daemon-reload is enough", name, s, after[name])
		}
	}
	if show := nodeOut(c, t, victim, "systemctl show -p KillSignal -p TimeoutStopUSec nats-server"); !strings.Contains(show, "TimeoutStopUSec=1min") {
		t.Errorf("systemd has, after deploy:\n%s", show)
	}
	out, stderr, code := natsops(c, t, "-i", invPath, "tune", "--check")
	if code == 1 || strings.Contains(stderr, "stop contract") || strings.Contains(stderr, "KillSignal") || strings.Contains(out, "stop contract is not installed") {
		t.Errorf("tune --check with the contract kept: exit %d", code)
	}

	// (a) and (b): a plain restart is a lame-duck stop that outlasts the
	// distribution's 15s, and systemd lets it finish.
	w = watch(t, inv, victim)
	journal, took := restartAsAnyone(c, t, victim)
	t.Logf("systemctl restart took %s; journal:\n%s", took, journal)
	waitHealthy(c, t, inv)
	if err := pollUntil(c, 30*time.Second, func() bool {
		ev := w.seen()
		return len(ev) > 0 && strings.HasPrefix(ev[len(ev)-1], "reconnect")
	}); err != nil {
		t.Fatalf("client did not reconnect: %q", w.seen())
	}
	ev := w.seen()
	if len(ev) < 3 || ev[0] != "ldm" || !strings.HasPrefix(ev[1], "disconnect") || ev[len(ev)-1] == "reconnect "+victimURL {
		t.Errorf("client events %q: want the lame-duck notice, then the disconnect, then another node", ev)
	}
	w.nc.Close()
	if !strings.Contains(journal, "Entering lame duck mode") {
		t.Errorf("no lame duck in the journal")
	}
	for _, bad := range []string{"Killing", "timed out", "code=killed", "Failed with result"} {
		if strings.Contains(journal, bad) {
			t.Errorf("journal says %q: the lame duck was cut short", bad)
		}
	}
	if !strings.Contains(journal, "Deactivated successfully") && !strings.Contains(journal, "Server Exiting") {
		t.Errorf("journal shows no clean stop")
	}
	if took < 15*time.Second {
		t.Errorf("the stop took %s, under the distribution's 15s TimeoutStopSec: this run proves nothing about it (the client's 20s grace period should hold it)", took)
	}

	// An admin's drop-in after natsops's shortens the timeout again:
	// tune --check names it, and a restart is SIGKILLed mid lame duck
	// (argo-events#3948): what the contract prevents.
	nodeOut(c, t, victim, "printf '[Service]\\nTimeoutStopSec=15\\n' > "+adminOverride+" && systemctl daemon-reload && echo ok")
	_, stderr, code = natsops(c, t, "-i", invPath, "tune", "--check")
	if code != 1 || !strings.Contains(stderr, victim+": systemd nats-server.service has TimeoutStopSec=15s, below lame_duck_duration 30s + 30s") || !strings.Contains(stderr, adminOverride+" overrides "+path) {
		t.Errorf("tune --check with the override: exit %d, want 1 naming %s", code, adminOverride)
	}
	w = watch(t, inv, victim)
	journal, took = restartAsAnyone(c, t, victim)
	t.Logf("with the override, systemctl restart took %s; journal:\n%s", took, journal)
	w.nc.Close()
	if !strings.Contains(journal, "Killing") && !strings.Contains(journal, "Failed with result 'timeout'") {
		t.Errorf("with TimeoutStopSec=15s the lame duck was not cut: the control does not show what the contract prevents")
	}
	nodeOut(c, t, victim, "rm -f "+adminOverride+"; systemctl daemon-reload; echo ok")
	waitHealthy(c, t, inv)
}
