// Package natstest runs real nats-server clusters in-process on loopback
// for tests: the nats-server module is the real server, not a fake.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartCluster starts n JetStream servers named n1..nN in one cluster and
// waits until they accept connections. They shut down with the test.
//
// n1 starts first, its cluster port picked free just before it binds it
// (a JetStream cluster needs a configured route: n1's is to itself, which
// nats-server ignores); the others take ports the kernel picks and route
// to n1, which tells them of each other. (Ports picked free for every
// node beforehand were taken, before the last node bound its own, by the
// demo clusters other packages' tests start at the same time: a server
// that cannot bind its cluster port never becomes ready.)
func StartCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	return StartClusterWith(t, n, nil)
}

// StartClusterWith is StartCluster with edit applied to every server's
// options before it starts (edit is called once per server: objects
// such as accounts must be made anew each time).
func StartClusterWith(t testing.TB, n int, edit func(*server.Options)) []*server.Server {
	t.Helper()
	var servers []*server.Server
	port := FreePort(t)
	seed := []*url.URL{{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", port)}}
	for i := 0; i < n; i++ {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			HTTPHost: "127.0.0.1", HTTPPort: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: -1},
			Routes:  seed,
			NoLog:   true, NoSigs: true,
		}
		if i == 0 {
			o.Cluster.Port = port
		}
		if edit != nil {
			edit(o)
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
		// Generous: under -race with every package's tests at once on two
		// cores, a JetStream server took over 20s to listen (seen in make
		// unit). A bound that load can reach is a flaky test, not a check.
		if !s.ReadyForConnections(2 * time.Minute) {
			t.Fatalf("n%d did not start within 2m", i+1)
		}
	}
	return servers
}

// StartServer starts one server (no JetStream, no cluster) with edit
// applied to its options, and waits until it accepts connections. It
// shuts down with the test.
func StartServer(t testing.TB, edit func(*server.Options)) *server.Server {
	t.Helper()
	o := &server.Options{ServerName: "n1", Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1, NoLog: true, NoSigs: true}
	if edit != nil {
		edit(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(2 * time.Minute) {
		t.Fatal("the server did not start within 2m")
	}
	return s
}

// SystemUser, SystemPassword and AppUser, AppPassword are the users
// WithSystemUser adds.
const (
	SystemUser     = "sys"
	SystemPassword = "sys-test-password"
	AppUser        = "app"
	AppPassword    = "app-test-password"
)

// WithSystemUser is an edit for StartClusterWith: the system account
// $SYS with its user (as natsops renders server.auth.system_user), and an
// application user in the global account $G (which keeps JetStream).
func WithSystemUser(o *server.Options) {
	sys := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	o.Accounts = []*server.Account{sys}
	o.SystemAccount = server.DEFAULT_SYSTEM_ACCOUNT
	o.Users = []*server.User{{Username: SystemUser, Password: SystemPassword, Account: sys}, {Username: AppUser, Password: AppPassword}}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Inventory returns a natsops inventory describing servers (as started by
// StartCluster), with every node's real ports.
func Inventory(servers []*server.Server) string {
	var b strings.Builder
	b.WriteString("[cluster]\nname = \"test\"\n\n[server]\nlisten_host = \"127.0.0.1\"\n\n[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats/jetstream\"\n")
	for i, s := range servers {
		_, cport, _ := net.SplitHostPort(s.ClusterAddr().String())
		fmt.Fprintf(&b, "\n[[node]]\nname = \"n%d\"\nhost = \"127.0.0.1\"\nconnection = \"local\"\nserver = { port = %d, http_port = %d }\ncluster.port = %s\n",
			i+1, s.Addr().(*net.TCPAddr).Port, s.MonitorAddr().Port, cport)
	}
	return b.String()
}

// waitBound is how long WaitFor waits: generous, since a condition that
// holds in 100ms on an idle machine can take tens of seconds under -race
// on a loaded CI machine; a test fails by the condition, not by load.
const waitBound = 2 * time.Minute

// WaitFor polls cond every 50ms until it holds, for at most waitBound.
func WaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still not after %s: %s", what, waitBound, last)
}

// InventoryWithSystemUser is Inventory for servers started with
// WithSystemUser, written in dir: the system user's password in a file
// beside it, and every node's config_path in dir (where a local node
// keeps its rollout lock). It returns the inventory's path.
func InventoryWithSystemUser(t testing.TB, servers []*server.Server, dir string) string {
	t.Helper()
	for f, pw := range map[string]string{"sys.pw": SystemPassword, "app.pw": AppPassword} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inv := Inventory(servers)
	for i := range servers {
		name := fmt.Sprintf("n%d", i+1)
		inv = strings.Replace(inv, fmt.Sprintf("name = %q\n", name), fmt.Sprintf("name = %q\nservice = { config_path = %q }\n", name, filepath.Join(dir, name+".conf")), 1)
	}
	inv = strings.Replace(inv, "[jetstream]", fmt.Sprintf("[server.auth]\nsystem_user = %q\nsystem_password = \"file:sys.pw\"\n\n[[server.auth.users]]\nuser = %q\npassword = \"file:app.pw\"\n\n[jetstream]", SystemUser, AppUser), 1)
	p := filepath.Join(dir, "natsops.toml")
	if err := os.WriteFile(p, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
