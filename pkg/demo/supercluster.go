package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/loadgen"
	"github.com/natsops/natsops/pkg/probe"
	"github.com/natsops/natsops/pkg/rollout"
)

// Path is one way the demo's messages cross the supercluster: a client
// publishes with acks on the From cluster's nodes to a stream of the To
// cluster (R Replicas, placed there), and a core subscriber listens on
// the To cluster's nodes; the stream is created and read back from there.
type Path struct {
	// Name is "from->to".
	Name string `json:"path"`
	From string `json:"from"`
	To   string `json:"to"`
	// Via is what joins the two: "gateway", "leaf", or "leaf+gateway".
	Via      string `json:"via"`
	Stream   string `json:"stream"`
	Subject  string `json:"subject"`
	Replicas int    `json:"replicas"`
}

// PathRun is what one path's client saw.
type PathRun struct {
	Path
	Messages *loadgen.Result `json:"messages,omitempty"`
	// Error is why its read back failed ("" when it did not).
	Error string `json:"error,omitempty"`
}

// ClusterRun is one cluster's rolling restart in the supercluster demo.
type ClusterRun struct {
	Cluster   string   `json:"cluster"`
	Order     []string `json:"order"`
	Done      []string `json:"done"`
	RolloutMS int64    `json:"rollout_ms"`
}

// superclusterPaths are the demo's paths: across the gateways both ways,
// over the leaf connection, and from the leaf through its hub's gateway
// to the other region (From, To, stream).
func superclusterPaths() [][3]string {
	return [][3]string{
		{"east", "west", "EAST_WEST"},
		{"west", "east", "WEST_EAST"},
		{"east", "edge", "EAST_EDGE"},
		{"edge", "west", "EDGE_WEST"},
	}
}

// Paths are the paths the supercluster demo sends messages on, with what
// joins their ends in the estate. An error is a demo inventory without
// those clusters (a natsops bug).
func (c *Cluster) Paths() ([]Path, error) {
	var out []Path
	for _, p := range superclusterPaths() {
		from, to := c.Estate.Cluster(p[0]), c.Estate.Cluster(p[1])
		if from == nil || to == nil {
			return nil, fmt.Errorf("the demo estate has no cluster %s or %s (a natsops bug)", p[0], p[1])
		}
		r := 1
		if to.Clustered() {
			r = min(3, len(to.Nodes))
		}
		out = append(out, Path{Name: p[0] + "->" + p[1], From: p[0], To: p[1], Via: via(from, to), Stream: p[2], Subject: "demo." + strings.ToLower(p[2]), Replicas: r})
	}
	return out, nil
}

// via says what joins clusters a and b: their gateways, a leaf
// connection of one to the other, or a leaf connection to a hub joined by
// gateways to the other.
func via(a, b *cluster.Inventory) string {
	leafOf := func(leaf, hub *cluster.Inventory) bool {
		if !leaf.IsLeaf() {
			return false
		}
		for _, r := range leaf.File.LeafNodes.Remotes {
			if r.Hub == hub.ClusterName() {
				return true
			}
		}
		return false
	}
	switch {
	case a.HasGateway() && b.HasGateway():
		return "gateway"
	case leafOf(a, b) || leafOf(b, a):
		return "leaf"
	}
	return "leaf+gateway"
}

// SuperclusterHooks show the supercluster demo as it goes; any may be nil.
type SuperclusterHooks struct {
	Healthy func(ms int64, pids []int)
	// Status is every cluster's status, as natsops status shows it.
	Status func(fs []*health.Fleet)
	// Traffic: every path's client publishes.
	Traffic func(ps []Path)
	// Cluster: the rolling restart of cluster name begins, the i-th (from
	// 1) of the clusters in order.
	Cluster func(name string, i int, order []string)
	Event   func(rollout.Event)
	// Path: a path's client stopped and read its stream back.
	Path func(p *PathRun)
}

// RunSupercluster starts the estate, waits until every cluster is
// healthy with its gateways and leaf connections, shows it, and
// rolling-restarts every cluster, one at a time in rollout.EstateOrder,
// each through the restart engine with its estate (rollout.AcrossFor),
// while a client per path publishes with acks across the gateways and
// the leaf connection; then every path's acknowledged messages are read
// back. run is filled in as it goes, also on failure; the caller stops
// and removes the estate. A cluster's failure stops the rollout there:
// the clusters after it are not touched.
func (c *Cluster) RunSupercluster(ctx context.Context, opts RunOptions, hooks SuperclusterHooks, run *Run) error {
	if !c.Supercluster() {
		return errors.New("demo: not a supercluster demo")
	}
	paths, err := c.Paths()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := c.startHealthy(ctx, opts, "supercluster", hooks.Healthy, run); err != nil {
		return err
	}
	all := c.Nodes()
	// status's own reading, of every node at once: each cluster is judged
	// with the others' readings (its meta leader may be one of them).
	rd := probe.Reader{Fleet: c.Reader(), Connect: c.connect}.Read(ctx, all, all)
	if hooks.Status != nil {
		var fs []*health.Fleet
		for _, inv := range c.Estate.Clusters {
			fs = append(fs, health.Status(inv, inv.Nodes, rd.Snaps, rd.Hosts))
		}
		hooks.Status(fs)
	}
	byNode := trackNodes(run, all, rd.Snaps)

	loads, err := c.startPaths(ctx, paths)
	if err != nil {
		return fmt.Errorf("demo: start the clients: %w", err)
	}
	for _, p := range paths {
		run.Paths = append(run.Paths, &PathRun{Path: p})
	}
	if hooks.Traffic != nil {
		hooks.Traffic(paths)
	}

	t := time.Now()
	events := stepEvents(byNode, hooks.Event)
	order := rollout.EstateOrder(c.Estate.Clusters, health.MetaLeader(rd.Snaps))
	for _, inv := range order {
		run.ClusterOrder = append(run.ClusterOrder, inv.ClusterName())
	}
	var rerr error
	for i, inv := range order {
		if hooks.Cluster != nil {
			hooks.Cluster(inv.ClusterName(), i+1, run.ClusterOrder)
		}
		cr := &ClusterRun{Cluster: inv.ClusterName(), Order: []string{}, Done: []string{}}
		run.Clusters = append(run.Clusters, cr)
		ct := time.Now()
		rep, err := rollout.Run(ctx, c.restartConfig(inv, opts, fmt.Sprintf("demo restart %s %s", opts.Mode, inv.ClusterName()), events))
		cr.RolloutMS = time.Since(ct).Milliseconds()
		if rep != nil {
			if rep.Order != nil {
				cr.Order = rep.Order
			}
			if rep.Done != nil {
				cr.Done = rep.Done
			}
		}
		run.Order = append(run.Order, cr.Order...)
		if err != nil {
			rerr = err
			break
		}
	}
	run.RolloutMS = time.Since(t).Milliseconds()

	// Read back what was acknowledged even after a failure: the estate
	// is still up (or was left serving by the rollout).
	verrs := c.stopPaths(context.WithoutCancel(ctx), loads, run.Paths, hooks.Path)
	markRestarted(run.Nodes, c.Snapshots(context.WithoutCancel(ctx)))
	var lost []string
	for _, p := range run.Paths {
		if m := p.Messages; m != nil && m.Lost > 0 {
			lost = append(lost, fmt.Sprintf("%s: %d (sequences %v)", p.Name, m.Lost, m.LostSeqs))
		}
	}
	switch {
	case rerr != nil:
		// Not restart's advice (rerun to resume): the demo estate is
		// stopped and removed after this.
		what := "in cluster " + run.Clusters[len(run.Clusters)-1].Cluster + ": " + rolloutWhat(rerr)
		if rest := run.ClusterOrder[len(run.Clusters):]; len(rest) > 0 {
			what += "\nclusters not touched: " + strings.Join(rest, ", ")
		}
		return &RolloutError{msg: "demo: the rolling restart stopped " + what + c.deadNodes(), Err: rerr}
	case len(verrs) > 0:
		return fmt.Errorf("demo: %w", errors.Join(verrs...))
	case len(lost) > 0:
		return fmt.Errorf("demo: acknowledged messages could not be read back: %s", strings.Join(lost, "; "))
	}
	return nil
}

// startPaths starts one client per path (publisher on From, subscriber
// and stream on To); on error the ones started are closed.
func (c *Cluster) startPaths(ctx context.Context, paths []Path) ([]*loadgen.Client, error) {
	var out []*loadgen.Client
	for _, p := range paths {
		from, to := c.Estate.Cluster(p.From), c.Estate.Cluster(p.To)
		placement := ""
		if to.Clustered() {
			placement = p.To
		}
		l, err := loadgen.Start(ctx, loadgen.Options{URLs: clientURLs(from), SubURLs: clientURLs(to), Stream: p.Stream, Subject: p.Subject, Replicas: p.Replicas, Placement: placement, AckTimeout: AckTimeout})
		if err != nil {
			vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReadBackTimeout)
			for _, x := range out {
				_, _ = x.Stop(vctx)
			}
			cancel()
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// stopPaths stops every path's client at once, each reading back within
// ReadBackTimeout, and fills in runs; path sees each as it is done.
func (c *Cluster) stopPaths(ctx context.Context, loads []*loadgen.Client, runs []*PathRun, path func(*PathRun)) []error {
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vctx, cancel := context.WithTimeout(ctx, ReadBackTimeout)
			defer cancel()
			res, err := l.Stop(vctx)
			runs[i].Messages = &res
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", runs[i].Name, err)
				runs[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	if path != nil {
		for _, r := range runs {
			path(r)
		}
	}
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Role says what cluster inv is in its estate, for the demo's header:
// the clusters its gateways join, the leaf clusters it is a hub of, the
// hubs it is a leaf of (and the account), its JetStream domain.
func Role(inv *cluster.Inventory) string {
	var parts []string
	if rs := inv.GatewayRemotes(); len(rs) > 0 {
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		parts = append(parts, "gateways to "+strings.Join(names, ", "))
	}
	if inv.LeafListens() && inv.Estate != nil {
		var leafs []string
		for _, c := range inv.Estate.Clusters {
			if c.IsLeaf() {
				for _, r := range c.File.LeafNodes.Remotes {
					if r.Hub == inv.ClusterName() {
						leafs = append(leafs, c.ClusterName())
						break
					}
				}
			}
		}
		if len(leafs) > 0 {
			parts = append(parts, "hub of the leaf nodes of "+strings.Join(leafs, ", "))
		}
	}
	if inv.IsLeaf() {
		for _, r := range inv.File.LeafNodes.Remotes {
			leaf := "a leaf node of " + r.Hub
			if r.Account != "" {
				leaf += " (account " + r.Account + ")"
			}
			parts = append(parts, leaf)
		}
	}
	if len(inv.Nodes) > 0 && inv.Nodes[0].JetStream.Domain != nil {
		parts = append(parts, "JetStream domain "+*inv.Nodes[0].JetStream.Domain)
	}
	return strings.Join(parts, "; ")
}
