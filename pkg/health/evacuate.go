package health

import (
	"fmt"
	"sort"
	"strings"

	"github.com/natsops/natsops/pkg/monitor"
)

// Reasons an evacuation is refused or not finished.
const (
	// ReasonNoRoom: a stream has more replicas than the other JetStream
	// nodes can hold (one replica per server), so moving it off the node
	// would leave it short.
	ReasonNoRoom = "no-room"
	// ReasonStillHeld: the node still holds a replica.
	ReasonStillHeld = "still-held"
	// ReasonNotPlaced: a stream the node held is not yet led elsewhere
	// with every replica current.
	ReasonNotPlaced = "not-placed"
	// ReasonUnread: a node's streams could not be read.
	ReasonUnread = "unread"
)

// Held is one stream a node holds a replica of.
type Held struct {
	Account  string `json:"account"`
	Stream   string `json:"stream"`
	Replicas int    `json:"replicas"`
}

// Asset is the stream as account/stream.
func (h Held) Asset() string { return h.Account + "/" + h.Stream }

// HeldBy lists the streams of d, a node's own /jsz streams reading
// (sorted by account and stream).
func HeldBy(d *monitor.JSDetail) []Held {
	if d == nil {
		return nil
	}
	var out []Held
	for _, a := range d.Accounts {
		for _, s := range a.Streams {
			out = append(out, Held{Account: a.Name, Stream: s.Name, Replicas: streamReplicas(s)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset() < out[j].Asset() })
	return out
}

// EvacuateRoom is why node cannot be evacuated: a stream it holds whose
// replicas the others (the other JetStream nodes that serve) cannot hold,
// one replica each. Pure.
func EvacuateRoom(node string, others []string, held []Held) []Reason {
	var out []Reason
	for _, h := range held {
		if h.Replicas > len(others) {
			out = append(out, Reason{Node: node, Code: ReasonNoRoom, Asset: h.Asset(),
				Msg: fmt.Sprintf("stream %s has %d replicas and the other JetStream nodes serving are %d (%s): moving it off %s would leave it short; add a node first, or lower its replicas (nats stream edit --replicas)", h.Asset(), h.Replicas, len(others), strings.Join(others, ", "), node)})
		}
	}
	return out
}

// EvacuateInput is one reading of an evacuation under way: the node
// evacuated, the streams it held before, and every node's streams
// reading (Errs: the nodes that could not be read).
type EvacuateInput struct {
	Node    string
	Held    []Held
	Streams map[string]*monitor.JSDetail
	Errs    map[string]error
}

// Evacuated is what still keeps node's evacuation from being done: the
// node holds a replica (its own reading lists a stream), or a stream it
// held is not led by another node with as many replicas as it asks for,
// every one current and none on the node (the group leader's view).
// Empty: done. Pure.
func Evacuated(in EvacuateInput) []Reason {
	var out []Reason
	if err := in.Errs[in.Node]; err != nil {
		return []Reason{{Node: in.Node, Code: ReasonUnread, Msg: "its streams could not be read: " + errText(err)}}
	}
	for _, h := range HeldBy(in.Streams[in.Node]) {
		out = append(out, Reason{Node: in.Node, Code: ReasonStillHeld, Asset: h.Asset(), Msg: "still holds a replica of " + h.Asset()})
	}
	names := make([]string, 0, len(in.Streams))
	for n := range in.Streams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, h := range in.Held {
		if why := placedElsewhere(in.Node, h, names, in.Streams); why != "" {
			out = append(out, Reason{Node: in.Node, Code: ReasonNotPlaced, Asset: h.Asset(), Msg: why})
		}
	}
	return out
}

// placedElsewhere is "" when h's group leader, a node other than node,
// sees every replica current and none of them on node; else what it
// sees.
func placedElsewhere(node string, h Held, names []string, streams map[string]*monitor.JSDetail) string {
	for _, name := range names {
		if name == node {
			continue
		}
		s := findStream(streams[name], h.Account, h.Stream)
		if s == nil || s.Cluster == nil || s.Cluster.Leader != name {
			continue
		}
		have := 1
		for _, r := range s.Cluster.Replicas {
			switch {
			case r.Name == node:
				return fmt.Sprintf("%s: its leader %s still counts %s as a replica", h.Asset(), name, node)
			case !r.Current:
				return fmt.Sprintf("%s: replica %s is %s on its leader %s", h.Asset(), r.Name, peerState(r.Lag, r.Active, r.Offline), name)
			}
			have++
		}
		if have < h.Replicas {
			return fmt.Sprintf("%s: %d of %d replicas placed (leader %s)", h.Asset(), have, h.Replicas, name)
		}
		return ""
	}
	return h.Asset() + ": no other node leads it yet"
}
