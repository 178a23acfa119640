//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsops/natsops/testbed"
)

// The estate tests start the estate's own nodes (testbed.UpEstate:
// east-1,2 and west-1,2 joined by gateways, edge-1 a leaf node of east)
// fresh beside the testbed, each with Debian's standalone nats-server,
// and remove them at the end: n1..n3 are not touched.

func upEstate(c context.Context, t *testing.T) *testbed.Estate {
	t.Helper()
	t0 := time.Now()
	est, err := tb.UpEstate(c, t.Logf)
	t.Cleanup(func() {
		if err := testbed.DownEstate(context.Background(), tb.Dir); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("estate up in %s", time.Since(t0).Round(100*time.Millisecond))
	// Runs before DownEstate: what each node said when a test failed.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range est.Nodes {
			for _, path := range []string{"/healthz", "/jsz", "/gatewayz", "/leafz"} {
				code, body, err := est.HTTPGet(c, n.Name, path)
				t.Logf("%s %s: %d %v\n%s", n.Name, path, code, err, body)
			}
			out, _ := est.Exec(c, n.Name, "journalctl -u nats-server --no-pager -n 40")
			t.Logf("%s journal:\n%s", n.Name, out)
		}
	})
	return est
}

// estateURLs are the client URLs of the cluster's nodes.
func estateURLs(est *testbed.Estate, cluster string) string {
	var urls []string
	for _, n := range est.ClusterNodes(cluster) {
		urls = append(urls, "nats://"+n.Host+":4222")
	}
	return strings.Join(urls, ",")
}

// estateConnect connects to urls as the estate's user (AppUser or
// SysUser), reconnecting for ever.
func estateConnect(t *testing.T, est *testbed.Estate, urls, user string) *nats.Conn {
	t.Helper()
	pw, err := est.Secret(user)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(urls, nats.UserInfo(user, pw), nats.Name("e2e-"+user),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect %s as %s: %v", urls, user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// estateStatus polls `natsops status --cluster NAME` until it exits 0
// (bounded); an exit other than 0 or 3 (unhealthy, not yet) fails at once.
func estateStatus(c context.Context, t *testing.T, inv, cluster string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, stderr, code := natsops(c, t, "-i", inv, "status", "--cluster", cluster)
		switch {
		case code == 0:
			return out
		case code != 3:
			t.Fatalf("status --cluster %s: exit %d, want 0 (or 3 while it settles)\n%s%s", cluster, code, out, stderr)
		case time.Now().After(deadline):
			t.Fatalf("status --cluster %s: still exit 3 after %s\n%s%s", cluster, within, out, stderr)
		}
		time.Sleep(time.Second)
	}
}

// respond answers requests on subject with the responder's name.
func respond(t *testing.T, nc *nats.Conn, subject, name string) {
	t.Helper()
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) { m.Respond([]byte(name + ":" + string(m.Data))) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// requestAll sends n requests on subject from nc, each answered by want
// (a reply is the ack), after waiting (bounded) for the first answer:
// interest crosses gateways and leaf connections asynchronously.
func requestAll(c context.Context, t *testing.T, nc *nats.Conn, subject, want string, n int) {
	t.Helper()
	t0 := time.Now()
	if err := testbed.Poll(c, 30*time.Second, func() error {
		m, err := nc.Request(subject, []byte("probe"), time.Second)
		if err != nil {
			return err
		}
		if got := string(m.Data); got != want+":probe" {
			return fmt.Errorf("answered %q, want %s", got, want)
		}
		return nil
	}); err != nil {
		t.Fatalf("request %s from %s: no answer from %s within 30s: %v", subject, nc.ConnectedServerName(), want, err)
	}
	wait := time.Since(t0)
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("m%d", i)
		m, err := nc.Request(subject, []byte(body), 2*time.Second)
		if err != nil {
			t.Fatalf("request %d on %s from %s: %v", i, subject, nc.ConnectedServerName(), err)
		}
		if got := string(m.Data); got != want+":"+body {
			t.Fatalf("request %d on %s: answered %q, want %s", i, subject, got, want+":"+body)
		}
	}
	t.Logf("%s: %s -> %s: first answer after %s, then %d of %d acknowledged", subject, nc.ConnectedServerName(), want, wait.Round(time.Millisecond), n, n)
}

type gatewayz struct {
	Name             string `json:"name"`
	OutboundGateways map[string]struct {
		Connection *struct {
			Name string `json:"name"`
		} `json:"connection"`
	} `json:"outbound_gateways"`
	InboundGateways map[string][]json.RawMessage `json:"inbound_gateways"`
}

func readGatewayz(c context.Context, est *testbed.Estate, node string) (gatewayz, error) {
	var gz gatewayz
	code, body, err := est.HTTPGet(c, node, "/gatewayz")
	if err != nil {
		return gz, err
	}
	if code != 200 {
		return gz, fmt.Errorf("%s /gatewayz: %d", node, code)
	}
	return gz, json.Unmarshal(body, &gz)
}

// outboundTo reports whether node has an outbound gateway connection to
// cluster.
func outboundTo(c context.Context, est *testbed.Estate, node, cluster string) (bool, error) {
	gz, err := readGatewayz(c, est, node)
	if err != nil {
		return false, err
	}
	og, ok := gz.OutboundGateways[cluster]
	return ok && og.Connection != nil, nil
}

// leafAccounts is the account of every leaf connection node lists.
func leafAccounts(c context.Context, est *testbed.Estate, node string) ([]string, error) {
	code, body, err := est.HTTPGet(c, node, "/leafz")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("%s /leafz: %d", node, code)
	}
	var lz struct {
		Leafs []struct {
			Account string `json:"account"`
		} `json:"leafs"`
	}
	if err := json.Unmarshal(body, &lz); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lz.Leafs {
		out = append(out, l.Account)
	}
	return out, nil
}

// TestEstateSupercluster: the estate's three clusters deployed one at a
// time by natsops from Debian's standalone servers (each deploy
// bootstraps a cluster that never formed, with gateway URLs to the other
// hub's nodes), healthy by natsops status; a message published on east
// reaches west through the gateways and the edge leaf node through its
// leaf connection, in the bound account; a rolling restart of west under
// cross-cluster requests loses none; a west node's gateways cut are
// visible to its clients, and healed; so is edge's leaf connection cut.
func TestEstateSupercluster(t *testing.T) {
	c := ctx(t, 8*time.Minute)
	t0 := time.Now()
	est := upEstate(c, t)
	// The estate as generated: JetStream on both hubs (one meta group
	// across the supercluster) and on edge in its own domain.
	inv := filepath.Join(tb.Dir, "estate-e2e.toml")
	if err := est.WriteInventory(inv, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(inv) })

	// The whole estate from Debian's standalone configs in one deploy:
	// one cluster at a time, the leaf first; the first hub bootstraps,
	// the second joins the JetStream meta group the first one formed, one
	// node at a time (bootstrapped together it would elect a leader of
	// its own before its gateways connect).
	t1 := time.Now()
	out, stderr, code := natsops(c, t, "-i", inv, "deploy", "--yes")
	if code != 0 {
		t.Fatalf("deploy of the estate: exit %d, want 0\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"== cluster edge (1 of 3: edge -> east -> west) ==", "== cluster west (3 of 3", "they join it one at a time"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy of the estate does not say %q:\n%s", want, out)
		}
	}
	t.Logf("deploy of the estate: %s", time.Since(t1).Round(100*time.Millisecond))
	for _, cl := range []string{"east", "west", "edge"} {
		estateStatus(c, t, inv, cl, time.Minute)
	}
	for _, cl := range []string{"east", "west", "edge"} {
		if out, stderr, code := natsops(c, t, "-i", inv, "deploy", "--cluster", cl, "--check"); code != 0 {
			t.Errorf("deploy --cluster %s --check after deploying: exit %d, want 0\n%s%s", cl, code, out, stderr)
		}
	}
	t.Logf("estate deployed and healthy %s after the start", time.Since(t0).Round(100*time.Millisecond))

	// Every hub node has its outbound gateway to the other hub; east
	// lists edge's leaf connection, bound to APP.
	for _, n := range est.Nodes {
		other := map[string]string{"east": "west", "west": "east"}[n.Cluster]
		if other == "" {
			continue
		}
		if err := testbed.Poll(c, 30*time.Second, func() error {
			ok, err := outboundTo(c, est, n.Name, other)
			if err == nil && !ok {
				err = fmt.Errorf("%s has no outbound gateway to %s", n.Name, other)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var leafs []string
	for _, n := range est.ClusterNodes("east") {
		accs, err := leafAccounts(c, est, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		leafs = append(leafs, accs...)
	}
	if strings.Join(leafs, ",") != testbed.AppAccount {
		t.Errorf("east's leaf connections are in accounts %v, want edge's one in %s", leafs, testbed.AppAccount)
	}

	// east -> west through the gateways, east -> edge through the leaf
	// connection: a reply is the acknowledgement.
	eastNC := estateConnect(t, est, estateURLs(est, "east"), testbed.AppUser)
	westNC := estateConnect(t, est, estateURLs(est, "west"), testbed.AppUser)
	edgeNC := estateConnect(t, est, estateURLs(est, "edge"), testbed.AppUser)
	respond(t, westNC, "estate.west.hello", "west")
	respond(t, edgeNC, "estate.edge.hello", "edge")
	respond(t, eastNC, "estate.east.hello", "east")
	requestAll(c, t, eastNC, "estate.west.hello", "west", 50)
	requestAll(c, t, eastNC, "estate.edge.hello", "edge", 50)
	// The leaf connection carries APP only: the same subject in the
	// system account on east has no responder.
	sysNC := estateConnect(t, est, estateURLs(est, "east"), testbed.SysUser)
	if _, err := sysNC.Request("estate.edge.hello", []byte("x"), time.Second); !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("a request in %s reached edge's %s responder: %v", testbed.SysAccount, testbed.AppAccount, err)
	}
	// edge's JetStream is its own domain.
	if ai, err := mustJS(t, edgeNC).AccountInfo(c); err != nil || ai.Domain != testbed.EdgeDomain {
		t.Errorf("edge's JetStream account info: domain %q, %v; want %q", domainOf(ai), err, testbed.EdgeDomain)
	}

	restartWestUnderTraffic(c, t, inv, eastNC, westNC)
	cutWestGateways(c, t, est, inv, eastNC)
	cutEdgeLeaf(c, t, est, inv, eastNC)
	badGatewayChange(c, t, inv)
	t.Logf("TestEstateSupercluster: %s in all", time.Since(t0).Round(100*time.Millisecond))
}

// badGatewayChange: a gateway change that validates everywhere but cannot
// run (west's gateway on port 22, sshd's) is rolled back on its first
// node: deploy exits 1 saying so, the other west node is not touched, and
// west is healthy again with its old config.
func badGatewayChange(c context.Context, t *testing.T, inv string) {
	t.Helper()
	data, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "name = \"west\"\n", "name = \"west\"\n\n[clusters.gateway]\nport = 22\n", 1)
	if bad == string(data) {
		t.Fatal("no west cluster entry to change")
	}
	badInv := filepath.Join(filepath.Dir(inv), "estate-e2e-bad-gateway.toml")
	if err := os.WriteFile(badInv, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(badInv) })
	out, stderr, code := natsops(c, t, "-i", badInv, "deploy", "--cluster", "west", "--yes")
	if code != 1 {
		t.Fatalf("deploy of west's gateway on port 22: exit %d, want 1 (rolled back)\n%s%s", code, out, stderr)
	}
	rolled := regexp.MustCompile(`rolled back: (west-\d) runs its previous config again and serves`).FindStringSubmatch(out + stderr)
	if rolled == nil {
		t.Fatalf("deploy does not say the first node was rolled back:\n%s%s", out, stderr)
	}
	other := map[string]string{"west-1": "west-2", "west-2": "west-1"}[rolled[1]]
	if strings.Contains(out, other+"     stop") || strings.Contains(out, other+" install") {
		t.Errorf("%s was touched after %s failed:\n%s", other, rolled[1], out)
	}
	t.Logf("bad gateway change: %s rolled back, %s untouched", rolled[1], other)
	estateStatus(c, t, inv, "west", time.Minute)
	if out, stderr, code := natsops(c, t, "-i", inv, "deploy", "--cluster", "west", "--check"); code != 0 {
		t.Errorf("deploy --check after the rollback: exit %d, want 0 (the old config is back)\n%s%s", code, out, stderr)
	}
}

func mustJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func domainOf(ai *jetstream.AccountInfo) string {
	if ai == nil {
		return ""
	}
	return ai.Domain
}

// restartWestUnderTraffic: `natsops restart` of the whole estate (edge,
// then the hubs one at a time) while a
// client on east sends requests (core NATS: a reply is the ack) to a
// responder on west, through the gateways, retrying each until it is
// answered. No message is given up on, every acknowledged one was
// received on west, and the longest a message waited for its ack is the
// outage clients saw.
func restartWestUnderTraffic(c context.Context, t *testing.T, inv string, eastNC, westNC *nats.Conn) {
	t.Helper()
	var mu sync.Mutex
	received := map[string]bool{}
	if _, err := westNC.Subscribe("estate.rr", func(m *nats.Msg) {
		mu.Lock()
		received[string(m.Data)] = true
		mu.Unlock()
		m.Respond([]byte("west:" + string(m.Data)))
	}); err != nil {
		t.Fatal(err)
	}
	if err := westNC.Flush(); err != nil {
		t.Fatal(err)
	}
	requestAll(c, t, eastNC, "estate.rr", "west", 1) // interest has crossed the gateways
	var (
		acked             []string
		lost              []string
		attempts, retries int
		longest           time.Duration
	)
	const giveUp = 30 * time.Second
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf("r%d", i)
			t0 := time.Now()
			for {
				m, err := eastNC.Request("estate.rr", []byte(body), time.Second)
				mu.Lock()
				attempts++
				ok := err == nil && string(m.Data) == "west:"+body
				switch {
				case ok:
					acked = append(acked, body)
					longest = max(longest, time.Since(t0))
				case time.Since(t0) > giveUp:
					lost = append(lost, body)
				default:
					retries++
				}
				mu.Unlock()
				if ok || time.Since(t0) > giveUp {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			close(stop)
			<-done
		}
	})
	time.Sleep(time.Second)
	t1 := time.Now()
	out, stderr, code := natsops(c, t, "-i", inv, "restart", "--yes")
	took := time.Since(t1)
	time.Sleep(time.Second)
	close(stop)
	<-done
	stopped = true
	if code != 0 {
		t.Fatalf("restart of the estate under traffic: exit %d, want 0\n%s%s", code, out, stderr)
	}
	if strings.Count(out, " ready     ok ") != 5 || !strings.Contains(out, "== cluster edge (1 of 3") {
		t.Errorf("restart of the estate: want the 5 nodes restarted and ready, edge first:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("restart of the estate took %s under traffic: %d messages acknowledged, %d attempts (%d retried), %d given up after %s; the longest wait for an ack was %s",
		took.Round(100*time.Millisecond), len(acked), attempts, retries, len(lost), giveUp, longest.Round(time.Millisecond))
	if len(acked) == 0 {
		t.Fatal("no request was acknowledged")
	}
	if len(lost) > 0 {
		t.Errorf("%d messages never acknowledged within %s: %v", len(lost), giveUp, lost[:min(5, len(lost))])
	}
	missing := 0
	for _, b := range acked {
		if !received[b] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged messages were not received by west's responder", missing)
	}
}

// cutWestGateways: the cut-gateways fault on a west node. Its gateways go
// (outbound to east, none inbound from east); its clients' requests no
// longer reach east and their replies no longer leave, while the other
// west node's clients still reach east and east's messages still reach
// the cut node's clients through west's routes; natsops status is
// asserted as it stands (gateway health is not wired into status yet);
// healing brings the gateways, the cut node's replies and a healthy west
// back.
func cutWestGateways(c context.Context, t *testing.T, est *testbed.Estate, inv string, eastNC *nats.Conn) {
	t.Helper()
	v, other := "west-1", "west-2"
	t.Cleanup(func() { est.HealGateways(context.Background(), v) })
	onV := estateConnect(t, est, "nats://"+mustNode(t, est, v).Host+":4222", testbed.AppUser)
	onOther := estateConnect(t, est, "nats://"+mustNode(t, est, other).Host+":4222", testbed.AppUser)
	respond(t, onV, "estate.west1.hello", "west-1")
	requestAll(c, t, onV, "estate.east.hello", "east", 5)
	requestAll(c, t, eastNC, "estate.west1.hello", "west-1", 5)

	if err := est.CutGateways(c, v); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := testbed.Poll(c, 60*time.Second, func() error {
		ok, err := outboundTo(c, est, v, "east")
		if err == nil && ok {
			err = fmt.Errorf("%s still has its outbound gateway to east", v)
		}
		return err
	}); err != nil {
		t.Fatalf("gateways cut: %v", err)
	}
	t.Logf("%s lost its outbound gateway to east after %s", v, time.Since(t1).Round(100*time.Millisecond))
	// No east server keeps an outbound gateway to the cut node (they dial
	// the other west node): read from east, inbound on west.
	if err := testbed.Poll(c, 60*time.Second, func() error {
		gz, err := readGatewayz(c, est, v)
		if err != nil {
			return err
		}
		if n := len(gz.InboundGateways["east"]); n > 0 {
			return fmt.Errorf("%s still lists %d inbound gateway connections from east", v, n)
		}
		return nil
	}); err != nil {
		t.Fatalf("gateways cut: %v", err)
	}
	// Visible to clients: a request from the cut node's client no longer
	// reaches east's responder; from the other west node it does.
	if err := testbed.Poll(c, 30*time.Second, func() error {
		_, err := onV.Request("estate.east.hello", []byte("cut"), time.Second)
		if err == nil {
			return fmt.Errorf("a request from %s still reached east", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Nor can its clients answer east: a reply leaves through the cut
	// node's own outbound gateway.
	if err := testbed.Poll(c, 30*time.Second, func() error {
		if _, err := eastNC.Request("estate.west1.hello", []byte("cut"), time.Second); err == nil {
			return fmt.Errorf("%s's responder still answered east", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The other west node's clients still reach east (once east's servers
	// that dialled the cut node have dialled it instead), and east's
	// messages still reach the cut node's clients: inbound gateways are
	// the cluster's, the other west node's gateway and west's routes.
	requestAll(c, t, onOther, "estate.east.hello", "east", 5)
	got := make(chan struct{}, 1)
	if _, err := onV.Subscribe("estate.west1.pub", func(*nats.Msg) {
		select {
		case got <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := onV.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(c, 30*time.Second, func() error {
		if err := eastNC.Publish("estate.west1.pub", []byte("cut")); err != nil {
			return err
		}
		select {
		case <-got:
			return nil
		case <-time.After(200 * time.Millisecond):
			return fmt.Errorf("east's message did not reach %s's subscriber", v)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// natsops status names the node that lost its gateway (exit 3).
	if err := testbed.Poll(c, 30*time.Second, func() error {
		out, stderr, code := natsops(c, t, "-i", inv, "status", "--cluster", "west")
		if code != 3 || !strings.Contains(out, v+": no outbound gateway connection to cluster east") || !strings.Contains(out, "[gateway-outbound-missing]") {
			return fmt.Errorf("status --cluster west with %s's gateways cut: exit %d, want 3 naming its missing outbound gateway\n%s%s", v, code, out, stderr)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	if err := est.HealGateways(c, v); err != nil {
		t.Fatal(err)
	}
	t1 = time.Now()
	if err := testbed.Poll(c, 60*time.Second, func() error {
		ok, err := outboundTo(c, est, v, "east")
		if err == nil && !ok {
			err = fmt.Errorf("%s has no outbound gateway to east yet", v)
		}
		return err
	}); err != nil {
		t.Fatalf("gateways healed: %v", err)
	}
	t.Logf("%s has its outbound gateway to east again after %s", v, time.Since(t1).Round(100*time.Millisecond))
	requestAll(c, t, onV, "estate.east.hello", "east", 5)
	requestAll(c, t, eastNC, "estate.west1.hello", "west-1", 5)
	estateStatus(c, t, inv, "west", time.Minute)
}

// eastLeafs counts the leaf connections east's nodes list.
func eastLeafs(c context.Context, est *testbed.Estate) (int, error) {
	n := 0
	for _, nd := range est.ClusterNodes("east") {
		accs, err := leafAccounts(c, est, nd.Name)
		if err != nil {
			return 0, err
		}
		n += len(accs)
	}
	return n, nil
}

// cutEdgeLeaf: the cut-leafnodes fault on edge-1. Its leaf connection
// goes (east lists none), east's requests no longer reach its responder;
// natsops status is asserted as it stands (leaf connections are not
// judged by status yet); healing brings the connection and the replies
// back.
func cutEdgeLeaf(c context.Context, t *testing.T, est *testbed.Estate, inv string, eastNC *nats.Conn) {
	t.Helper()
	v := "edge-1"
	t.Cleanup(func() { est.HealLeafNodes(context.Background(), v) })
	if err := est.CutLeafNodes(c, v); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := testbed.Poll(c, 60*time.Second, func() error {
		n, err := eastLeafs(c, est)
		if err == nil && n > 0 {
			err = fmt.Errorf("east still lists %d leaf connections", n)
		}
		return err
	}); err != nil {
		t.Fatalf("leaf connection cut: %v", err)
	}
	t.Logf("east lost %s's leaf connection after %s", v, time.Since(t1).Round(100*time.Millisecond))
	if _, err := eastNC.Request("estate.edge.hello", []byte("cut"), time.Second); err == nil {
		t.Errorf("a request from east reached %s with its leaf connection cut", v)
	}
	// natsops status names the leaf node cut off from its hub (exit 3),
	// and east misses its leaf connection.
	if err := testbed.Poll(c, 30*time.Second, func() error {
		out, stderr, code := natsops(c, t, "-i", inv, "status", "--cluster", "edge")
		if code != 3 || !strings.Contains(out, v+": 0 of 1 leaf connections to cluster east bound to account "+testbed.AppAccount+" are up") || !strings.Contains(out, "[leaf-missing]") {
			return fmt.Errorf("status --cluster edge with its leaf connection cut: exit %d, want 3 naming it\n%s%s", code, out, stderr)
		}
		out, stderr, code = natsops(c, t, "-i", inv, "status", "--cluster", "east")
		if code != 3 || !strings.Contains(out, "cluster east: the hub nodes see 0 of 1 leaf connections from cluster edge bound to account "+testbed.AppAccount) {
			return fmt.Errorf("status --cluster east with edge's leaf connection cut: exit %d, want 3 naming it\n%s%s", code, out, stderr)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := est.HealLeafNodes(c, v); err != nil {
		t.Fatal(err)
	}
	t1 = time.Now()
	if err := testbed.Poll(c, 60*time.Second, func() error {
		n, err := eastLeafs(c, est)
		if err == nil && n != 1 {
			err = fmt.Errorf("east lists %d leaf connections, want edge's one", n)
		}
		return err
	}); err != nil {
		t.Fatalf("leaf connection healed: %v", err)
	}
	t.Logf("east has %s's leaf connection again after %s", v, time.Since(t1).Round(100*time.Millisecond))
	requestAll(c, t, eastNC, "estate.edge.hello", "edge", 5)
	estateStatus(c, t, inv, "edge", time.Minute)
}

func mustNode(t *testing.T, est *testbed.Estate, name string) testbed.Node {
	t.Helper()
	n, err := est.Node(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
