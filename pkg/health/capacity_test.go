package health

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/monitor"
)

func TestStaticReserve(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		// base 8 + monitor 4 + client and http listeners 2 + cluster listener 1
		// + 2 peers × (pool 3 + system account route 1) + JetStream 64
		{"3 nodes, JetStream", "", 8 + 4 + 2 + 1 + 2*4 + 64},
		{"pool_size 1", "[cluster]\npool_size = 1\n", 8 + 4 + 2 + 1 + 2*2 + 64},
		{"pool_size -1 (no pooling)", "[cluster]\npool_size = -1\n", 8 + 4 + 2 + 1 + 2*2 + 64},
		{"2.9: one route per peer", "[service]\nnats_version = \"2.9.10\"\n", 8 + 4 + 2 + 1 + 2*1 + 64},
		{"websocket", "[server.websocket]\nport = 8080\nno_tls = true\n", 8 + 4 + 2 + 1 + 2*4 + 64 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testinv.ThreeJS()
			if strings.HasPrefix(tc.extra, "[cluster]") {
				src = strings.Replace(src, "[cluster]\n", tc.extra, 1)
			} else {
				src += tc.extra
			}
			inv := testinv.MustParse(t, src)
			if got := StaticReserve(inv, inv.Nodes[0]); got != tc.want {
				t.Errorf("StaticReserve = %d, want %d", got, tc.want)
			}
		})
	}
	inv := testinv.MustParse(t, "[[node]]\nname = \"solo\"\nhost = \"h\"\n")
	if got := StaticReserve(inv, inv.Nodes[0]); got != 8+4+2 {
		t.Errorf("a lone server without JetStream: %d, want %d", got, 8+4+2)
	}
}

func TestCapacityOf(t *testing.T) {
	run := func(fds int, soft int64) *HostReading {
		return &HostReading{Reached: true, PID: 42, State: "S", FDs: fds, Soft: soft, Hard: soft}
	}
	for _, tc := range []struct {
		name             string
		maxConns, static int
		h                *HostReading
		conns            int
		want             Capacity
	}{
		{"no host reading: max_connections", 65536, 87, nil, 10, Capacity{Capacity: 65536, Reserve: 87 + 32, Static: 87, Limit: "max_connections"}},
		{"monitor-only", 65536, 87, &HostReading{Note: NoteMonitorOnly}, 10, Capacity{Capacity: 65536, Reserve: 119, Static: 87, Limit: "max_connections"}},
		{"the seed: 20000 fds below max_connections, static reserve wins", 65536, 87, run(19040, 20000), 19000, Capacity{Capacity: 20000 - 119, Reserve: 119, Static: 87, Measured: 40, Limit: "fds"}},
		{"measured reserve wins (many streams)", 65536, 87, run(1500, 20000), 1000, Capacity{Capacity: 20000 - 532, Reserve: 532, Static: 87, Measured: 500, Limit: "fds"}},
		{"max_connections below the fd room", 10000, 87, run(100, 1048576), 50, Capacity{Capacity: 10000, Reserve: 119, Static: 87, Measured: 50, Limit: "max_connections"}},
		{"unlimited fds", 65536, 87, run(100, 1<<62), 50, Capacity{Capacity: 65536, Reserve: 119, Static: 87, Measured: 50, Limit: "max_connections"}},
		{"a limit below the reserve: no room", 65536, 87, run(60, 100), 0, Capacity{Capacity: 0, Reserve: 119, Static: 87, Measured: 60, Limit: "fds"}},
		{"connections unknown: static reserve only", 65536, 87, run(300, 1000), -1, Capacity{Capacity: 1000 - 119, Reserve: 119, Static: 87, Limit: "fds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CapacityOf(tc.maxConns, tc.static, tc.h, tc.conns); got != tc.want {
				t.Errorf("CapacityOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDiagnose(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	n2 := inv.Nodes[1]
	down := &monitor.Snapshot{URL: "http://n2:8222", Errs: map[string]error{"varz": errTest}}
	live := &HostReading{Reached: true, PID: 77, State: "S", FDs: 500, Soft: 20000, Hard: 20000, Listening: []int{4222, 6222, 8222}}
	with := func(f func(h *HostReading)) *HostReading { h := *live; f(&h); return &h }
	for _, tc := range []struct {
		name string
		s    *monitor.Snapshot
		h    *HostReading
		code string // "" no diagnosis
		msg  string
	}{
		{":8222 answers: nothing to diagnose", snap("n2"), with(func(h *HostReading) { h.FDs = 20000 }), "", ""},
		{"no host reading", down, nil, "", ""},
		{"monitor-only", down, &HostReading{Note: NoteMonitorOnly}, "", ""},
		{"ssh failed", down, &HostReading{Note: "ssh: dial tcp: i/o timeout"}, "", ""},
		{"out of fds", down, with(func(h *HostReading) { h.FDs = 20000 }), ReasonOutOfFDs,
			"out of file descriptors (20000 of 20000 open): clients and monitoring are refused; raise [tune] nofile, run natsops tune, then natsops restart --node n2 --force"},
		{"not running (systemd says so)", down, &HostReading{Reached: true, Note: NoteNoPID, Down: true, Service: "systemd: nats-server.service is failed failed exit-code"}, ReasonNotRunning,
			"nats-server is not running (systemd: nats-server.service is failed failed exit-code): start it with natsops restart --node n2 --force"},
		{"no pid, nothing says it is down", down, &HostReading{Reached: true, Note: NoteNoPID, Service: "systemctl says nothing of nats-server.service: is systemd running?"}, "", ""},
		{"zombie", down, with(func(h *HostReading) { h.State = "Z" }), ReasonNotRunning, "pid 77 is a zombie"},
		{"8 short of the limit (clients churning): out of fds", down, with(func(h *HostReading) { h.FDs = 19992 }), ReasonOutOfFDs, "out of file descriptors (19992 of 20000 open)"},
		{"9 short of the limit: not out of fds", down, with(func(h *HostReading) { h.FDs = 19991 }), "", ""},
		{"another process holds the port, nats-server down", down, &HostReading{Reached: true, Note: NoteNoPID, Down: true, Service: "systemd: nats-server.service is inactive dead success", PortOwnerPID: 901, PortOwner: "/usr/bin/nats-server -p 8222"}, ReasonForeign,
			"port 8222 is held by another process, pid 901 (/usr/bin/nats-server -p 8222), not by nats-server's monitoring; the node's nats-server is not running (systemd: nats-server.service is inactive dead success): stop that process or move it off the port, then natsops restart --node n2 --force"},
		{"another process holds the port, nats-server runs", down, with(func(h *HostReading) { h.PortOwnerPID, h.PortOwner = 902, "python3 -m http.server 8222" }), ReasonForeign, "pid 902 (python3 -m http.server 8222), not by nats-server's monitoring; the node's nats-server runs as pid 77"},
		{"nats-server holds its own port", down, with(func(h *HostReading) { h.PortOwnerPID, h.State = 77, "T" }), ReasonStopped, "kill -CONT 77"},
		{"stopped by SIGSTOP", down, with(func(h *HostReading) { h.State = "T" }), ReasonStopped, "send SIGCONT: kill -CONT 77"},
		{"stopped and out of fds: stopped first", down, with(func(h *HostReading) { h.State = "T"; h.FDs = 20000 }), ReasonStopped, "kill -CONT 77"},
		{"listening on another port", down, with(func(h *HostReading) { h.Listening = []int{4333, 8333} }), ReasonWrongPort, "listens on port 4333, 8333, not on the inventory's monitoring port 8222"},
		{"listening unknown", down, with(func(h *HostReading) { h.Listening = nil }), "", ""},
		{"alive, right port, not at the limit: stays unreachable", down, live, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := Diagnose(n2, tc.s, tc.h)
			if ok != (tc.code != "") || r.Code != tc.code || !strings.Contains(r.Msg, tc.msg) {
				t.Fatalf("Diagnose = %v %+v, want %q containing %q", ok, r, tc.code, tc.msg)
			}
			if ok && r.Node != "n2" {
				t.Errorf("node %q", r.Node)
			}
		})
	}
}

func TestFDsColumn(t *testing.T) {
	for _, tc := range []struct {
		h    *HostReading
		want string
	}{
		{nil, "-(not read)"},
		{&HostReading{Note: NoteMonitorOnly}, "-(monitor-only)"},
		{&HostReading{Note: "ssh: connection refused"}, "-(ssh: connection refused)"},
		{&HostReading{Reached: true, Note: NoteNoPID}, "-(no pid)"},
		{&HostReading{Reached: true, PID: 9, State: "Z"}, "-(not running)"},
		{&HostReading{Reached: true, PID: 9, State: "S", FDs: 19040, Soft: 20000}, "19040/20000"},
		{&HostReading{Reached: true, PID: 9, State: "S", FDs: 12, Soft: 1<<63 - 1}, "12/unlimited"},
	} {
		if got := FDsColumn(tc.h); got != tc.want {
			t.Errorf("FDsColumn(%+v) = %q, want %q", tc.h, got, tc.want)
		}
	}
}

// TestStatusWithHosts: a node out of descriptors is diagnosed in place of
// "unreachable"; a live node's row carries its descriptors and capacity.
func TestStatusWithHosts(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	s1 := snap("n1")
	s1.Varz.Connections, s1.Varz.MaxConnections = 19000, 65536
	snaps := map[string]*monitor.Snapshot{"n1": s1, "n2": {URL: "http://n2:8222", Errs: map[string]error{"varz": errTest}}, "n3": snap("n3")}
	hosts := map[string]*HostReading{
		"n1": {Reached: true, PID: 10, State: "S", FDs: 19040, Soft: 20000, Hard: 20000, Listening: []int{4222, 8222}},
		"n2": {Reached: true, PID: 20, State: "S", FDs: 20000, Soft: 20000, Hard: 20000, Listening: []int{4222, 8222}},
		"n3": {Note: NoteMonitorOnly},
	}
	f := Status(inv, inv.Nodes, snaps, hosts)
	if f.Healthy || !strings.Contains(codes(f.Reasons), "n2:out-of-fds") || strings.Contains(codes(f.Reasons), "n2:unreachable") {
		t.Fatalf("reasons: %v", f.Reasons)
	}
	r1 := f.Nodes[0]
	if r1.FDs != "19040/20000" || r1.FDsOpen != 19040 || r1.FDsSoft != 20000 || r1.Capacity != 20000-119 || r1.CapacityLimit != "fds" || r1.PID != 10 {
		t.Errorf("n1 row: %+v", r1)
	}
	if r2 := f.Nodes[1]; r2.Diagnosis != ReasonOutOfFDs || r2.Reachable {
		t.Errorf("n2 row: %+v", r2)
	}
	if r3 := f.Nodes[2]; r3.FDs != "-(monitor-only)" || r3.HostNote != NoteMonitorOnly || r3.Capacity != 0 || r3.CapacityLimit != "max_connections" {
		t.Errorf("n3 row: %+v", r3)
	}
}

// TestCheckGradesCapacityAndFDs: one row per threshold case.
func TestCheckGradesCapacityAndFDs(t *testing.T) {
	th := Thresholds{WarnConnPct: 80, CritConnPct: 95, WarnFDsPct: 80, CritFDsPct: 90, WarnSlow: 1, CritSlow: 100}
	row := func(conns, capacity, maxConns, fds int, soft int64) NodeStatus {
		return NodeStatus{Node: "n1", Reachable: true, Version: "2.15.2", Connections: conns, MaxConns: maxConns, Capacity: capacity, CapacityLimit: "fds", Reserve: 119, FDsOpen: fds, FDsSoft: soft}
	}
	for _, tc := range []struct {
		name  string
		n     NodeStatus
		want  string // severity:code, space separated
		connP float64
		fdsP  float64
		read  int // nodes with an fd reading (0: fds_used unknown)
	}{
		{"idle", row(10, 19881, 65536, 50, 20000), "", 100 * 10.0 / 19881, 0.25, 1},
		{"the seed: 19000 conns, 29% of max_connections but 96% of capacity and 95% fds", row(19000, 19881, 65536, 19040, 20000), "critical:fds critical:connections", 100 * 19000.0 / 19881, 95.2, 1},
		{"fds warning only", row(100, 19881, 65536, 16500, 20000), "warning:fds", 100 * 100.0 / 19881, 82.5, 1},
		{"connections warning against capacity", row(16000, 19881, 65536, 16100, 40000), "warning:connections", 100 * 16000.0 / 19881, 40.25, 1},
		{"no host reading: graded against max_connections", NodeStatus{Node: "n1", Reachable: true, Connections: 60000, MaxConns: 65536}, "warning:connections", 100 * 60000.0 / 65536, 0, 0},
		{"unreachable with fds at the limit: fds still graded", NodeStatus{Node: "n1", FDsOpen: 20000, FDsSoft: 20000}, "critical:fds", 0, 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(&Fleet{Nodes: []NodeStatus{tc.n}, Reasons: []Reason{}}, th)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Severity+":"+p.Code)
				if p.Code == "fds" && !strings.HasSuffix(p.Message, "raise [tune] nofile, run natsops tune, then natsops restart --node n1") {
					t.Errorf("fds problem without its fix: %q", p.Message)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("problems %v, want %q", v.Problems, tc.want)
			}
			if diff := v.MaxConnP - tc.connP; diff > 0.01 || diff < -0.01 {
				t.Errorf("MaxConnP %.2f, want %.2f", v.MaxConnP, tc.connP)
			}
			if diff := v.FDsP - tc.fdsP; diff > 0.01 || diff < -0.01 {
				t.Errorf("FDsP %.2f, want %.2f", v.FDsP, tc.fdsP)
			}
			if v.FDsRead != tc.read {
				t.Errorf("FDsRead %d, want %d", v.FDsRead, tc.read)
			}
		})
	}
}

var errTest = errors.New("connection refused")

// TestStatusForeignMonitorOnly: without a host reading, a port that
// answers but is not nats-server's monitoring is foreign-process (reason
// and row), said as "not a nats-server monitoring endpoint".
func TestStatusForeignMonitorOnly(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	foreign := fmt.Errorf("GET http://n2:8222/varz: %w", &monitor.NotMonitoringError{What: "a NATS client port answers (it greets with INFO)"})
	snaps := map[string]*monitor.Snapshot{"n1": snap("n1"), "n2": {URL: "http://n2:8222", Errs: map[string]error{"varz": foreign, "healthz": foreign}}, "n3": snap("n3")}
	f := Status(inv, inv.Nodes, snaps, map[string]*HostReading{"n2": {Note: NoteMonitorOnly}})
	if !strings.Contains(codes(f.Reasons), "n2:foreign-process") || strings.Contains(codes(f.Reasons), "n2:unreachable") {
		t.Fatalf("reasons: %v", f.Reasons)
	}
	for _, r := range f.Reasons {
		if r.Node == "n2" && r.Code == ReasonForeign && !strings.Contains(r.Msg, "is not a nats-server monitoring endpoint") {
			t.Errorf("n2: %s", r.Msg)
		}
	}
	if r2 := f.Nodes[1]; r2.Diagnosis != ReasonForeign {
		t.Errorf("n2 row: %+v", r2)
	}
}
