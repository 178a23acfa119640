package demo

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
)

// TestCreate: two demos get their own directories, and the second none of
// the first's ports while those are in use; the inventory is local.toml's
// nodes with absolute paths, the wrapper as binary, no sudo, and a lame
// duck natsops accepts; Remove deletes only a demo's directory.
func TestCreate(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "natsops")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	a, err := Create(parent, exe)
	if err != nil {
		t.Fatal(err)
	}
	// a's nodes would be listening on its ports: hold them, as a running
	// demo does, so b cannot be given them (released ports may come back).
	for _, p := range portsOf(t, a) {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("hold demo a's port %d: %v", p, err)
		}
		defer l.Close()
	}
	b, err := Create(parent, exe)
	if err != nil {
		t.Fatal(err)
	}
	if a.Dir == b.Dir {
		t.Fatalf("same directory %s", a.Dir)
	}
	ports := map[int]string{}
	for _, c := range []*Cluster{a, b} {
		inv, err := cluster.Load(c.InventoryPath())
		if err != nil {
			t.Fatal(err)
		}
		if names := strings.Join(inv.NodeNames(), ","); names != "n1,n2,n3" {
			t.Errorf("nodes %s, want local.toml's n1,n2,n3", names)
		}
		for _, n := range inv.Nodes {
			for _, p := range []int{*n.Server.Port, *n.Server.HTTPPort, *n.Cluster.Port} {
				if other, dup := ports[p]; dup {
					t.Errorf("port %d used twice (%s and %s in %s)", p, other, n.Name, c.Dir)
				}
				ports[p] = n.Name
			}
			if n.Connection != "local" || n.Service.Manager != "pidfile" || n.Service.Binary != filepath.Join(c.Dir, Wrapper) || n.SSH.Sudo == nil || *n.SSH.Sudo {
				t.Errorf("%s: %+v %+v", n.Name, n.Service, n.SSH)
			}
			for _, p := range []string{n.Service.ConfigPath, *n.Server.PidFile, *n.Server.Log.File, *n.JetStream.StoreDir} {
				if !strings.HasPrefix(p, c.Dir+"/") {
					t.Errorf("%s: %s is not under %s", n.Name, p, c.Dir)
				}
			}
			if _, err := os.Stat(n.Service.ConfigPath); err != nil {
				t.Errorf("%s: config not written: %v", n.Name, err)
			}
			if cmds := service.CommandsFor(n, service.Graceful); cmds.ExitBound != LameDuck+15e9 {
				t.Errorf("%s: graceful exit bound %s", n.Name, cmds.ExitBound)
			}
		}
		if _, err := os.Stat(c.Natsops()); err != nil {
			t.Errorf("no copy of natsops: %v", err)
		}
	}
	if _, err := Open(parent); err == nil || !strings.Contains(err.Error(), "not a natsops demo directory") {
		t.Errorf("Open(non-demo dir) = %v", err)
	}
	if err := (&Cluster{Dir: parent}).Remove(); err == nil {
		t.Error("Remove removed a directory without the demo marker")
	}
	for _, c := range []*Cluster{a, b} {
		if _, err := Open(c.Dir); err != nil {
			t.Error(err)
		}
		if err := c.Remove(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", c.Dir, err)
		}
	}
}

// portsOf is every port in c's inventory.
func portsOf(t *testing.T, c *Cluster) []int {
	t.Helper()
	inv, err := cluster.Load(c.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, n := range inv.Nodes {
		ports = append(ports, *n.Server.Port, *n.Server.HTTPPort, *n.Cluster.Port)
	}
	return ports
}

// TestCreateSupercluster: the estate of local-supercluster.toml on free
// ports, every listener its own port (client, monitoring, routes of the
// 3-node clusters, gateways of the hubs, east's leaf node port), every
// file under the directory, the passwords random files of mode 0600 the
// inventory names, and the paths the demo sends on with what joins them.
func TestCreateSupercluster(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "natsops")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := CreateSupercluster(t.TempDir(), exe)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Supercluster() || c.Inventory != nil {
		t.Fatalf("not a supercluster demo: %+v", c)
	}
	est, err := cluster.LoadEstate(c.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(est.Names(), ","); got != "east,west,edge" {
		t.Fatalf("clusters %s", got)
	}
	ports := map[int]string{}
	use := func(n *cluster.Node, what string, p *int) {
		if p == nil || *p == 0 {
			t.Errorf("%s: no %s port", n.Name, what)
			return
		}
		if other, dup := ports[*p]; dup {
			t.Errorf("port %d used twice (%s and %s %s)", *p, other, n.Name, what)
		}
		ports[*p] = n.Name + " " + what
	}
	for _, inv := range est.Clusters {
		for _, n := range inv.Nodes {
			use(n, "client", n.Server.Port)
			use(n, "monitoring", n.Server.HTTPPort)
			if inv.Clustered() {
				use(n, "cluster", n.Cluster.Port)
			}
			if inv.HasGateway() {
				use(n, "gateway", n.Gateway.Port)
			}
			if inv.LeafListens() {
				use(n, "leafnodes", n.LeafNodes.Port)
			}
			for _, p := range []string{n.Service.ConfigPath, *n.Server.PidFile, *n.Server.Log.File, *n.JetStream.StoreDir} {
				if !strings.HasPrefix(p, c.Dir+"/") {
					t.Errorf("%s: %s is not under %s", n.Name, p, c.Dir)
				}
			}
			if _, err := os.Stat(n.Service.ConfigPath); err != nil {
				t.Errorf("%s: config not written: %v", n.Name, err)
			}
			if n.Service.Binary != filepath.Join(c.Dir, Wrapper) {
				t.Errorf("%s: binary %s", n.Name, n.Service.Binary)
			}
		}
	}
	if len(ports) != 7*2+6+6+3 {
		t.Errorf("%d ports, want 29: %v", len(ports), ports)
	}
	secrets, _ := filepath.Glob(filepath.Join(c.Dir, "secrets", "*.password"))
	if len(secrets) != 3 {
		t.Errorf("secrets %v, want admin, app and leaf", secrets)
	}
	seen := map[string]bool{}
	for _, f := range secrets {
		st, err := os.Stat(f)
		b, _ := os.ReadFile(f)
		if err != nil || st.Mode().Perm() != 0o600 || len(strings.TrimSpace(string(b))) < 16 || seen[string(b)] {
			t.Errorf("%s: mode %v, %q", f, st.Mode(), b)
		}
		seen[string(b)] = true
	}
	paths, err := c.Paths()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, fmt.Sprintf("%s %s R%d", p.Name, p.Via, p.Replicas))
	}
	if want := "east->west gateway R3,west->east gateway R3,east->edge leaf R1,edge->west leaf+gateway R3"; strings.Join(got, ",") != want {
		t.Errorf("paths %s, want %s", strings.Join(got, ","), want)
	}
	roles := map[string]string{}
	for _, inv := range est.Clusters {
		roles[inv.ClusterName()] = Role(inv)
	}
	for name, want := range map[string]string{"east": "gateways to west; hub of the leaf nodes of edge", "west": "gateways to east", "edge": "a leaf node of east (account APP); JetStream domain edge"} {
		if roles[name] != want {
			t.Errorf("role of %s: %q, want %q", name, roles[name], want)
		}
	}
	o, err := Open(c.Dir)
	if err != nil || !o.Supercluster() || len(o.Nodes()) != 7 {
		t.Errorf("Open: %v, %+v", err, o)
	}
	if err := c.Remove(); err != nil {
		t.Error(err)
	}
}

// TestCreateWithAccounts: `natsops demo`'s cluster has the system account
// SYS with admin and APP (JetStream) whose user app is every client
// without credentials, their passwords random files of mode 0600 that
// resolve; Create's bare cluster has no auth at all.
func TestCreateWithAccounts(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "natsops")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := CreateWithAccounts(t.TempDir(), exe)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cluster.Load(c.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	a := inv.Nodes[0].Server.Auth
	if a.SystemAccount == nil || *a.SystemAccount != "SYS" || a.NoAuthUser == nil || *a.NoAuthUser != "app" {
		t.Fatalf("server.auth %+v: want system_account SYS, no_auth_user app", a)
	}
	if got := strings.Join(inv.AccountNames(), ","); got != "APP,SYS" {
		t.Fatalf("accounts %s", got)
	}
	if inv.File.Accounts["APP"].JetStream == nil {
		t.Error("APP has no JetStream: the demo's stream would be refused")
	}
	seen := map[string]bool{}
	for _, name := range []string{"SYS", "APP"} {
		for _, u := range inv.File.Accounts[name].Users {
			v, err := u.Password.Resolve(inv.Dir, cluster.MapEnv(nil))
			if err != nil || len(v) < 16 || seen[v] {
				t.Errorf("%s/%s: password %v (len %d, repeated %v)", name, u.User, err, len(v), seen[v])
			}
			seen[v] = true
			p := filepath.Join(inv.Dir, strings.TrimPrefix(string(u.Password), "file:"))
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, want mode 0600", p, err)
			}
		}
	}
	bare, err := Create(t.TempDir(), exe)
	if err != nil {
		t.Fatal(err)
	}
	if b := bare.Inventory.Nodes[0].Server.Auth; b.SystemAccount != nil || len(bare.Inventory.File.Accounts) != 0 {
		t.Errorf("Create's cluster has auth: %+v", b)
	}
}
