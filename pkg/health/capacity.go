package health

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// HostReading is what a node's host says about its running nats-server:
// the process, its open descriptors and "Max open files" limits
// (/proc/<pid>/fd, /proc/<pid>/limits), and the TCP ports it listens on.
// A host that was not read carries Note saying why.
type HostReading struct {
	// Reached: the host answered the probe (PID may still be 0: no
	// server runs).
	Reached bool `json:"reached"`
	PID     int  `json:"pid,omitempty"`
	// State is the first letter of /proc/<pid>/status State: R, S, D,
	// T (stopped), t (traced), Z (zombie).
	State string `json:"state,omitempty"`
	FDs   int    `json:"fds_open"`
	Soft  int64  `json:"fds_soft_limit"`
	Hard  int64  `json:"fds_hard_limit"`
	// Listening are the TCP ports the process listens on (nil: unknown).
	Listening []int `json:"listening,omitempty"`
	// Service is what the service manager says when no process runs
	// (e.g. "systemd: nats-server.service is inactive dead exit-code");
	// Down: it says no server runs (not just that it cannot tell).
	Service string `json:"service,omitempty"`
	Down    bool   `json:"service_down,omitempty"`
	// PortOwnerPID and PortOwner are the process listening on the node's
	// monitoring port (its pid and command line), when the probe read it:
	// the node's nats-server (PID) or another process.
	PortOwnerPID int    `json:"port_owner_pid,omitempty"`
	PortOwner    string `json:"port_owner,omitempty"`
	// Note is why there is no reading of the process: "monitor-only",
	// "ssh: ...", "no pid", "probe: ...".
	Note string `json:"note,omitempty"`
}

// Notes a HostReading carries when it has no process.
const (
	NoteMonitorOnly = "monitor-only"
	NoteNoPID       = "no pid"
)

// Running reports a reading of a live process (not a zombie).
func (h *HostReading) Running() bool {
	return h != nil && h.Reached && h.PID > 0 && h.State != "Z"
}

// UnlimitedFDs: a limit this high ("unlimited") bounds nothing.
const UnlimitedFDs = 1 << 40

// Descriptor reserve: what nats-server needs for itself besides its
// client connections. The static estimate, from the inventory, is
//
//	reserveBase         stdio, the log file, epoll and the Go runtime's own
//	+ 1 per listener    client, http(s), cluster (clustered), websocket
//	+ routes            peers × (pool_size + 1): pool_size routes (3 by
//	                    default, 1 before 2.10, 1 with pool_size -1) plus the
//	                    system account's pinned route
//	+ reserveJetStream  JetStream's store: the meta group's and streams'
//	                    files (2 per stream upstream says; a budget, since
//	                    the stream count is not in the inventory)
//	+ reserveMonitor    concurrent :8222 readers (natsops, Prometheus)
//
// The measured reserve is what the server holds now beyond its clients
// (descriptors open − client connections): it catches what the inventory
// cannot say (many streams, leafnodes, sockets accepted but not yet
// connected). The reserve is the larger of the two, plus reserveMargin.
const (
	reserveBase      = 8
	reserveJetStream = 64
	reserveMonitor   = 4
	reserveMargin    = 32
	defaultPoolSize  = 3
)

// StaticReserve is the descriptors node n of inv needs besides clients,
// estimated from the inventory alone (see the reserve constants). Pure.
func StaticReserve(inv *cluster.Inventory, n *cluster.Node) int {
	r := reserveBase + reserveMonitor
	r += 2 // client and monitoring listeners
	if inv.Clustered() {
		r++ // cluster listener
		pool := defaultPoolSize
		if p := inv.File.Cluster.PoolSize; p != nil {
			pool = max(*p, 1)
		}
		if v, ok := cluster.ParseVersion(n.Service.NATSVersion); ok && v.Less(cluster.Version{Major: 2, Minor: 10}) {
			pool = 0 // one route per peer, no pinned system account route
		}
		r += len(inv.Peers(n)) * (pool + 1)
	}
	if n.Server.Websocket != nil {
		r++
	}
	if n.JetStreamEnabled() {
		r += reserveJetStream
	}
	return r
}

// Capacity is how many client connections a node can really take.
type Capacity struct {
	// Capacity = min(max_connections, fd soft limit − Reserve); just
	// max_connections when the limit is unknown.
	Capacity int `json:"capacity"`
	// Reserve is max(Static, Measured) + reserveMargin.
	Reserve  int `json:"reserve"`
	Static   int `json:"reserve_static"`
	Measured int `json:"reserve_measured"`
	// Limit names what bounds it: "max_connections" or "fds".
	Limit string `json:"capacity_limit"`
}

// CapacityOf is the connection capacity of a node with max_connections
// maxConns, the static reserve static, a host reading h (nil: unknown)
// and conns client connections now (the measured reserve is h.FDs −
// conns; conns < 0: unknown). Pure.
func CapacityOf(maxConns, static int, h *HostReading, conns int) Capacity {
	c := Capacity{Capacity: maxConns, Static: static, Limit: "max_connections"}
	if !h.Running() || h.Soft <= 0 {
		c.Reserve = static + reserveMargin
		return c
	}
	if conns >= 0 && h.FDs > conns {
		c.Measured = h.FDs - conns
	}
	c.Reserve = max(c.Static, c.Measured) + reserveMargin
	if h.Soft >= UnlimitedFDs {
		return c
	}
	byFDs := max(int(h.Soft)-c.Reserve, 0)
	if byFDs < maxConns {
		c.Capacity, c.Limit = byFDs, "fds"
	}
	return c
}

// Diagnosis reason codes: why a node's :8222 does not answer, from its
// host reading.
const (
	ReasonOutOfFDs   = "out-of-fds"
	ReasonNotRunning = "not-running"
	ReasonStopped    = "stopped"
	ReasonWrongPort  = "wrong-port"
	// ReasonForeign: another process than the node's nats-server holds
	// its monitoring port, or what answers there is not nats-server's
	// monitoring endpoint.
	ReasonForeign = "foreign-process"
)

// outOfFDsSlack: a silent server this close to its limit is out of
// descriptors. At the limit, every descriptor a leaving client frees is
// taken at once by the next accept (clients reconnect in storms), so the
// probe, a moment apart from the :8222 reading, may see a few short.
const outOfFDsSlack = 8

// monitorDown reports a snapshot whose monitoring endpoint did not answer.
func monitorDown(s *monitor.Snapshot) bool {
	return s == nil || s.Varz == nil && s.Healthz == nil
}

// Diagnose says why node n's monitoring endpoint does not answer, from
// its host reading: out of descriptors, not running, stopped (SIGSTOP),
// or listening elsewhere than the inventory's http_port. It returns false
// when :8222 answers or the host reading explains nothing (the node stays
// "unreachable"). Pure.
func Diagnose(n *cluster.Node, s *monitor.Snapshot, h *HostReading) (Reason, bool) {
	if !monitorDown(s) || h == nil || !h.Reached {
		return Reason{}, false
	}
	r := Reason{Node: n.Name}
	switch {
	case h.PortOwnerPID > 0 && h.PortOwnerPID != h.PID:
		r.Code = ReasonForeign
		server := "the node's nats-server runs as pid " + strconv.Itoa(h.PID)
		if !h.Running() {
			server = "the node's nats-server is not running"
			if h.Service != "" {
				server += " (" + h.Service + ")"
			}
		}
		r.Msg = fmt.Sprintf("port %d is held by another process, pid %d (%s), not by nats-server's monitoring; %s: stop that process or move it off the port, then natsops restart --node %s --force", MonitorPort(n), h.PortOwnerPID, orUnknown(h.PortOwner), server, n.Name)
	case !h.Running() && !h.Down && h.State != "Z":
		return Reason{}, false // no process found, and nothing says none runs
	case !h.Running():
		r.Code = ReasonNotRunning
		why := h.Service
		if h.PID > 0 {
			why = fmt.Sprintf("pid %d is a zombie", h.PID)
		}
		if why == "" {
			why = "no process found"
		}
		r.Msg = fmt.Sprintf("nats-server is not running (%s): start it with natsops restart --node %s --force, and read its log for why it stopped", why, n.Name)
	case h.State == "T" || h.State == "t":
		r.Code = ReasonStopped
		r.Msg = fmt.Sprintf("nats-server (pid %d) is stopped (SIGSTOP, state %s): it holds its connections but answers nothing; send SIGCONT: kill -CONT %d", h.PID, h.State, h.PID)
	case h.Soft > 0 && int64(h.FDs) >= h.Soft-outOfFDsSlack:
		r.Code = ReasonOutOfFDs
		r.Msg = fmt.Sprintf("out of file descriptors (%d of %d open): clients and monitoring are refused; raise [tune] nofile, run natsops tune, then natsops restart --node %s --force", h.FDs, h.Soft, n.Name)
	case h.Listening != nil && !containsInt(h.Listening, MonitorPort(n)):
		r.Code = ReasonWrongPort
		r.Msg = fmt.Sprintf("nats-server (pid %d) runs but listens on %s, not on the inventory's monitoring port %d: it runs another config; deploy this one (natsops deploy) or fix the inventory's http_port", h.PID, portList(h.Listening), MonitorPort(n))
	default:
		return Reason{}, false
	}
	return r, true
}

// MonitorPort is node n's monitoring port (https_port, else http_port;
// 0 when neither is set).
func MonitorPort(n *cluster.Node) int {
	if p := n.Server.HTTPSPort; p != nil {
		return *p
	}
	if p := n.Server.HTTPPort; p != nil {
		return *p
	}
	return 0
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func portList(ports []int) string {
	if len(ports) == 0 {
		return "no TCP port"
	}
	s := append([]int(nil), ports...)
	sort.Ints(s)
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = strconv.Itoa(p)
	}
	return "port " + strings.Join(parts, ", ")
}

// FDsColumn is the FDS column of `natsops status`: "open/soft", or
// "-(why)" when the host was not read.
func FDsColumn(h *HostReading) string {
	switch {
	case h == nil:
		return "-(not read)"
	case h.Note != "":
		return "-(" + h.Note + ")"
	case !h.Running():
		return "-(not running)"
	case h.Soft >= UnlimitedFDs:
		return fmt.Sprintf("%d/unlimited", h.FDs)
	}
	return fmt.Sprintf("%d/%d", h.FDs, h.Soft)
}

func orUnknown(s string) string {
	if s == "" {
		return "command line unknown"
	}
	return s
}
