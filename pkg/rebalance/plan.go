// Package rebalance evens the client connections across a cluster's
// nodes, as natscli's `nats server cluster balance` (jsm.go connbalancer)
// does: it lists every server's client connections
// ($SYS.REQ.SERVER.PING.CONNZ), closes the excess ones on the nodes above
// even ($SYS.REQ.SERVER.<id>.KICK), waits until the closed clients are
// back (they reconnect to another URL of their list: nats.go moves the
// server it lost to the end of its pool), reads again, and goes another
// round until every node is within the tolerance or the rounds are used.
//
// The decisions (the spread, the band, how many to close where, which
// connections) are pure functions over counts; the run talks to the
// cluster only through Admin, on an injected clock. It takes no lock and
// judges no health: the caller holds the cluster lock and passes Check.
package rebalance

import (
	"math"
	"slices"
	"sort"

	"github.com/natsops/natsops/pkg/natsadmin"
)

// Count is one node's client connections.
type Count struct {
	Node    string `json:"node"`
	Clients int    `json:"clients"`
}

// Spread is how the clients sit across the nodes: per node (inventory
// order), the total, even (total / nodes) and how far the node farthest
// from even is, in percent of even.
type Spread struct {
	Nodes      []Count `json:"nodes"`
	Total      int     `json:"total"`
	Even       float64 `json:"even"`
	OffPercent float64 `json:"off_percent"`
}

// SpreadOf is the spread of counts over nodes (a node absent from counts
// holds none).
func SpreadOf(nodes []string, counts map[string]int) Spread {
	s := Spread{Nodes: make([]Count, 0, len(nodes))}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, Count{Node: n, Clients: counts[n]})
		s.Total += counts[n]
	}
	if len(nodes) == 0 || s.Total == 0 {
		return s
	}
	s.Even = float64(s.Total) / float64(len(nodes))
	for _, c := range s.Nodes {
		off := math.Abs(float64(c.Clients)-s.Even) / s.Even * 100
		s.OffPercent = math.Max(s.OffPercent, off)
	}
	s.OffPercent = math.Round(s.OffPercent*10) / 10
	return s
}

// Band is the range of counts a node may hold to be within within
// (a fraction: 0.2 is ±20 %) of even, widened to whole connections
// (floor below, ceiling above): with 10 clients on 3 nodes no node can
// hold exactly 3.33.
func (s Spread) Band(within float64) (lo, hi int) {
	return int(math.Floor(s.Even * (1 - within))), int(math.Ceil(s.Even * (1 + within)))
}

// Within: every node holds a count inside the band.
func (s Spread) Within(within float64) bool {
	lo, hi := s.Band(within)
	for _, c := range s.Nodes {
		if c.Clients < lo || c.Clients > hi {
			return false
		}
	}
	return true
}

// Plan is how many connections to close on each node in one round: a
// node above even gives up what it holds above ceil(even) (as natscli
// does); when that is more than limit in all (limit > 0), each node's share
// is cut in proportion to limit, at least one from every node that gives any.
// Nodes at or below even give none. Pure.
func Plan(s Spread, limit int) map[string]int {
	out := map[string]int{}
	if len(s.Nodes) < 2 || s.Total == 0 {
		return out
	}
	target := int(math.Ceil(s.Even))
	total := 0
	for _, c := range s.Nodes {
		if c.Clients > target {
			out[c.Node] = c.Clients - target
			total += c.Clients - target
		}
	}
	if limit > 0 && total > limit {
		left := limit
		names := make([]string, 0, len(out))
		for n := range out {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			k := max(1, out[n]*limit/total)
			k = min(k, left)
			if k == 0 {
				delete(out, n)
				continue
			}
			out[n] = k
			left -= k
		}
	}
	return out
}

// Pick chooses k of a node's connections to close: clients only (no
// connection of the system accounts sys, and never self), the most recent
// first (highest cid: the ones that piled on last; long-lived sessions
// stay).
func Pick(conns []natsadmin.Conn, k int, self uint64, sys ...string) []natsadmin.Conn {
	var cand []natsadmin.Conn
	for _, c := range Clients(conns, sys...) {
		if c.CID != self {
			cand = append(cand, c)
		}
	}
	sort.Slice(cand, func(i, j int) bool { return cand[i].CID > cand[j].CID })
	if k < len(cand) {
		cand = cand[:k]
	}
	return cand
}

// Clients are the connections rebalance counts and moves: a client's
// (CONNZ lists clients, websocket and MQTT included; leaf and route
// connections are never in it), not the system account's (natsops's own,
// natscli's, other servers' tools): natsadmin.SystemAccount and sys.
func Clients(conns []natsadmin.Conn, sys ...string) []natsadmin.Conn {
	var out []natsadmin.Conn
	for _, c := range conns {
		if c.Account == natsadmin.SystemAccount || (c.Account != "" && slices.Contains(sys, c.Account)) {
			continue
		}
		if c.Kind != "" && c.Kind != "Client" {
			continue
		}
		out = append(out, c)
	}
	return out
}
