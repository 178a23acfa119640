package cmdutil

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
)

// BuildFlags are shared by the commands that render configs.
type BuildFlags struct {
	Templates string
}

// Register adds --templates.
func (b *BuildFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&b.Templates, "templates", "", "use the templates in this directory instead of the embedded ones")
}

// Built is an inventory with its selected nodes rendered, validated and
// linted.
type Built struct {
	Inv *cluster.Inventory
	// Clusters are the clusters built (one, for Build); each rendered
	// node is of one of them.
	Clusters []*cluster.Inventory
	TS       *config.Templates
	Res      *config.Result
}

// InvOf is the cluster node n is of.
func (b *Built) InvOf(n *cluster.Node) *cluster.Inventory {
	for _, c := range b.Clusters {
		for _, m := range c.Nodes {
			if m == n {
				return c
			}
		}
	}
	return b.Inv
}

// BuildEstate loads the inventory and builds the --limit nodes of every
// --cluster cluster (all of them without flags), with the estate's own
// lint: what validate and render check.
func (f *Factory) BuildEstate(bf BuildFlags) (*Built, error) {
	est, err := f.LoadEstate()
	if err != nil {
		return nil, err
	}
	scope, err := f.Scope(est, f.Global.Limit)
	if err != nil {
		return nil, err
	}
	nodes := map[*cluster.Inventory][]*cluster.Node{}
	var cs []*cluster.Inventory
	for _, sc := range scope {
		nodes[sc.Inv] = sc.Nodes
		cs = append(cs, sc.Inv)
	}
	ts, err := loadTemplates(bf.Templates)
	if err != nil {
		return nil, err
	}
	return &Built{Inv: cs[0], Clusters: cs, TS: ts, Res: config.BuildEstate(est, ts, nodes, f.Sys.Getenv)}, nil
}

// Build loads the inventory, selects --limit nodes and builds their
// configs.
func (f *Factory) Build(bf BuildFlags) (*Built, error) {
	inv, nodes, err := f.LoadSelected(f.Global.Limit)
	if err != nil {
		return nil, err
	}
	ts, err := loadTemplates(bf.Templates)
	if err != nil {
		return nil, err
	}
	return &Built{Inv: inv, Clusters: []*cluster.Inventory{inv}, TS: ts, Res: config.Build(inv, ts, nodes, f.Sys.Getenv)}, nil
}

func loadTemplates(dir string) (*config.Templates, error) {
	if dir == "" {
		return config.LoadTemplates(nil)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, Usage("--templates %s: not a directory", dir)
	}
	ts, err := config.LoadTemplates(os.DirFS(dir))
	if err != nil {
		return nil, WithCode(ExitInvalid, err)
	}
	return ts.WithDir(dir), nil
}
