package health

import (
	"slices"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// ReasonSSH: preflight could not reach a node's host over SSH.
const ReasonSSH = "ssh-unreachable"

// Preflight outcomes: what a rollout does with what preflight found.
const (
	// PreflightOK: every host reachable, the cluster healthy.
	PreflightOK = "ok"
	// PreflightForced: problems found, gone on with under --force (each
	// one a warning).
	PreflightForced = "forced"
	// PreflightUngated: problems found, but no node is stopped (a reload
	// or an install only), so they are no reason to refuse.
	PreflightUngated = "ungated"
	// PreflightRefused: problems found and a node would be stopped.
	PreflightRefused = "refused"
)

// PreflightInput is what a rollout's preflight judges, read before any
// node is touched: the cluster, the latest reading of every node, the
// hosts that could not be reached, and the rules the rollout runs under.
type PreflightInput struct {
	// Inventory is the cluster with every node the rollout knows, the
	// joining and the leaving ones included.
	Inventory *cluster.Inventory
	// Snaps are the latest readings: every inventory node's, and those of
	// the estate's nodes read along.
	Snaps map[string]*monitor.Snapshot
	// SSH says why a node's host could not be reached, by node name (a
	// node not in it was reached).
	SSH map[string]string
	// Joining are the nodes that are not members yet: the cluster is
	// judged without them. Leaving are the nodes the rollout removes: one
	// already down is judged without.
	Joining, Leaving []string
	// Dead are members down for good (a dead node being replaced): the
	// cluster is judged without them, and what the others report about
	// them (a meta or stream replica offline) is no reason to refuse.
	Dead []string
	// Estate is the estate's gate on the cluster as it stands (nil: a
	// cluster on its own).
	Estate func(cur *cluster.Inventory, snaps map[string]*monitor.Snapshot) []Reason
	// Stops: the rollout stops a node (a restart or a removal). Without,
	// no node goes down, and an unhealthy cluster is no reason to refuse.
	Stops bool
	// Force goes on whatever is found (--force).
	Force bool
}

// PreflightVerdict is what preflight decided, and what the gates after
// it need to know of the cluster as it was.
type PreflightVerdict struct {
	// Outcome is one of the Preflight constants.
	Outcome string
	// Reasons are every problem found: unreachable hosts first (in
	// inventory order), then the cluster's and the estate's.
	Reasons []Reason
	// Settle: refused for a cluster that a short wait may cure (a
	// replica a moment behind under traffic): read it again, bounded,
	// before the refusal stands. Never with a host unreachable, under
	// Force, or when no node stops: one reading decides those.
	Settle bool
	// Absent are the nodes the cluster is judged without: the joining
	// ones, and the leaving ones already down.
	Absent map[string]bool
	// Up are the nodes serving (answering /varz), the cluster's and the
	// ones read along.
	Up map[string]bool
	// Baseline are the problems gone on with (forced or ungated): a
	// later gate does not blame the changed node for them.
	Baseline Baseline
}

// Preflight judges a cluster before a rollout touches it. Pure.
func Preflight(in PreflightInput) PreflightVerdict {
	v := PreflightVerdict{Absent: map[string]bool{}, Up: map[string]bool{}, Baseline: Baseline{}}
	for _, n := range in.Joining {
		v.Absent[n] = true
	}
	for _, n := range in.Dead {
		v.Absent[n] = true
	}
	for _, n := range in.Leaving {
		if !serving(in.Snaps[n]) {
			v.Absent[n] = true
		}
	}
	for name, s := range in.Snaps {
		if serving(s) {
			v.Up[name] = true
		}
	}
	for _, n := range in.Inventory.Nodes {
		if why, ok := in.SSH[n.Name]; ok {
			v.Reasons = append(v.Reasons, Reason{Node: n.Name, Code: ReasonSSH, Msg: why})
		}
	}
	unreachable := len(v.Reasons) > 0
	cur := in.Inventory.Without(v.Absent)
	v.Reasons = append(v.Reasons, ClusterReady(cur, in.Snaps)...)
	if in.Estate != nil {
		v.Reasons = append(v.Reasons, in.Estate(cur, in.Snaps)...)
	}
	if len(in.Dead) > 0 {
		kept := v.Reasons[:0]
		for _, r := range v.Reasons {
			if !slices.Contains(in.Dead, r.Node) {
				kept = append(kept, r)
			}
		}
		v.Reasons = kept
	}
	switch {
	case len(v.Reasons) == 0:
		v.Outcome = PreflightOK
	case in.Force:
		v.Outcome = PreflightForced
	case !in.Stops:
		v.Outcome = PreflightUngated
	default:
		v.Outcome = PreflightRefused
		v.Settle = !unreachable
	}
	if in.Force || !in.Stops {
		v.Baseline = NewBaseline(v.Reasons)
	}
	return v
}

// serving: the node answers /varz.
func serving(s *monitor.Snapshot) bool { return s != nil && s.Varz != nil }

// Baseline are problems a rollout found at preflight and went on with,
// by node and reason code.
type Baseline map[string]bool

// NewBaseline is the baseline of rs.
func NewBaseline(rs []Reason) Baseline {
	b := Baseline{}
	for _, r := range rs {
		b[r.Node+"/"+r.Code] = true
	}
	return b
}

// Without drops from rs the problems of nodes other than node that were
// already there at preflight: node's own are always kept.
func (b Baseline) Without(node string, rs []Reason) []Reason {
	var out []Reason
	for _, x := range rs {
		if x.Node != node && b[x.Node+"/"+x.Code] {
			continue
		}
		out = append(out, x)
	}
	return out
}
