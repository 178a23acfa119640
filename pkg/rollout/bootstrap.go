package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// StepBootstrap names the bootstrap's cluster-wide steps.
const StepBootstrap = "bootstrap"

// bootstrap forms a cluster that has never formed: a JetStream meta group
// needs a quorum of its peers, so the nodes cannot come up one at a time.
// Every node's files are installed first (all or nothing), then every node
// is (re)started at once, then one wait until the whole cluster is healthy.
// A failure puts every node back: its previous files, and running again
// if it ran before (stopped if it did not).
func (r *runner) bootstrap(ctx context.Context, rep *Report) error {
	inv := r.cfg.Inventory
	t := r.clock.Now()
	for _, n := range inv.Nodes {
		if r.cfg.Actions[n.Name] == nil || r.hosts[n.Name] == nil {
			err := fmt.Errorf("a bootstrap starts every node of the cluster together, and %s is not part of this one (reachable, with its config): nothing was changed", n.Name)
			r.event(n.Name, StepBootstrap, ResultFailed, t, "%v", err)
			return r.errorf(&Error{Kind: KindNode, Node: n.Name, Step: StepBootstrap, Err: err})
		}
	}
	rep.Order = inv.NodeNames()
	// What runs now, to put back on failure.
	running := r.allAlive(ctx)
	r.snaps = r.readAll(ctx, inv.Nodes, nil)
	r.event("", StepBootstrap, ResultOK, t, "%s do not form a cluster yet: every node is installed first, then all %d start together", strings.Join(rep.Order, ", "), len(rep.Order))

	// 1. Every node's files, or none.
	errs := r.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		return r.installFiles(ctx, n, r.cfg.Actions[n.Name])
	})
	if first := firstErr(inv, errs); first != nil {
		undo := r.everyNode(context.WithoutCancel(ctx), func(ctx context.Context, n *cluster.Node) error {
			if errs[n.Name] != nil {
				return nil
			}
			return r.cfg.Actions[n.Name].Restore(ctx, r.hosts[n.Name])
		})
		e := first.(*Error)
		if err := errors.Join(values(undo)...); err != nil {
			e.RollbackErr = fmt.Errorf("putting back the files already installed: %w", err)
		} else {
			e.Err = fmt.Errorf("%w; nothing was started, and the nodes already installed have their previous files back", e.Err)
		}
		rep.NotDone = rep.Order
		return e
	}

	// 2. Every node (re)started at once: no node waits for a quorum its
	// peers cannot give yet.
	starts := map[string]string{}
	var mu sync.Mutex
	errs = r.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		out, err := r.steps(ctx, n, r.opts.Mode, true)
		mu.Lock()
		starts[n.Name] = out
		mu.Unlock()
		return err
	})
	var fail *Error
	if first := firstErr(inv, errs); first != nil {
		fail = first.(*Error)
	} else {
		// 3. One wait for the whole cluster.
		t = r.clock.Now()
		reasons, err := r.waitFormed(ctx, starts)
		switch {
		case err == nil:
			r.event("", StepReady, ResultOK, t, "the cluster formed: every node healthy, routes complete, one JetStream meta leader")
			rep.Done = rep.Order
			for _, n := range rep.Order {
				rep.Applied[n] = Restart
			}
			return nil
		case ctx.Err() != nil:
			r.event("", StepReady, ResultInterrupted, t, "interrupted while the cluster formed: every node was started with its new config")
			rep.NotDone = rep.Order
			return r.errorf(&Error{Kind: KindInterrupted, Node: strings.Join(rep.Order, ", "), Step: "confirming the bootstrap of", Err: ctx.Err()})
		}
		node := ""
		if len(reasons) > 0 {
			node = reasons[0].Node
		}
		r.event(node, StepReady, ResultFailed, t, "%s", oneLine(err.Error()))
		fail = r.errorf(&Error{Kind: KindNode, Node: node, Step: StepReady, Err: err, Reasons: reasons})
		if node != "" && r.byName[node] != nil {
			fail.Logs = r.logs(r.byName[node])
		}
	}
	rep.NotDone = rep.Order
	r.unbootstrap(ctx, running, fail)
	return fail
}

// waitFormed polls the whole cluster until it is healthy, at most
// NodeTimeout; a node whose process is gone stops the wait at once.
func (r *runner) waitFormed(ctx context.Context, starts map[string]string) ([]health.Reason, error) {
	inv := r.cfg.Inventory
	lv := &liveness{last: map[string]time.Time{}, dead: map[string]int{}}
	var reasons []health.Reason
	err := fleet.Until(ctx, r.clock, r.opts.Poll, r.opts.NodeTimeout, func() (bool, error) {
		r.snaps = r.readAll(ctx, inv.Nodes, r.snaps)
		reasons = health.ClusterReady(inv, r.snaps)
		if len(reasons) == 0 {
			return true, nil
		}
		for _, n := range inv.Nodes {
			if !up(r.snaps[n.Name]) {
				if why := r.gone(ctx, n, r.aliveCommand(n, starts[n.Name]), lv); why != "" {
					return false, fmt.Errorf("nats-server on %s exited after it was started: %s", n.Name, why)
				}
			}
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return reasons, fmt.Errorf("the cluster did not form within %s", r.opts.NodeTimeout)
	}
	return reasons, err
}

// unbootstrap puts every node back as it was before a failed bootstrap:
// its previous files, then started again if it was running (and
// confirmed: a new process answering) or stopped if it was not. It runs
// on a context Ctrl-C does not cancel, and records what it did on e.
func (r *runner) unbootstrap(ctx context.Context, running map[string]bool, e *Error) {
	inv := r.cfg.Inventory
	t := r.clock.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.NodeTimeout+rollbackTimeout)
	defer cancel()
	errs := r.everyNode(rctx, func(ctx context.Context, n *cluster.Node) error {
		if err := r.cfg.Actions[n.Name].Restore(ctx, r.hosts[n.Name]); err != nil {
			return fmt.Errorf("restoring the previous files: %w", err)
		}
		if !running[n.Name] {
			_, err := r.steps(ctx, n, service.Fast, false)
			return err
		}
		before := r.read.Node(ctx, n)
		out, err := r.steps(ctx, n, service.Fast, true)
		if err != nil {
			return err
		}
		return r.waitServes(ctx, n, before, r.aliveCommand(n, out))
	})
	var failed []string
	for _, n := range inv.Nodes {
		if err := errs[n.Name]; err != nil {
			failed = append(failed, n.Name+": "+oneLine(err.Error()))
		}
	}
	if len(failed) > 0 {
		e.RollbackErr = errors.New(strings.Join(failed, "; "))
		r.event("", StepRollback, ResultFailed, t, "%s", e.RollbackErr)
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
	r.event("", StepRollback, ResultOK, t, "%s", e.RolledBack)
}

// waitServes polls until node answers /varz with a new process and a
// /healthz that is ok: a server put back to its previous (perhaps
// standalone) config, which need not be a cluster member.
func (r *runner) waitServes(ctx context.Context, n *cluster.Node, prev *monitor.Snapshot, alive string) error {
	lv := &liveness{last: map[string]time.Time{}, dead: map[string]int{}}
	err := fleet.Until(ctx, r.clock, r.opts.Poll, r.opts.NodeTimeout, func() (bool, error) {
		// Not into r.snaps: every node is waited for at once.
		s := r.read.Node(ctx, n)
		if up(s) && (!up(prev) || !s.Varz.Start.Equal(prev.Varz.Start)) && s.Healthz.OK() {
			return true, nil
		}
		if !up(s) {
			if why := r.gone(ctx, n, alive, lv); why != "" {
				return false, fmt.Errorf("nats-server on %s exited after it was started again: %s", n.Name, why)
			}
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return fmt.Errorf("%s does not serve within %s of its restart", n.Name, r.opts.NodeTimeout)
	}
	return err
}

// allAlive reports, for every node, whether its nats-server process runs
// (on its host: the service manager's view, whatever monitoring says).
func (r *runner) allAlive(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	var mu sync.Mutex
	r.everyNode(ctx, func(ctx context.Context, n *cluster.Node) error {
		res, err := r.hosts[n.Name].Run(ctx, r.aliveCommand(n, ""), remote.RunOptions{Sudo: true})
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
func (r *runner) everyNode(ctx context.Context, fn func(context.Context, *cluster.Node) error) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range r.cfg.Inventory.Nodes {
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
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []error
	for _, k := range keys {
		if m[k] != nil {
			out = append(out, fmt.Errorf("%s: %w", k, m[k]))
		}
	}
	return out
}
