package service

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
)

func pidfileNode(t *testing.T, pf string) *cluster.Node {
	t.Helper()
	inv, err := cluster.Parse("inv.toml", []byte(fmt.Sprintf("[service]\nmanager = \"pidfile\"\n[server]\npid_file = %q\nhttp_port = 8222\n[[node]]\nname = \"a\"\nhost = \"h\"\n", pf)))
	if err != nil {
		t.Fatal(err)
	}
	return inv.Nodes[0]
}

// The probe in a real shell against a real process (this test, named by
// a pid file): its pid, state, descriptors, limits and the port it
// listens on; then against a pid file naming no process.
func TestProbeRealShell(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "p.pid")
	if err := os.WriteFile(pf, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := pidfileNode(t, pf)
	out, err := exec.Command("sh", "-c", ProbeCommand(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	h := ParseProbe(n, string(out))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if !h.Running() || h.PID != os.Getpid() || h.FDs < 4 || h.Soft != int64(lim.Cur) || h.Hard != int64(lim.Max) || h.Note != "" {
		t.Errorf("reading %+v (limits %d/%d)\n%s", h, lim.Cur, lim.Max, out)
	}
	found := false
	for _, p := range h.Listening {
		found = found || p == port
	}
	if !found {
		t.Errorf("listening %v, want %d among them\n%s", h.Listening, port, out)
	}

	if err := os.WriteFile(pf, []byte("999999999"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("sh", "-c", ProbeCommand(n)).CombinedOutput()
	h = ParseProbe(n, string(out))
	if h.Running() || !h.Down || h.Note != health.NoteNoPID || !strings.Contains(h.Service, "holds pid 999999999, which does not run") {
		t.Errorf("dead pid: %+v\n%s", h, out)
	}
}

func TestParseProbe(t *testing.T) {
	inv, err := cluster.Parse("inv.toml", []byte("[[node]]\nname = \"a\"\nhost = \"h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	sd := inv.Nodes[0]
	for _, tc := range []struct {
		name, out string
		want      health.HostReading
	}{
		{"running", "natsops:probe pid 42\nnatsops:probe state S\nnatsops:probe fds 19040\nnatsops:probe limits 20000 20000\nnatsops:probe listen 107E\nnatsops:probe listen 1F6E\nnatsops:probe listen 1F6E\nnatsops:probe listened\n",
			health.HostReading{Reached: true, PID: 42, State: "S", FDs: 19040, Soft: 20000, Hard: 20000, Listening: []int{4222, 8046}}},
		{"unlimited, no listener", "natsops:probe pid 42\nnatsops:probe state T\nnatsops:probe fds 9\nnatsops:probe limits unlimited unlimited\nnatsops:probe listened\n",
			health.HostReading{Reached: true, PID: 42, State: "T", FDs: 9, Soft: 1<<63 - 1, Hard: 1<<63 - 1, Listening: []int{}}},
		// The ports' read did not complete: unknown (nil), never "none",
		// which would read as listening on another port.
		{"ports not read", "natsops:probe pid 42\nnatsops:probe state S\nnatsops:probe fds 19006\nnatsops:probe limits 20000 20000\n",
			health.HostReading{Reached: true, PID: 42, State: "S", FDs: 19006, Soft: 20000, Hard: 20000}},
		{"systemd unit failed", "natsops:probe nopid\nnatsops:probe unit failed failed exit-code loaded\n",
			health.HostReading{Reached: true, Note: health.NoteNoPID, Down: true, Service: "systemd: nats-server.service is failed failed exit-code"}},
		{"no such unit", "natsops:probe nopid\nnatsops:probe unit inactive dead success not-found\n",
			health.HostReading{Reached: true, Note: health.NoteNoPID, Service: "systemd has no unit nats-server.service"}},
		{"no systemd running", "natsops:probe nopid\nnatsops:probe unit   \n",
			health.HostReading{Reached: true, Note: health.NoteNoPID, Service: "systemctl says nothing of nats-server.service: is systemd running?"}},
		{"another process on the monitoring port", "natsops:probe portowner 901 /usr/bin/nats-server -p 8222 \nnatsops:probe nopid\nnatsops:probe unit inactive dead success loaded\n",
			health.HostReading{Reached: true, Note: health.NoteNoPID, Down: true, Service: "systemd: nats-server.service is inactive dead success", PortOwnerPID: 901, PortOwner: "/usr/bin/nats-server -p 8222"}},
		{"garbage", "motd\n", health.HostReading{Reached: true, Note: "probe: no pid in the output"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseProbe(sd, tc.out)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("ParseProbe =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// The systemd probe reads the same MainPID as tune, of the unit with its
// .service suffix.
func TestProbeCommandSystemd(t *testing.T) {
	inv, err := cluster.Parse("inv.toml", []byte("[service]\nunit = \"nats@blue\"\n[[node]]\nname = \"a\"\nhost = \"h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := ProbeCommand(inv.Nodes[0])
	if want := "$(systemctl show -p MainPID --value nats@blue.service 2>/dev/null || echo 0)"; !strings.Contains(c, want) || PIDCommand("nats@blue.service", "") != want {
		t.Errorf("probe:\n%s", c)
	}
}

// At the seed's scale (some 17,000 sockets, their inodes past the
// kernel's 128KB limit on one argument) the probe still finds the port
// the process listens on, instead of losing every port (which would read
// as "listening on another port").
func TestProbeManySockets(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	const pairs = 8500
	if lim.Cur < 2*pairs+500 {
		t.Skipf("open-files soft limit %d: too low for %d sockets", lim.Cur, 2*pairs)
	}
	pf := filepath.Join(t.TempDir(), "p.pid")
	if err := os.WriteFile(pf, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}()
	for range pairs {
		p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatalf("socketpair after %d sockets: %v", len(fds), err)
		}
		fds = append(fds, p[0], p[1])
	}
	n := pidfileNode(t, pf)
	out, err := exec.Command("sh", "-c", ProbeCommand(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	h := ParseProbe(n, string(out))
	port := ln.Addr().(*net.TCPAddr).Port
	found := false
	for _, p := range h.Listening {
		found = found || p == port
	}
	if !h.Running() || h.FDs < 2*pairs || !found {
		t.Errorf("reading %+v, want %d among the ports and %d+ fds", h, port, 2*pairs)
	}
}
