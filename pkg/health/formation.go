package health

import (
	"fmt"
	"slices"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// Formation is how the running servers stand to the cluster the
// inventory describes: which nodes are members of it, and why the others
// are not. A cluster with no member has never formed: deploy bootstraps
// it (every node started together); nodes outside a formed cluster join
// it (scale-out).
type Formation struct {
	// Members run their inventory server_name and see the cluster: a
	// route to an inventory peer, or a JetStream meta leader (a lone
	// node's inventory needs neither).
	Members []string `json:"members"`
	// Outside says, for every other node, why it is not a member.
	Outside map[string]string `json:"outside"`
	order   []string
}

// Formed reports whether any node is a member: the cluster exists.
func (f Formation) Formed() bool { return len(f.Members) > 0 }

// IsMember reports whether node belongs to the formed cluster.
func (f Formation) IsMember(node string) bool { return slices.Contains(f.Members, node) }

// Why is the evidence, one line: who is a member and how, or why none is.
func (f Formation) Why() string {
	var parts []string
	for _, n := range f.order {
		if why, ok := f.Outside[n]; ok {
			parts = append(parts, n+" "+why)
		}
	}
	if f.Formed() {
		return strings.Join(f.Members, ", ") + " form the cluster" + suffix(parts)
	}
	return "no node is a member of the cluster: " + strings.Join(parts, "; ")
}

func suffix(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// Form judges a reading of every inventory node (routes named with
// monitor.NameRoutes). Pure.
func Form(inv *cluster.Inventory, snaps map[string]*monitor.Snapshot) Formation {
	f := Formation{Outside: map[string]string{}, order: inv.NodeNames()}
	for _, n := range inv.Nodes {
		s := snaps[n.Name]
		switch {
		case s == nil || s.Varz == nil:
			f.Outside[n.Name] = "does not answer on its monitoring port (not running, or no config yet)"
			continue
		case s.Varz.ServerName == s.Varz.ServerID || s.Varz.ServerName == "":
			f.Outside[n.Name] = "runs a config without server_name (a standalone server)"
			continue
		case s.Varz.ServerName != n.Name:
			f.Outside[n.Name] = fmt.Sprintf("runs server %q, not %q", s.Varz.ServerName, n.Name)
			continue
		}
		if !inv.Clustered() {
			f.Members = append(f.Members, n.Name)
			continue
		}
		peers := inv.Peers(n)
		var seen []string
		if s.Routez != nil {
			for _, p := range s.Routez.Peers() {
				if slices.Contains(peers, p) {
					seen = append(seen, p)
				}
			}
		}
		leader := ""
		if s.Jsz != nil && s.Jsz.Meta != nil {
			leader = s.Jsz.Meta.Leader
		}
		if len(seen) > 0 || leader != "" {
			f.Members = append(f.Members, n.Name)
			continue
		}
		f.Outside[n.Name] = "runs its server_name but has no route to a peer and no JetStream meta leader"
	}
	return f
}

// QuorumWithout says why stopping node would leave the JetStream meta
// group without a quorum, from the meta leader's view (its replicas
// current and online, and itself): "" when enough stay up, or when node
// is not in the group. Pure.
func QuorumWithout(snaps map[string]*monitor.Snapshot, node string) string {
	leader := MetaLeader(snaps)
	s := snaps[leader]
	if leader == "" || s == nil || s.Jsz == nil || s.Jsz.Meta == nil {
		return ""
	}
	meta := s.Jsz.Meta
	size := meta.Size
	if size < len(meta.Replicas)+1 {
		size = len(meta.Replicas) + 1
	}
	up, member := 1, leader == node
	for _, r := range meta.Replicas {
		if r.Name == node {
			member = true
		}
		if r.Current && !r.Offline {
			up++
		}
	}
	if !member {
		return ""
	}
	nodeUp := leader == node
	for _, r := range meta.Replicas {
		if r.Name == node && r.Current && !r.Offline {
			nodeUp = true
		}
	}
	after := up
	if nodeUp {
		after--
	}
	if need := size/2 + 1; after < need {
		return fmt.Sprintf("stopping %s would leave %d of the JetStream meta group's %d peers up, below its quorum of %d", node, after, size, need)
	}
	return ""
}
