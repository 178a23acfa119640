package health

import (
	"fmt"
	"sort"
	"strings"

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
}

// Fleet is the selected nodes of one reading, and every reason the
// cluster (or, for a selection, those nodes) is not healthy.
type Fleet struct {
	Inventory string       `json:"inventory"`
	Healthy   bool         `json:"healthy"`
	Nodes     []NodeStatus `json:"nodes"`
	Reasons   []Reason     `json:"reasons"`
}

// Status judges a reading of every inventory node (snapshots named with
// monitor.NameRoutes) for the selected nodes: the whole cluster when all
// are selected, else each selected node on its own. Pure.
func Status(inv *cluster.Inventory, nodes []*cluster.Node, snaps map[string]*monitor.Snapshot) *Fleet {
	f := &Fleet{Inventory: inv.Path, Reasons: []Reason{}}
	if len(nodes) == len(inv.Nodes) {
		f.Reasons = append(f.Reasons, ClusterReady(inv, snaps)...)
	} else {
		for _, n := range nodes {
			f.Reasons = append(f.Reasons, NodeReady(n.Name, snaps[n.Name], ExpectFor(inv, n))...)
		}
	}
	sort.SliceStable(f.Reasons, func(i, j int) bool { return f.Reasons[i].Node < f.Reasons[j].Node })
	f.Healthy = len(f.Reasons) == 0
	leader := MetaLeader(snaps)
	for _, n := range nodes {
		s := snaps[n.Name]
		row := NodeStatus{Node: n.Name, RoutesWant: len(inv.Nodes) - 1, JetStream: "off"}
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
		}
		if s.Routez != nil {
			row.RoutesSeen = len(s.Routez.Peers())
		}
		if s.Healthz != nil {
			row.Healthz = s.Healthz.Status
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

// Thresholds are `natsops check`'s limits.
type Thresholds struct {
	WarnConnPct, CritConnPct float64
	WarnSlow, CritSlow       int64
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

// Verdict is a check's outcome: the problems, worst first, and the
// highest share of max_connections in use.
type Verdict struct {
	Problems []Problem `json:"problems"`
	Nodes    int       `json:"nodes"`
	MaxConnP float64   `json:"max_connections_used_percent"`
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
	v := Verdict{Nodes: len(f.Nodes), Problems: []Problem{}}
	for _, r := range f.Reasons {
		v.Problems = append(v.Problems, Problem{Critical, r.Node, r.Code, r.Msg})
	}
	versions := map[string][]string{}
	for _, n := range f.Nodes {
		if !n.Reachable {
			continue
		}
		versions[n.Version] = append(versions[n.Version], n.Node)
		if n.MaxConns > 0 {
			pct := 100 * float64(n.Connections) / float64(n.MaxConns)
			v.MaxConnP = max(v.MaxConnP, pct)
			msg := fmt.Sprintf("%d of %d connections (%.0f%%)", n.Connections, n.MaxConns, pct)
			switch {
			case pct >= t.CritConnPct:
				v.Problems = append(v.Problems, Problem{Critical, n.Node, "connections", msg})
			case pct >= t.WarnConnPct:
				v.Problems = append(v.Problems, Problem{Warning, n.Node, "connections", msg})
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
		for _, ver := range sortedKeys(versions) {
			parts = append(parts, ver+" on "+strings.Join(versions[ver], ","))
		}
		v.Problems = append(v.Problems, Problem{Warning, "cluster", "version-skew", "nodes run different versions: " + strings.Join(parts, "; ")})
	}
	sort.SliceStable(v.Problems, func(i, j int) bool { return v.Problems[i].Severity < v.Problems[j].Severity })
	return v
}
