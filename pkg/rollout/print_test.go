package rollout

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

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

// A whole Cycle in sh against a real process managed the pidfile way: it
// is stopped, seen to exit, and a new one started and written to the pid
// file.
func TestCycleScriptPidfile(t *testing.T) {
	dir := t.TempDir()
	pf := dir + "/p.pid"
	bin := dir + "/fake-nats-server"
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n# --signal quit=PIDFILE\nkill \"$(cat \"${2#*=}\")\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := "echo $$ > " + pf + "; exec sleep 30"
	inv, err := cluster.Parse("inv.toml", []byte(fmt.Sprintf("[service]\nmanager = \"pidfile\"\nbinary = %q\nstart_command = %q\n[server]\npid_file = %q\nlog.file = %q\n[[node]]\nname = \"a\"\nhost = \"h\"\n", bin, start, pf, dir+"/log")))
	if err != nil {
		t.Fatal(err)
	}
	c := CommandsFor(inv.Nodes[0], Fast)
	readPid := func() string {
		for range 100 {
			if b, err := os.ReadFile(pf); err == nil && len(b) > 0 {
				return strings.TrimSpace(string(b))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no pid file")
		return ""
	}
	if err := exec.Command("sh", "-c", c.Start).Run(); err != nil {
		t.Fatal(err)
	}
	old := readPid()
	out, err := exec.Command("sh", "-c", c.Cycle()).Output()
	if err != nil {
		t.Fatalf("cycle: %v\n%s", err, out)
	}
	begin, steps := parseCycle(string(out))
	if begin == 0 || steps["stop"] == nil || steps["exit"] == nil || steps["start"] == nil {
		t.Fatalf("cycle output:\n%s", out)
	}
	if !strings.Contains(steps["exit"].Out, markExited) || steps["start"].Exit != 0 || steps["start"].MS < begin {
		t.Fatalf("steps %+v %+v", steps["exit"], steps["start"])
	}
	var now string
	for range 100 {
		if now = readPid(); now != old {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now == old {
		t.Fatal("no new process")
	}
	if err := exec.Command("kill", old).Run(); err == nil {
		t.Error("the old process still ran")
	}
	if err := exec.Command("kill", now).Run(); err != nil {
		t.Errorf("the new process does not run: %v", err)
	}
}
