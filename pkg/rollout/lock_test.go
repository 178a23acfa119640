package rollout

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// TestLocalNodesLockNextToConfig: local nodes share a machine, so each
// keeps its own lock next to its config (not one /var/lib/natsops lock
// that a rollout would collide with), and the script takes it once.
func TestLocalNodesLockNextToConfig(t *testing.T) {
	dir := t.TempDir()
	var nodes []*cluster.Node
	for _, name := range []string{"n1", "n2"} {
		nodes = append(nodes, &cluster.Node{Name: name, Connection: "local", Service: cluster.Service{ConfigPath: filepath.Join(dir, "it's "+name+".conf")}})
	}
	ssh := &cluster.Node{Name: "n3", Connection: "ssh", Service: cluster.Service{ConfigPath: "/etc/nats-server.conf"}}
	if got := LockPathFor(ssh); got != LockPath {
		t.Errorf("ssh node lock %s, want %s", got, LockPath)
	}
	h := &remote.Local{NodeName: "x", NoSudo: true}
	run := func(script string) string {
		res, err := h.Run(context.Background(), script, remote.RunOptions{Sudo: true})
		if err != nil || !res.OK() {
			t.Fatalf("%v %+v", err, res)
		}
		return string(res.Stdout)
	}
	for _, n := range nodes {
		p := pathsFor(n)
		if p.lock != n.Service.ConfigPath+LocalLockSuffix {
			t.Fatalf("%s: lock %s", n.Name, p.lock)
		}
		if out := run(lockScript([]byte(`{"id":"a"}`), false, p)); !strings.HasPrefix(out, "natsops:locked") {
			t.Fatalf("%s: first lock: %q", n.Name, out)
		}
	}
	if out := run(lockScript([]byte(`{"id":"b"}`), false, pathsFor(nodes[0]))); !strings.HasPrefix(out, "natsops:held") || !strings.Contains(out, `"id":"a"`) {
		t.Fatalf("second lock on n1: %q", out)
	}
	run(unlockScript("a", true, pathsFor(nodes[0])))
	if out := run(lockScript([]byte(`{"id":"b"}`), false, pathsFor(nodes[0]))); !strings.HasPrefix(out, "natsops:locked") {
		t.Fatalf("lock after unlock: %q", out)
	}
}
