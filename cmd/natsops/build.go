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
	ts  *config.Templates
	res *config.Result
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
	return &built{inv: inv, ts: ts, res: config.Build(inv, ts, nodes, g.sys.getenv)}, nil
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
