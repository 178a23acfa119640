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
