package service

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
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
	if err != nil || string(out) != MarkExited+"\n" {
		t.Fatalf("wait: %v %q", err, out)
	}
	// Stop on a missing pid file: not running.
	out, err = exec.Command("sh", "-c", c.Stop).CombinedOutput()
	if err != nil || string(out) != MarkNotRunning+"\n" {
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
	begin, steps := ParseCycle(string(out))
	if begin == 0 || steps["stop"] == nil || steps["exit"] == nil || steps["start"] == nil {
		t.Fatalf("cycle output:\n%s", out)
	}
	if !strings.Contains(steps["exit"].Out, MarkExited) || steps["start"].Exit != 0 || steps["start"].MS < begin {
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

func TestCommandsQuoteAndPidfile(t *testing.T) {
	inv, err := cluster.Parse("inv.toml", []byte(`[service]
manager = "pidfile"
binary = "/opt/nats/nats-server"
config_path = "/opt/nats/nats.conf"

[server]
pid_file = "/opt/nats/it's.pid"

[[node]]
name = "a"
host = "h"
`))
	if err != nil {
		t.Fatal(err)
	}
	g := CommandsFor(inv.Nodes[0], Graceful)
	if !strings.Contains(g.Stop, `/opt/nats/nats-server --signal 'ldm=/opt/nats/it'\''s.pid'`) {
		t.Errorf("stop %q", g.Stop)
	}
	if !strings.HasPrefix(g.Start, "setsid nohup sh -c ") || !strings.HasSuffix(g.Start, "&\necho \"natsops:pid $!\"") {
		t.Errorf("start %q", g.Start)
	}
	if a := AliveCommand(inv.Nodes[0], "42"); !strings.Contains(a, `cat '/opt/nats/it'\''s.pid'`) || !strings.Contains(a, "natsops_runs 42;") {
		t.Errorf("alive %q", a)
	}
	if f := CommandsFor(inv.Nodes[0], Fast); !strings.Contains(f.Stop, "quit=") || f.ExitBound != exitMargin {
		t.Errorf("fast %q %s", f.Stop, f.ExitBound)
	}
	if g.ExitBound != defaultLameDuck+exitMargin {
		t.Errorf("bound %s", g.ExitBound)
	}
}

// The pidfile start prints the pid it launched, and the liveness check
// follows that process through a real shell: alive while it runs, gone
// once it was killed (with the pid file naming no live process either).
func TestPidfileStartAndAliveRealShell(t *testing.T) {
	dir := t.TempDir()
	inv, err := cluster.Parse("inv.toml", []byte(fmt.Sprintf(`[service]
manager = "pidfile"
start_command = "sleep 30"

[server]
pid_file = %[1]q
log.file = %[2]q

[[node]]
name = "a"
host = "127.0.0.1"
connection = "local"
`, dir+"/a.pid", dir+"/a.log")))
	if err != nil {
		t.Fatal(err)
	}
	n := inv.Nodes[0]
	h := &remote.Local{NodeName: "a"}
	ctx := context.Background()
	res, err := h.Run(ctx, CommandsFor(n, Fast).Start, remote.RunOptions{})
	if err != nil || !res.OK() {
		t.Fatalf("start: %v %s", err, res.Stderr)
	}
	pid := StartPID(string(res.Stdout))
	if pid == "" {
		t.Fatalf("no pid in %q", res.Stdout)
	}
	t.Cleanup(func() { _, _ = h.Run(ctx, "kill "+pid+" 2>/dev/null", remote.RunOptions{}) })
	check := func() string {
		res, err := h.Run(ctx, AliveCommand(n, pid), remote.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	if got := check(); got != MarkAlive {
		t.Fatalf("while running: %q", got)
	}
	if _, err := h.Run(ctx, "kill "+pid, remote.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously: give the process a moment.
	got := check()
	for i := 0; i < 100 && got == MarkAlive; i++ {
		time.Sleep(50 * time.Millisecond)
		got = check()
	}
	if !strings.HasPrefix(got, MarkDead+" no nats-server process runs") {
		t.Fatalf("after kill: %q", got)
	}
}

// TestCycleStartsWhenItsReaderIsGone: natsops killed (kill -9, a dropped
// SSH connection) after the stop leaves the script writing into a closed
// pipe; the node is still started.
func TestCycleStartsWhenItsReaderIsGone(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	c := Commands{Stop: "sleep 0.5; echo stopped", WaitExit: "echo " + MarkExited, Start: "touch " + started}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", c.Cycle())
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Read the first line (the script has begun), then go away as a
	// killed natsops does, before the stop step's output.
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "natsops:begin ") {
		t.Fatalf("first line %q: %v", line, err)
	}
	r.Close()
	err = cmd.Wait()
	if _, serr := os.Stat(started); serr != nil {
		t.Fatalf("the start did not run once the reader was gone (script: %v): %v", err, serr)
	}
}
