package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/cluster"
)

// serverPID is a local node's nats-server pid, from its pid file.
func serverPID(t *testing.T, n *cluster.Node) int {
	t.Helper()
	b, err := os.ReadFile(*n.Server.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s pid file: %v", n.Name, err)
	}
	return pid
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// clients are raw NATS client connections to one node.
type clients struct {
	t     *testing.T
	addr  string
	conns []net.Conn
}

// open connects n more clients; with wait, each one's PING must be
// answered (the server accepted it and counts it), bounded by 2 minutes.
func (c *clients) open(n int, wait bool) {
	c.t.Helper()
	for range n {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			c.t.Fatalf("client %d: %v", len(c.conns)+1, err)
		}
		c.conns = append(c.conns, conn)
		if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")); err != nil {
			c.t.Fatalf("client %d: %v", len(c.conns), err)
		}
		if !wait {
			continue
		}
		_ = conn.SetReadDeadline(timeNowPlus2m())
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.t.Fatalf("client %d: no PONG: %v", len(c.conns), err)
			}
			if strings.HasPrefix(line, "PONG") {
				break
			}
		}
		_ = conn.SetReadDeadline(zeroTime)
	}
}

func (c *clients) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestCapacityOnALocalCluster drives status and check against the demo's
// real 3-node cluster (pidfile mode, local connections): a node's
// open-files limit is lowered with prlimit and clients connect until
// check turns WARNING (exit 1), then CRITICAL (exit 2), and once the
// descriptors run out status names "out of file descriptors" (exit 3)
// instead of "unreachable"; --monitor-only reads no host. Then a node
// stopped by SIGSTOP is diagnosed "stopped".
func TestCapacityOnALocalCluster(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit not installed")
	}
	bin := buildNatsops(t)
	c := localCluster(t, bin)
	inv := c.InventoryPath()
	n2, n3 := c.Inventory.Nodes[1], c.Inventory.Nodes[2]
	pid2 := serverPID(t, n2)
	cl := &clients{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(*n2.Server.Port))}
	t.Cleanup(cl.close) // before the cluster stops

	// Healthy: every row has its descriptors, capacity and pid.
	code, out, stderr := natsopsExec(t, bin, "status", "-i", inv, "-o", "json")
	var f struct {
		Nodes []struct {
			Node      string `json:"node"`
			PID       int    `json:"pid"`
			FDs       string `json:"fds"`
			FDsOpen   int    `json:"fds_open"`
			FDsSoft   int64  `json:"fds_soft_limit"`
			FDsHard   int64  `json:"fds_hard_limit"`
			Capacity  int    `json:"capacity"`
			Listening []int  `json:"listening"`
			Diagnosis string `json:"diagnosis"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || code != ExitOK || len(f.Nodes) != 3 {
		t.Fatalf("status -o json: exit %d, %v:\n%s%s", code, err, out, stderr)
	}
	if r := f.Nodes[1]; r.PID != pid2 || r.FDsOpen <= 0 || r.FDsSoft <= 0 || r.FDsHard < r.FDsSoft || r.Capacity <= 0 || !containsPort(r.Listening, *n2.Server.HTTPPort) {
		t.Fatalf("n2 row: %+v\n%s", r, out)
	}
	// The fd thresholds move the verdict (this node's descriptors are
	// far below its limit).
	if code, out, _ := natsopsExec(t, bin, "check", "-i", inv, "--warn-fds", "0", "--crit-fds", "100"); code != checkWarning || !strings.Contains(out, "[fds]") {
		t.Fatalf("check --warn-fds 0: exit %d:\n%s", code, out)
	}
	if code, out, _ := natsopsExec(t, bin, "check", "-i", inv, "--warn-fds", "0", "--crit-fds", "0", "--format", "nagios"); code != checkCritical || !strings.Contains(out, " fds_used=") || !strings.Contains(out, ";0;0 js_memory_used=") {
		t.Fatalf("check --crit-fds 0: exit %d:\n%s", code, out)
	}

	// Lower n2's limit to a few hundred descriptors above what it holds.
	limit := openFDs(t, pid2) + 400
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid2), "--nofile="+strconv.Itoa(limit)+":"+strconv.Itoa(limit)).CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}
	natstest.WaitFor(t, "status shows the lowered limit", func() (bool, string) {
		code, out, _ := natsopsExec(t, bin, "status", "-i", inv)
		return code == ExitOK && strings.Contains(out, "/"+strconv.Itoa(limit)+" "), out
	})

	// tune --check shows the running limit next to the desired one, and
	// the connections each allows.
	code, out, stderr = natsopsExec(t, bin, "tune", "--check", "-i", inv, "--limit", "n2")
	if code != ExitOK && code != ExitPending {
		t.Errorf("tune --check: exit %d:\n%s%s", code, out, stderr)
	}
	if want := "n2: running nats-server (pid " + strconv.Itoa(pid2) + ") has nofile " + strconv.Itoa(limit) + " (capacity " + strconv.Itoa(limit-119) + " connections); desired nofile 1024000 (capacity 65536 connections); max_connections 65536, reserve 119"; !strings.Contains(out, want) {
		t.Errorf("tune --check: exit %d, want %q:\n%s%s", code, want, out, stderr)
	}

	// Clients until CRITICAL, 10 at a time: the warning band (80..90% of
	// the limit, 80..95% of the capacity) is tens of descriptors wide.
	var seen []int
	for len(cl.conns) < limit {
		code, out, _ := natsopsExec(t, bin, "check", "-i", inv)
		if code != checkOK && code != checkWarning && code != checkCritical || len(seen) > 0 && code < seen[len(seen)-1] {
			t.Fatalf("check at %d clients: exit %d after %v:\n%s", len(cl.conns), code, seen, out)
		}
		if len(seen) == 0 || seen[len(seen)-1] != code {
			seen = append(seen, code)
			t.Logf("check at %d clients, %d fds of %d: exit %d:\n%s", len(cl.conns), openFDs(t, pid2), limit, code, out)
			if code != checkOK && !strings.Contains(out, " n2: ") {
				t.Fatalf("check does not name n2:\n%s", out)
			}
		}
		if code == checkCritical {
			break
		}
		cl.open(10, true)
	}
	if len(seen) != 3 || seen[1] != checkWarning || seen[2] != checkCritical {
		t.Fatalf("check exits went %v, want 0, 1, 2", seen)
	}

	// Past the limit: the server cannot accept, :8222 stops answering.
	natstest.WaitFor(t, "n2 out of descriptors", func() (bool, string) {
		if n := openFDs(t, pid2); n < limit {
			cl.open(5, false)
			return false, strconv.Itoa(n) + " fds open"
		}
		code, out, _ := natsopsExec(t, bin, "status", "-i", inv)
		return code == ExitUnhealthy && strings.Contains(out, "n2: out of file descriptors"), out
	})
	code, out, _ = natsopsExec(t, bin, "status", "-i", inv)
	// At the limit a descriptor a leaving client frees is taken by the
	// next accept: the count read a moment later may be a few short.
	full := regexp.MustCompile(`n2: out of file descriptors \(\d+ of ` + strconv.Itoa(limit) + ` open\): clients and monitoring are refused; raise \[tune\] nofile, run natsops tune, then natsops restart --node n2 --force \[out-of-fds\]`)
	if code != ExitUnhealthy || !full.MatchString(out) {
		t.Fatalf("status exit %d:\n%s", code, out)
	}
	if code, out, _ := natsopsExec(t, bin, "check", "-i", inv, "--format", "nagios"); code != checkCritical || !strings.Contains(out, "n2 out of file descriptors") {
		t.Fatalf("check exit %d:\n%s", code, out)
	}
	if code, out, _ := natsopsExec(t, bin, "status", "-i", inv, "--monitor-only"); code != ExitUnhealthy || !strings.Contains(out, "-(monitor-only)") || !strings.Contains(out, "[unreachable]") {
		t.Fatalf("status --monitor-only: exit %d:\n%s", code, out)
	}
	if code, out, _ := natsopsExec(t, bin, "check", "-i", inv, "--monitor-only"); code != checkCritical || strings.Contains(out, "[fds]") || !strings.Contains(out, "[unreachable]") {
		t.Fatalf("check --monitor-only: exit %d:\n%s", code, out)
	}

	// The clients gone, n2 answers again.
	cl.close()
	natstest.WaitFor(t, "n2 back", func() (bool, string) {
		code, out, _ := natsopsExec(t, bin, "status", "-i", inv)
		return code == ExitOK, out
	})

	// A node stopped by SIGSTOP holds its sockets and answers nothing.
	pid3 := serverPID(t, n3)
	if err := syscall.Kill(pid3, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid3, syscall.SIGCONT) })
	want := "n3: nats-server (pid " + strconv.Itoa(pid3) + ") is stopped (SIGSTOP, state T)"
	natstest.WaitFor(t, "n3 stopped", func() (bool, string) {
		code, out, _ := natsopsExec(t, bin, "status", "-i", inv)
		return code == ExitUnhealthy && strings.Contains(out, want), out
	})
	if code, out, _ := natsopsExec(t, bin, "check", "-i", inv); code != checkCritical || !strings.Contains(out, "kill -CONT "+strconv.Itoa(pid3)+" [stopped]") {
		t.Fatalf("check with n3 stopped: exit %d:\n%s", code, out)
	}
	if err := syscall.Kill(pid3, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "n3 back", func() (bool, string) {
		code, out, _ := natsopsExec(t, bin, "status", "-i", inv)
		return code == ExitOK, out
	})
}

func containsPort(ports []int, p int) bool {
	for _, x := range ports {
		if x == p {
			return true
		}
	}
	return false
}

var zeroTime time.Time

func timeNowPlus2m() time.Time { return time.Now().Add(2 * time.Minute) }
