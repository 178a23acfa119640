package rollout

import (
	"fmt"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
)

// Order puts nodes already down first (starting them cannot make things
// worse), then the followers in inventory order, the JetStream meta leader
// last.
func Order(nodes []*cluster.Node, snaps fleet.Snapshots) []string {
	down := map[string]bool{}
	for _, n := range nodes {
		if !up(snaps[n.Name]) {
			down[n.Name] = true
		}
	}
	return decideOrder(orderInput{Nodes: names(nodes), Stops: true, Down: down, Leader: health.MetaLeader(snaps)}).Order
}

// orderInput is what a rollout's order is decided from.
type orderInput struct {
	// Nodes are the nodes to change, in inventory order.
	Nodes []string
	// Stops: a node is stopped (restarted or removed). Without, no node
	// goes down and the inventory order stands.
	Stops bool
	// Down are the nodes not answering; Leader is the JetStream meta
	// leader ("" none agreed on).
	Down   map[string]bool
	Leader string
	// Removed are the nodes that leave; Joining the ones not members of
	// the cluster yet (the nodes it is judged without).
	Removed, Joining map[string]bool
	// Found is a stopped rollout's state read with the lock (nil: none);
	// it is resumed by a run of the same Operation, within ResumeWithin
	// of Now and without NoResume.
	Found     *State
	Operation string
	Now       time.Time
	NoResume  bool
}

// orderDecision is a rollout's order and what of it is left to do.
type orderDecision struct {
	// Order is every node in the order the rollout takes them.
	Order []string
	// Todo are the nodes of Order left to do, Skipped the ones a resumed
	// rollout did already.
	Todo, Skipped []string
	// Resume: Found is resumed. NotResumed says why a Found is not ("").
	Resume     bool
	NotResumed string
}

// decideOrder orders the nodes: when a node stops, the removed ones
// first (they go before the others drop their routes), then those
// already down (starting them cannot make things worse), the followers
// in inventory order and the JetStream meta leader last, the joining
// ones after every member (the members take the new routes first);
// when none stops, inventory order. A resumed rollout skips the nodes
// it did. Pure.
func decideOrder(in orderInput) orderDecision {
	d := orderDecision{Order: append([]string(nil), in.Nodes...)}
	if in.Stops {
		d.Order = joinersLast(removedFirst(leaderLast(in.Nodes, in.Down, in.Leader), in.Removed), in.Joining)
	}
	d.Todo = d.Order
	if in.Found == nil {
		return d
	}
	var todo, skip []string
	for _, n := range d.Order {
		if _, done := in.Found.Done[n]; done {
			skip = append(skip, n)
		} else {
			todo = append(todo, n)
		}
	}
	switch {
	case in.NoResume:
		d.NotResumed = "--no-resume"
	case in.Found.Operation != in.Operation:
		d.NotResumed = "it was another operation"
	case in.Now.Sub(in.Found.Started) > ResumeWithin:
		d.NotResumed = fmt.Sprintf("it is older than %s", ResumeWithin)
	case len(todo) == 0:
		d.NotResumed = "it had done every node"
	default:
		d.Resume, d.Todo, d.Skipped = true, todo, skip
	}
	return d
}

// leaderLast puts the nodes down first, then the others in their order,
// the leader last.
func leaderLast(nodes []string, down map[string]bool, leader string) []string {
	var first, rest []string
	last := ""
	for _, n := range nodes {
		switch {
		case down[n]:
			first = append(first, n)
		case n == leader:
			last = n
		default:
			rest = append(rest, n)
		}
	}
	out := append(first, rest...)
	if last != "" {
		out = append(out, last)
	}
	return out
}

// removedFirst moves the nodes that leave to the front: they go before the
// others drop their routes.
func removedFirst(order []string, removed map[string]bool) []string {
	var first, rest []string
	for _, n := range order {
		if removed[n] {
			first = append(first, n)
		} else {
			rest = append(rest, n)
		}
	}
	return append(first, rest...)
}

// reorder is what is left to do after a node, the meta leader (which
// may have moved) kept last among them and the joining nodes after the
// members. Pure.
func reorder(rest []string, leader string, joining map[string]bool) []string {
	out := append([]string(nil), rest...)
	keepLeaderLast(out, leader)
	return joinersLast(out, joining)
}

// joinersLast moves the joining nodes after the members: the members take
// the new routes first, then the new nodes start.
func joinersLast(order []string, joining map[string]bool) []string {
	var members, joiners []string
	for _, n := range order {
		if joining[n] {
			joiners = append(joiners, n)
		} else {
			members = append(members, n)
		}
	}
	return append(members, joiners...)
}

// keepLeaderLast moves leader to the end of rest, in place.
func keepLeaderLast(rest []string, leader string) {
	if leader == "" {
		return
	}
	for k, n := range rest {
		if n == leader && k != len(rest)-1 {
			copy(rest[k:], rest[k+1:])
			rest[len(rest)-1] = leader
			return
		}
	}
}

func names(nodes []*cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}
