package rollout

import (
	"os/exec"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// The wait scripts are valid sh and report a process that is gone.
func TestWaitScriptsRun(t *testing.T) {
	inv, err := cluster.Parse("inv.toml", []byte("[service]\nmanager = \"pidfile\"\n[server]\npid_file = \""+t.TempDir()+"/p.pid\"\n[[node]]\nname = \"a\"\nhost = \"h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := CommandsFor(inv.Nodes[0], Fast)
	pf := *inv.Nodes[0].Server.PidFile
	// A pid that does not run: the wait says exited at once.
	if err := exec.Command("sh", "-c", "echo 999999 > "+pf+".natsops-stopping").Run(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", c.WaitExit).CombinedOutput()
	if err != nil || string(out) != markExited+"\n" {
		t.Fatalf("wait: %v %q", err, out)
	}
	// Stop on a missing pid file: not running.
	out, err = exec.Command("sh", "-c", c.Stop).CombinedOutput()
	if err != nil || string(out) != markNotRunning+"\n" {
		t.Fatalf("stop: %v %q", err, out)
	}
	for _, m := range []Mode{Graceful, Fast} {
		s := CommandsFor(inv.Nodes[0], m)
		for _, script := range []string{s.Stop, s.WaitExit, s.Start} {
			if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
				t.Errorf("%s: not valid sh: %v %s\n%s", m, err, out, script)
			}
		}
	}
	if out, err := exec.Command("sh", "-n", "-c", CommandsFor(&cluster.Node{Service: cluster.Service{Unit: "nats-server"}}, Graceful).WaitExit).CombinedOutput(); err != nil {
		t.Errorf("systemd wait: %v %s", err, out)
	}
}
