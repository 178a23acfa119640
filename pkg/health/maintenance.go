package health

import (
	"fmt"
	"strings"
	"time"
)

// Rollout is a rollout that holds a cluster's lock, as check reports it:
// who holds the lock and since when, the operation, the nodes it has
// done and the node it works on (Node, since NodeSince; "" between
// nodes). Stale: the lock is older than natsops's stale age or
// unreadable, so its rollout is probably gone and nothing is excused.
type Rollout struct {
	Cluster   string    `json:"cluster,omitempty"`
	ID        string    `json:"id,omitempty"`
	Holder    string    `json:"holder"`
	PID       int       `json:"pid,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Operation string    `json:"operation,omitempty"`
	Node      string    `json:"node,omitempty"`
	NodeSince time.Time `json:"node_since,omitzero"`
	Done      []string  `json:"done"`
	Stale     bool      `json:"stale"`
	// ReadOn is the node whose lock file said so.
	ReadOn string `json:"read_on"`
}

// Problem codes a rollout in progress adds.
const (
	CodeRollout      = "rollout-in-progress"
	CodeRolloutStale = "rollout-lock-stale"
	// CodeMaintenance marks a problem of the node a rollout works on,
	// lowered from critical to warning.
	CodeMaintenance = "maintenance"
)

// Maintenance is verdict v with the rollouts rs (one per cluster whose
// lock is held) reported: each is a warning of its own (who, since when,
// which node); the critical problems of the node a live rollout works on
// (it stops that node on purpose) become warnings with a "maintenance:"
// note, as do the other nodes' missing routes to that node alone and
// their stream replicas catching up. A stale lock excuses nothing: it is
// a warning beside whatever pages. Pure.
func Maintenance(v Verdict, rs []Rollout) Verdict {
	if len(rs) == 0 {
		return v
	}
	v.Rollouts = rs
	probs := append([]Problem{}, v.Problems...)
	for _, r := range rs {
		where := "cluster"
		if r.Cluster != "" {
			where = "cluster " + r.Cluster
		}
		if r.Stale {
			probs = append(probs, Problem{Warning, where, CodeRolloutStale, fmt.Sprintf("a stale rollout lock is held by %s: if that rollout is not running, the next rollout must pass --break-lock", r.who())})
			continue
		}
		probs = append(probs, Problem{Warning, where, CodeRollout, r.describe()})
		if r.Node == "" {
			continue
		}
		for i, p := range probs {
			if p.Severity == Critical && excused(p, r.Node) {
				probs[i].Severity = Warning
				probs[i].Message = fmt.Sprintf("maintenance (%s of rollout %s is working on %s): %s", r.Operation, r.ID, r.Node, p.Message)
			}
		}
	}
	sortProblems(probs)
	v.Problems = probs
	return v
}

// excused reports whether critical problem p is what a rollout working
// on node causes: node's own problems, another node's missing route to
// node alone, or stream/consumer replicas catching up (the /healthz
// reasons CatchingUp accepts).
func excused(p Problem, node string) bool {
	if p.Node == node {
		return true
	}
	switch p.Code {
	case ReasonRoutes:
		return strings.HasPrefix(p.Message, "no route to "+node+" (")
	case ReasonHealthz:
		rest, ok := strings.CutPrefix(p.Message, "/healthz: ")
		if !ok {
			return false
		}
		for _, r := range strings.Split(rest, "; ") {
			if !(strings.HasPrefix(r, "JetStream stream '") || strings.HasPrefix(r, "JetStream consumer '")) || !strings.HasSuffix(r, "' is not current") {
				return false
			}
		}
		return true
	}
	return false
}

func (r Rollout) who() string {
	s := r.Holder
	if r.PID > 0 {
		s += fmt.Sprintf(" (pid %d)", r.PID)
	}
	if !r.Since.IsZero() {
		s += " since " + r.Since.UTC().Format(time.RFC3339)
	}
	return s
}

func (r Rollout) describe() string {
	op := r.Operation
	if op == "" {
		op = "a rollout"
	}
	s := fmt.Sprintf("%s in progress by %s", op, r.who())
	if r.Node != "" {
		s += fmt.Sprintf(", working on %s since %s", r.Node, r.NodeSince.UTC().Format(time.RFC3339))
	} else {
		s += ", between nodes"
	}
	if len(r.Done) > 0 {
		s += "; done: " + strings.Join(r.Done, ", ")
	}
	return s
}
