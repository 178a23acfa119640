package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// StepBootstrap names the bootstrap's cluster-wide steps.
const StepBootstrap = "bootstrap"

// formation is a bootstrap: it forms a cluster that has never formed. A
// JetStream meta group needs a quorum of its peers, so the nodes cannot
// come up one at a time: every node's files are installed first (all or
// nothing), then every node is (re)started at once, then one wait until
// the whole cluster is healthy. A failure puts every node back: its
// previous files, and running again if it ran before (stopped if it did
// not). It uses each node's steps (a nodeRun) for its own.
type formation struct {
	*env
	actions map[string]Action
	byName  map[string]*cluster.Node
	// snaps is the latest reading of every node.
	snaps fleet.Snapshots
}

func (f *formation) run(ctx context.Context, rep *Report) error {
	inv := f.inv
	t := f.clock.Now()
	for _, n := range inv.Nodes {
		if f.actions[n.Name] == nil || f.hosts[n.Name] == nil {
			err := fmt.Errorf("a bootstrap starts every node of the cluster together, and %s is not part of this one (reachable, with its config): nothing was changed", n.Name)
			f.event(n.Name, StepBootstrap, ResultFailed, t, "%v", err)
			return f.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepBootstrap, Err: err})
		}
	}
	rep.Order = inv.NodeNames()
	// What runs now, to put back on failure.
	running := f.allAlive(ctx)
	f.snaps = f.readAll(ctx, inv.Nodes, nil)
	f.event("", StepBootstrap, ResultOK, t, "%s do not form a cluster yet: every node is installed first, then all %d start together", strings.Join(rep.Order, ", "), len(rep.Order))
	if err := f.installAll(ctx); err != nil {
		rep.NotDone = rep.Order
		return err
	}
	starts, fail := f.startAll(ctx)
	if fail == nil {
		// One wait for the whole cluster.
		t = f.clock.Now()
		reasons, err := f.waitFormed(ctx, starts)
		switch {
		case err == nil:
			f.event("", StepReady, ResultOK, t, "the cluster formed: every node healthy, routes complete, one JetStream meta leader")
			rep.Done = rep.Order
			for _, n := range rep.Order {
				rep.Applied[n] = Restart
			}
			return nil
		case ctx.Err() != nil:
			f.event("", StepReady, ResultInterrupted, t, "interrupted while the cluster formed: every node was started with its new config")
			rep.NotDone = rep.Order
			return f.errorf(&Error{Kind: KindInterrupted, Node: strings.Join(rep.Order, ", "), Step: "confirming the bootstrap of", Err: ctx.Err()})
		}
		fail = f.notFormed(reasons, err, t)
	}
	rep.NotDone = rep.Order
	f.unbootstrap(ctx, running, fail)
	return fail
}

// installAll is the bootstrap's first step: every node's files, or none
// (the ones installed are put back when one fails).
func (f *formation) installAll(ctx context.Context) error {
	errs := f.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		return f.nodeRun(n).installFiles(ctx)
	})
	first := firstErr(f.inv, errs)
	if first == nil {
		return nil
	}
	undo := f.everyNode(context.WithoutCancel(ctx), func(ctx context.Context, n *cluster.Node) error {
		if errs[n.Name] != nil {
			return nil
		}
		return f.actions[n.Name].Restore(ctx, f.hosts[n.Name])
	})
	e := first.(*Error)
	if err := errors.Join(values(undo)...); err != nil {
		e.RollbackErr = fmt.Errorf("putting back the files already installed: %w", err)
	} else {
		e.Err = fmt.Errorf("%w; nothing was started, and the nodes already installed have their previous files back", e.Err)
	}
	return e
}

// startAll is the bootstrap's second step: every node (re)started at
// once, so that no node waits for a quorum its peers cannot give yet. It
// returns what each start printed, or the first node's failure.
func (f *formation) startAll(ctx context.Context) (map[string]string, *Error) {
	starts := map[string]string{}
	var mu sync.Mutex
	errs := f.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		out, err := f.nodeRun(n).steps(ctx, f.opts.Mode, true)
		mu.Lock()
		starts[n.Name] = out
		mu.Unlock()
		return err
	})
	if first := firstErr(f.inv, errs); first != nil {
		return starts, first.(*Error)
	}
	return starts, nil
}

// notFormed is the failure of the wait for the cluster, on the first
// node it names, with that node's log lines.
func (f *formation) notFormed(reasons []health.Reason, err error, t time.Time) *Error {
	node := ""
	if len(reasons) > 0 {
		node = reasons[0].Node
	}
	f.event(node, StepReady, ResultFailed, t, "%s", text.OneLine(err.Error()))
	fail := f.errorf(&Error{Kind: KindNode, Node: node, Step: StepReady, Err: err, Reasons: reasons})
	if node != "" && f.byName[node] != nil {
		fail.Logs = nodeLogs(f.env, f.byName[node])
	}
	return fail
}

// waitFormed polls the whole cluster until it is healthy, at most
// NodeTimeout; a node whose process is gone stops the wait at once.
func (f *formation) waitFormed(ctx context.Context, starts map[string]string) ([]health.Reason, error) {
	inv := f.inv
	lv := newLiveness(f.env)
	w := f.waiting("", "cluster formed", f.opts.NodeTimeout)
	var reasons []health.Reason
	err := fleet.Until(ctx, f.clock, f.opts.Poll, f.opts.NodeTimeout, func() (bool, error) {
		f.snaps = f.readAll(ctx, inv.Nodes, f.snaps)
		reasons = health.ClusterReady(inv, f.snaps)
		if len(reasons) == 0 {
			return true, nil
		}
		w.Tick(f.clock.Now(), health.Brief("", reasons))
		for _, n := range inv.Nodes {
			if !up(f.snaps[n.Name]) {
				if why := lv.gone(ctx, n, aliveCommand(n, f.opts.Mode, starts[n.Name])); why != "" {
					return false, fmt.Errorf("nats-server on %s exited after it was started: %s", n.Name, why)
				}
			}
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return reasons, fmt.Errorf("the cluster did not form within %s", f.opts.NodeTimeout)
	}
	return reasons, err
}

// unbootstrap puts every node back as it was before a failed bootstrap:
// its previous files, then started again if it was running (and
// confirmed: a new process answering) or stopped if it was not. It runs
// on a context Ctrl-C does not cancel, and records what it did on e.
func (f *formation) unbootstrap(ctx context.Context, running map[string]bool, e *Error) {
	inv := f.inv
	t := f.clock.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.NodeTimeout+rollbackTimeout)
	defer cancel()
	errs := f.everyNode(rctx, func(ctx context.Context, n *cluster.Node) error {
		if err := f.actions[n.Name].Restore(ctx, f.hosts[n.Name]); err != nil {
			return fmt.Errorf("restoring the previous files: %w", err)
		}
		nr := f.nodeRun(n)
		if !running[n.Name] {
			_, err := nr.steps(ctx, service.Fast, false)
			return err
		}
		before := f.read.Node(ctx, n)
		out, err := nr.steps(ctx, service.Fast, true)
		if err != nil {
			return err
		}
		return f.waitServes(ctx, n, before, aliveCommand(n, f.opts.Mode, out))
	})
	var failed []string
	for _, n := range inv.Nodes {
		if err := errs[n.Name]; err != nil {
			failed = append(failed, n.Name+": "+text.OneLine(err.Error()))
		}
	}
	if len(failed) > 0 {
		e.RollbackErr = errors.New(strings.Join(failed, "; "))
		f.event("", StepRollback, ResultFailed, t, "%s", e.RollbackErr)
		return
	}
	var ran, stopped []string
	for _, n := range inv.Nodes {
		if running[n.Name] {
			ran = append(ran, n.Name)
		} else {
			stopped = append(stopped, n.Name)
		}
	}
	e.RolledBack = "every node has its previous files again"
	if len(ran) > 0 {
		e.RolledBack += "; " + strings.Join(ran, ", ") + " run them again (restarted: new processes, answering)"
	}
	if len(stopped) > 0 {
		e.RolledBack += "; " + strings.Join(stopped, ", ") + " stopped, as before"
	}
	f.event("", StepRollback, ResultOK, t, "%s", e.RolledBack)
}

// waitServes polls until node answers /varz with a new process and a
// /healthz that is ok: a server put back to its previous (perhaps
// standalone) config, which need not be a cluster member.
func (f *formation) waitServes(ctx context.Context, n *cluster.Node, prev *monitor.Snapshot, alive string) error {
	lv := newLiveness(f.env)
	w := f.waiting(n.Name, "serving again", f.opts.NodeTimeout)
	err := fleet.Until(ctx, f.clock, f.opts.Poll, f.opts.NodeTimeout, func() (bool, error) {
		// Not into f.snaps: every node is waited for at once.
		s := f.read.Node(ctx, n)
		if up(s) && (!up(prev) || !s.Varz.Start.Equal(prev.Varz.Start)) && s.Healthz.OK() {
			return true, nil
		}
		w.Tick(f.clock.Now(), health.Brief(n.Name, health.NodeReady(n.Name, s, health.Expect{})))
		if !up(s) {
			if why := lv.gone(ctx, n, alive); why != "" {
				return false, fmt.Errorf("nats-server on %s exited after it was started again: %s", n.Name, why)
			}
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return fmt.Errorf("%s does not serve within %s of its restart", n.Name, f.opts.NodeTimeout)
	}
	return err
}

// allAlive reports, for every node, whether its nats-server process runs
// (on its host: the service manager's view, whatever monitoring says).
func (f *formation) allAlive(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	var mu sync.Mutex
	f.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		res, err := f.hosts[n.Name].Run(ctx, aliveCommand(n, f.opts.Mode, ""), remote.RunOptions{Sudo: true})
		alive := err == nil && res != nil
		if alive {
			dead, _ := service.ParseAlive(string(res.Stdout))
			alive = !dead
		}
		mu.Lock()
		out[n.Name] = alive
		mu.Unlock()
		return nil
	})
	return out
}

// everyNode runs fn for every inventory node at once and returns each
// node's error.
func (f *formation) everyNode(ctx context.Context, fn func(context.Context, *cluster.Node) error) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range f.inv.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, n)
			mu.Lock()
			errs[n.Name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// nodeRun is node n's steps: every node's at once, none with a reading
// of the others.
func (f *formation) nodeRun(n *cluster.Node) *nodeRun {
	return newNodeRun(f.env, n, f.actions[n.Name], nodeView{})
}

// firstErr is the first node's error in inventory order (nil: none).
func firstErr(inv *cluster.Inventory, errs map[string]error) error {
	for _, n := range inv.Nodes {
		if err := errs[n.Name]; err != nil {
			return err
		}
	}
	return nil
}

func values(m map[string]error) []error {
	var out []error
	for _, k := range text.SortedKeys(m) {
		if m[k] != nil {
			out = append(out, fmt.Errorf("%s: %w", k, m[k]))
		}
	}
	return out
}
