package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/rollout"
)

// flagRef is a flag named in a message.
var flagRef = regexp.MustCompile(`--[a-z][a-z-]+`)

// TestStaleLockOfAKilledRun: a restart killed with SIGKILL while it holds
// the lock (during its first node's soak, the node back) leaves the lock;
// restart and deploy then say plainly that its pid on this machine no
// longer runs and name their own --break-lock (every flag a lock message
// names exists on the command that printed it: checked against its
// --help), and deploy --break-lock takes the lock over and deploys.
func TestStaleLockOfAKilledRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops, starts a local cluster")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()

	cmd := exec.Command(bin, "restart", "--yes", "--mode", "fast", "--healthy-for", "1m", "-i", inv)
	cmd.Env = append(os.Environ(), audit.EnvLog+"="+auditLogOf(bin))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 4 && f[2] == rollout.StepReady && f[3] == rollout.ResultOK {
			ready = true
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !ready {
		t.Fatal("the restart never had a node back")
	}
	pid := cmd.Process.Pid

	// A reloadable change: deploy has something to roll, so it meets the
	// lock.
	changed := withServer(t, c, "max_connections = 1234\n")
	for _, command := range []string{"restart", "deploy"} {
		code, stdout, stderr := natsopsExec(t, bin, command, "--yes", "-i", changed)
		msg := stdout + stderr
		want := "held by pid " + strconv.Itoa(pid) + " on this machine, which is no longer running"
		if code != ExitError || !strings.Contains(msg, want) || !strings.Contains(msg, "rerun natsops "+command+" with --break-lock") {
			t.Errorf("%s on the lock of a killed run: exit %d, want 1 saying %q and naming %s --break-lock\n%s", command, code, want, command, msg)
		}
		_, help, _ := natsopsExec(t, bin, command, "--help")
		for _, fl := range flagRef.FindAllString(stderr, -1) {
			if !strings.Contains(help, fl+" ") {
				t.Errorf("%s's lock message names %s, which %s does not have:\n%s", command, fl, command, stderr)
			}
		}
	}

	if code, stdout, stderr := natsopsExec(t, bin, "deploy", "--break-lock", "--yes", "-i", changed); code != ExitOK {
		t.Fatalf("deploy --break-lock: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	for _, n := range c.Inventory.Nodes {
		if _, err := os.Stat(rollout.LockPathFor(n)); err == nil {
			t.Errorf("%s: lock left after deploy --break-lock", n.Name)
		}
	}
	if code, stdout, stderr := natsopsExec(t, bin, "status", "-i", inv); code != ExitOK {
		t.Errorf("status: exit %d\n%s%s", code, stdout, stderr)
	}
}
