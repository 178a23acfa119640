package health

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// NodeStatus is one node as `natsops status` shows it.
type NodeStatus struct {
	Node          string  `json:"node"`
	URL           string  `json:"url"`
	Reachable     bool    `json:"reachable"`
	Version       string  `json:"version,omitempty"`
	Uptime        string  `json:"uptime,omitempty"`
	Connections   int     `json:"connections"`
	MaxConns      int     `json:"max_connections"`
	SlowConsumers int64   `json:"slow_consumers"`
	RoutesSeen    int     `json:"routes_seen"`
	RoutesWant    int     `json:"routes_expected"`
	JetStream     string  `json:"jetstream"` // leader, follower, off, unknown
	MemBytes      int64   `json:"mem_bytes"`
	CPU           float64 `json:"cpu_percent"`
	Healthz       string  `json:"healthz,omitempty"`
	// From the host (HostReading): the process, its descriptors and
	// limits; HostNote says why there is none.
	PID       int    `json:"pid,omitempty"`
	FDs       string `json:"fds"` // the FDS column: open/soft, or -(why)
	FDsOpen   int    `json:"fds_open"`
	FDsSoft   int64  `json:"fds_soft_limit"`
	FDsHard   int64  `json:"fds_hard_limit"`
	Listening []int  `json:"listening,omitempty"`
	HostNote  string `json:"host_note,omitempty"`
	// Capacity is the client connections the node can take:
	// min(max_connections, fd soft limit − reserve) (CapacityOf).
	Capacity      int    `json:"capacity"`
	CapacityLimit string `json:"capacity_limit,omitempty"`
	Reserve       int    `json:"fds_reserve"`
	// Diagnosis is the reason code of why :8222 does not answer, when the
	// host says (Diagnose): out-of-fds, not-running, stopped, wrong-port.
	Diagnosis string `json:"diagnosis,omitempty"`
	// JetStream's use of its limits, from /jsz (0 limits: not read, or
	// JetStream off): bytes in memory and on disk, and the server's
	// max_memory and max_storage.
	JSMemory    uint64 `json:"js_memory_bytes,omitempty"`
	JSMaxMemory int64  `json:"js_max_memory_bytes,omitempty"`
	JSStore     uint64 `json:"js_storage_bytes,omitempty"`
	JSMaxStore  int64  `json:"js_max_storage_bytes,omitempty"`
}

// Fleet is the selected nodes of one reading, and every reason the
// cluster (or, for a selection, those nodes) is not healthy.
type Fleet struct {
	Inventory string `json:"inventory"`
	// Cluster names the cluster of an estate ("" in a file of one).
	Cluster string       `json:"cluster,omitempty"`
	Healthy bool         `json:"healthy"`
	Nodes   []NodeStatus `json:"nodes"`
	Reasons []Reason     `json:"reasons"`
}

// Status judges a reading of every inventory node (snapshots named with
// monitor.NameRoutes) for the selected nodes: the whole cluster when all
// are selected, else each selected node on its own. hosts are the
// selected nodes' host readings (nil, or a node missing: not read): a
// node whose :8222 does not answer is diagnosed from its host (Diagnose)
// instead of reported "unreachable". Pure.
func Status(inv *cluster.Inventory, nodes []*cluster.Node, snaps map[string]*monitor.Snapshot, hosts map[string]*HostReading) *Fleet {
	f := &Fleet{Inventory: inv.Path, Reasons: []Reason{}}
	if inv.Estate != nil && inv.Estate.Multi {
		f.Cluster = inv.ClusterName()
	}
	if len(nodes) == len(inv.Nodes) {
		f.Reasons = append(f.Reasons, ClusterReady(inv, snaps)...)
		// The estate's gateways and leaf connections, once per node and
		// code (a node down is already said so).
		seen := map[[2]string]bool{}
		for _, r := range f.Reasons {
			seen[[2]string{r.Node, r.Code}] = true
		}
		for _, r := range EstateReady(inv, snaps) {
			if k := [2]string{r.Node, r.Code}; !seen[k] {
				seen[k] = true
				f.Reasons = append(f.Reasons, r)
			}
		}
	} else {
		for _, n := range nodes {
			f.Reasons = append(f.Reasons, NodeReady(n.Name, snaps[n.Name], ExpectFor(inv, n))...)
		}
	}
	diagnosis := map[string]string{}
	for _, n := range nodes {
		if d, ok := Diagnose(n, snaps[n.Name], hosts[n.Name]); ok {
			diagnosis[n.Name] = d.Code
			f.Reasons = replaceUnreachable(f.Reasons, d)
		} else if s := snaps[n.Name]; monitorDown(s) && s != nil && errors.Is(s.Err(), monitor.ErrNotMonitoring) {
			diagnosis[n.Name] = ReasonForeign
		}
	}
	if f.Cluster != "" {
		for i := range f.Reasons {
			if f.Reasons[i].Node == "cluster" {
				f.Reasons[i].Node = "cluster " + f.Cluster
			}
		}
	}
	sort.SliceStable(f.Reasons, func(i, j int) bool { return f.Reasons[i].Node < f.Reasons[j].Node })
	f.Healthy = len(f.Reasons) == 0
	leader := MetaLeader(snaps)
	for _, n := range nodes {
		s := snaps[n.Name]
		row := NodeStatus{Node: n.Name, RoutesWant: len(inv.Nodes) - 1, JetStream: "off", Diagnosis: diagnosis[n.Name]}
		h := hosts[n.Name]
		row.FDs = FDsColumn(h)
		switch {
		case h == nil:
			row.HostNote = "not read"
		case h.Note != "":
			row.HostNote = h.Note
		case !h.Running():
			row.HostNote = "not running"
		}
		if h.Running() {
			row.PID, row.FDsOpen, row.FDsSoft, row.FDsHard, row.Listening = h.PID, h.FDs, h.Soft, h.Hard, h.Listening
		}
		switch {
		case ClusteredJetStream(inv, n):
			row.JetStream = "unknown"
		case n.JetStreamEnabled():
			row.JetStream = "standalone"
		}
		if s == nil {
			f.Nodes = append(f.Nodes, row)
			continue
		}
		row.URL = s.URL
		if v := s.Varz; v != nil {
			row.Reachable = true
			row.Version, row.Uptime = v.Version, v.Uptime
			row.Connections, row.MaxConns, row.SlowConsumers = v.Connections, v.MaxConnections, v.SlowConsumers
			row.MemBytes, row.CPU = v.Mem, v.CPU
			c := CapacityOf(v.MaxConnections, StaticReserve(inv, n), h, v.Connections)
			row.Capacity, row.CapacityLimit, row.Reserve = c.Capacity, c.Limit, c.Reserve
		}
		if s.Routez != nil {
			row.RoutesSeen = len(s.Routez.Peers())
		}
		if s.Healthz != nil {
			row.Healthz = s.Healthz.Status
		}
		if j := s.Jsz; j != nil && !j.Disabled {
			row.JSMemory, row.JSMaxMemory, row.JSStore, row.JSMaxStore = j.Memory, j.Config.MaxMemory, j.Store, j.Config.MaxStore
		}
		if n.JetStreamEnabled() && s.Jsz != nil && s.Jsz.Meta != nil {
			switch {
			case leader == n.Name:
				row.JetStream = "leader"
			case s.Jsz.Meta.Leader != "":
				row.JetStream = "follower"
			}
		}
		f.Nodes = append(f.Nodes, row)
	}
	return f
}

// replaceUnreachable puts the diagnosis d in place of d.Node's
// "unreachable" reason (or adds it).
func replaceUnreachable(rs []Reason, d Reason) []Reason {
	for i, r := range rs {
		if r.Node == d.Node && (r.Code == ReasonUnreachable || r.Code == ReasonForeign) {
			rs[i] = d
			return rs
		}
	}
	return append(rs, d)
}

// Thresholds are `natsops check`'s limits.
type Thresholds struct {
	// Connections in percent of the capacity (min(max_connections, fd
	// soft limit − reserve)).
	WarnConnPct, CritConnPct float64
	// Open descriptors in percent of the fd soft limit.
	WarnFDsPct, CritFDsPct float64
	WarnSlow, CritSlow     int64
	// JetStream memory and storage in use, in percent of the server's
	// max_memory and max_storage (natscli's server check jetstream:
	// 75 and 90).
	WarnJSPct, CritJSPct float64
	// AllowVersionSkew: nodes on different versions (an upgrade) are no
	// warning.
	AllowVersionSkew bool
}

// Problem is one finding of a check.
type Problem struct {
	Severity string `json:"severity"` // critical, warning
	Node     string `json:"node"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// Severities of a check's problems.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Verdict is a check's outcome: the problems, worst first, the highest
// share of a node's connection capacity in use, and the highest share of
// a node's fd soft limit open.
type Verdict struct {
	Problems []Problem `json:"problems"`
	Nodes    int       `json:"nodes"`
	MaxConnP float64   `json:"max_connections_used_percent"`
	FDsP     float64   `json:"fds_used_percent"`
	// FDsRead is how many nodes had a reading of their descriptors and
	// soft limit (0: FDsP is unknown, not 0%: --monitor-only, no host
	// reached).
	FDsRead int `json:"fds_read_nodes"`
	// JSMemP and JSStoreP are the highest share of a node's JetStream
	// max_memory and max_storage in use; JSRead is how many nodes had
	// a JetStream reading (0: both unknown, not 0%).
	JSMemP   float64 `json:"js_memory_used_percent"`
	JSStoreP float64 `json:"js_storage_used_percent"`
	JSRead   int     `json:"js_read_nodes"`
	// Rollouts are the rollouts holding a cluster's lock (Maintenance):
	// the node each works on is in maintenance, not paged for.
	Rollouts []Rollout `json:"rollouts"`
}

// Worst is the verdict's worst severity: Critical, Warning, or "" (OK).
func (v Verdict) Worst() string {
	worst := ""
	for _, p := range v.Problems {
		if p.Severity == Critical {
			return Critical
		}
		worst = Warning
	}
	return worst
}

// Check applies thresholds to a fleet status: every reason it is not
// healthy is critical; connections, slow consumers and version skew are
// graded by t. Pure.
func Check(f *Fleet, t Thresholds) Verdict {
	v := Verdict{Nodes: len(f.Nodes), Problems: []Problem{}, Rollouts: []Rollout{}}
	for _, r := range f.Reasons {
		v.Problems = append(v.Problems, Problem{Critical, r.Node, r.Code, r.Msg})
	}
	versions := map[string][]string{}
	for _, n := range f.Nodes {
		if n.FDsSoft > 0 && n.FDsSoft < UnlimitedFDs {
			pct := 100 * float64(n.FDsOpen) / float64(n.FDsSoft)
			v.FDsP = max(v.FDsP, pct)
			v.FDsRead++
			msg := fmt.Sprintf("%d of %d file descriptors open (%.0f%% of the soft limit): raise [tune] nofile, run natsops tune, then natsops restart --node %s", n.FDsOpen, n.FDsSoft, pct, n.Node)
			switch {
			case pct >= t.CritFDsPct:
				v.Problems = append(v.Problems, Problem{Critical, n.Node, "fds", msg})
			case pct >= t.WarnFDsPct:
				v.Problems = append(v.Problems, Problem{Warning, n.Node, "fds", msg})
			}
		}
		if !n.Reachable {
			continue
		}
		versions[n.Version] = append(versions[n.Version], n.Node)
		if capacity := n.capacity(); capacity > 0 || n.MaxConns > 0 {
			pct := 100.0
			if capacity > 0 {
				pct = 100 * float64(n.Connections) / float64(capacity)
			}
			v.MaxConnP = max(v.MaxConnP, pct)
			msg := fmt.Sprintf("%d of %d connections (%.0f%%)", n.Connections, capacity, pct)
			if capacity < n.MaxConns {
				msg = fmt.Sprintf("%d of %d connections (%.0f%%; capacity: fd soft limit %d − %d reserved, below max_connections %d)", n.Connections, capacity, pct, n.FDsSoft, n.Reserve, n.MaxConns)
			}
			switch {
			case pct >= t.CritConnPct:
				v.Problems = append(v.Problems, Problem{Critical, n.Node, "connections", msg})
			case pct >= t.WarnConnPct:
				v.Problems = append(v.Problems, Problem{Warning, n.Node, "connections", msg})
			}
		}
		if n.JSMaxMemory > 0 || n.JSMaxStore > 0 {
			v.JSRead++
		}
		for _, js := range []struct {
			code, what, limit string
			used              uint64
			max               int64
			p                 *float64
		}{
			{"js-memory", "memory", "max_memory", n.JSMemory, n.JSMaxMemory, &v.JSMemP},
			{"js-storage", "storage", "max_file", n.JSStore, n.JSMaxStore, &v.JSStoreP},
		} {
			if js.max <= 0 {
				continue
			}
			pct := 100 * float64(js.used) / float64(js.max)
			*js.p = max(*js.p, pct)
			msg := fmt.Sprintf("JetStream %s %s of %s (%.0f%%): free space (purge or limit streams) or raise jetstream.%s in the inventory, then natsops deploy", js.what, text.Bytes(int64(js.used)), text.Bytes(js.max), pct, js.limit)
			switch {
			case pct >= t.CritJSPct:
				v.Problems = append(v.Problems, Problem{Critical, n.Node, js.code, msg})
			case pct >= t.WarnJSPct:
				v.Problems = append(v.Problems, Problem{Warning, n.Node, js.code, msg})
			}
		}
		msg := fmt.Sprintf("%d slow consumers since start", n.SlowConsumers)
		switch {
		case n.SlowConsumers >= t.CritSlow:
			v.Problems = append(v.Problems, Problem{Critical, n.Node, "slow-consumers", msg})
		case n.SlowConsumers >= t.WarnSlow:
			v.Problems = append(v.Problems, Problem{Warning, n.Node, "slow-consumers", msg})
		}
	}
	if len(versions) > 1 && !t.AllowVersionSkew {
		var parts []string
		for _, ver := range text.SortedKeys(versions) {
			parts = append(parts, ver+" on "+strings.Join(versions[ver], ","))
		}
		v.Problems = append(v.Problems, Problem{Warning, "cluster", "version-skew", "nodes run different versions: " + strings.Join(parts, "; ")})
	}
	sortProblems(v.Problems)
	return v
}

// sortProblems puts critical problems before warnings, keeping order.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Severity < ps[j].Severity })
}

// capacity is the row's connection capacity: Capacity, or max_connections
// for a row built without one.
func (n NodeStatus) capacity() int {
	if n.CapacityLimit == "" {
		return n.MaxConns
	}
	return n.Capacity
}

// Merge is one Fleet of several clusters' (an estate's, for check): every
// node and reason, healthy when each is.
func Merge(fs []*Fleet) *Fleet {
	out := &Fleet{Healthy: true, Reasons: []Reason{}}
	for _, f := range fs {
		out.Inventory = f.Inventory
		out.Healthy = out.Healthy && f.Healthy
		out.Nodes = append(out.Nodes, f.Nodes...)
		out.Reasons = append(out.Reasons, f.Reasons...)
	}
	return out
}
