package cluster

import (
	"fmt"
	"path"
	"strings"
)

// Select returns the nodes matching --limit patterns (names or globs), in
// inventory order; no patterns selects all. A pattern that matches nothing
// is an error: a typo must not silently act on zero nodes.
func (inv *Inventory) Select(patterns []string) ([]*Node, error) {
	if len(patterns) == 0 {
		return inv.Nodes, nil
	}
	var out []*Node
	matched := map[string]bool{}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--limit %q is not a valid pattern: %v", p, err)
		}
		hit := false
		for _, n := range inv.Nodes {
			ok, _ := path.Match(p, n.Name)
			if ok {
				hit = true
				matched[n.Name] = true
			}
		}
		if !hit {
			return nil, fmt.Errorf("--limit %q matches no node in %s (nodes: %s)", p, inv.Path, strings.Join(inv.NodeNames(), ", "))
		}
	}
	for _, n := range inv.Nodes {
		if matched[n.Name] {
			out = append(out, n)
		}
	}
	return out, nil
}

// NodeNames lists the node names in inventory order.
func (inv *Inventory) NodeNames() []string {
	names := make([]string, len(inv.Nodes))
	for i, n := range inv.Nodes {
		names[i] = n.Name
	}
	return names
}

// SelectNodes returns, for each of the clusters, its nodes matching the
// --limit patterns (all with none); a cluster with none matching is left
// out. A pattern matching no node of any of them is an error.
func SelectNodes(clusters []*Inventory, patterns []string) (map[*Inventory][]*Node, error) {
	out := map[*Inventory][]*Node{}
	if len(patterns) == 0 {
		for _, c := range clusters {
			out[c] = c.Nodes
		}
		return out, nil
	}
	var all []string
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--limit %q is not a valid pattern: %v", p, err)
		}
		hit := false
		for _, c := range clusters {
			for _, n := range c.Nodes {
				if ok, _ := path.Match(p, n.Name); ok {
					hit = true
				}
			}
		}
		if !hit {
			for _, c := range clusters {
				all = append(all, c.NodeNames()...)
			}
			return nil, fmt.Errorf("--limit %q matches no node in %s (nodes: %s)", p, clusters[0].Path, strings.Join(all, ", "))
		}
	}
	for _, c := range clusters {
		for _, n := range c.Nodes {
			for _, p := range patterns {
				if ok, _ := path.Match(p, n.Name); ok {
					out[c] = append(out[c], n)
					break
				}
			}
		}
	}
	return out, nil
}
