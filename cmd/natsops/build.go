package main

import (
	"os"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
)

// buildFlags are shared by the commands that render configs.
type buildFlags struct {
	templates string
}

// built is an inventory with its selected nodes rendered, validated and
// linted.
type built struct {
	inv *cluster.Inventory
	// clusters are the clusters built (one, for build); each rendered
	// node is of one of them.
	clusters []*cluster.Inventory
	ts       *config.Templates
	res      *config.Result
}

// invOf is the cluster node n is of.
func (b *built) invOf(n *cluster.Node) *cluster.Inventory {
	for _, c := range b.clusters {
		for _, m := range c.Nodes {
			if m == n {
				return c
			}
		}
	}
	return b.inv
}

// buildEstate loads the inventory and builds the --limit nodes of every
// --cluster cluster (all of them without flags), with the estate's own
// lint: what validate and render check.
func (g *globals) buildEstate(bf buildFlags) (*built, error) {
	est, err := g.loadEstate()
	if err != nil {
		return nil, err
	}
	scope, err := g.scope(est, g.limit)
	if err != nil {
		return nil, err
	}
	nodes := map[*cluster.Inventory][]*cluster.Node{}
	var cs []*cluster.Inventory
	for _, sc := range scope {
		nodes[sc.inv] = sc.nodes
		cs = append(cs, sc.inv)
	}
	ts, err := loadTemplates(bf.templates)
	if err != nil {
		return nil, err
	}
	return &built{inv: cs[0], clusters: cs, ts: ts, res: config.BuildEstate(est, ts, nodes, g.sys.getenv)}, nil
}

// build loads the inventory, selects --limit nodes and builds their configs.
func (g *globals) build(bf buildFlags) (*built, error) {
	inv, nodes, err := g.loadSelected(g.limit)
	if err != nil {
		return nil, err
	}
	ts, err := loadTemplates(bf.templates)
	if err != nil {
		return nil, err
	}
	return &built{inv: inv, clusters: []*cluster.Inventory{inv}, ts: ts, res: config.Build(inv, ts, nodes, g.sys.getenv)}, nil
}

func loadTemplates(dir string) (*config.Templates, error) {
	if dir == "" {
		return config.LoadTemplates(nil)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, usageError("--templates %s: not a directory", dir)
	}
	ts, err := config.LoadTemplates(os.DirFS(dir))
	if err != nil {
		return nil, withCode(ExitInvalid, err)
	}
	return ts, nil
}
