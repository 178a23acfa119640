package rollout

import (
	"context"
	"strings"

	"github.com/natsops/natsops/pkg/fleet"
)

// StepOperate is the operation's own step (evacuate, step-down, replace,
// rescue) in the event stream.
const StepOperate = "operate"

// Op is an incident operation on a cluster (evacuate, step-down, replace,
// rescue), run by Operate under the cluster's rollout lock. snaps is the
// reading the gate judged. It reports its own steps through the events
// it is given.
type Op func(ctx context.Context, snaps fleet.Snapshots, event func(Event)) error

// Gate is how Operate judges the cluster before its operation.
type Gate int

const (
	// GateHealthy refuses as a restart's preflight does (every node
	// reachable and healthy, routes complete, one meta leader), the
	// nodes of Config.Joining judged absent (a dead node being
	// replaced); Options.Force goes on with a warning.
	GateHealthy Gate = iota
	// GateNone leaves the judgement to the operation (a meta group that
	// lost its quorum is unhealthy by definition).
	GateNone
)

// Operate runs op on the cluster of cfg.Inventory as a rollout runs its
// nodes: the hosts connected, the rollout lock taken on every reachable
// host (the same lock and file a restart or deploy takes, so neither runs
// meanwhile), the cluster judged by gate, then op, then the lock
// released. A dry run takes no lock and does not call op. The report's
// Order is cfg.Nodes (the nodes the operation is about): Done when op
// succeeded, NotDone otherwise.
func Operate(ctx context.Context, cfg Config, gate Gate, op Op) (*Report, error) {
	r := newRunner(cfg)
	// Gated like a restart: an unhealthy cluster is refused, not gone on
	// with because no node is restarted.
	r.stops = true
	begin := r.clock.Now()
	rep := &Report{ID: newID(), Order: names(cfg.Nodes)}
	sshErrs := r.connectAll(ctx)
	defer func() {
		for _, h := range r.hosts {
			h.Close()
		}
	}()
	r.lock = newLocker(r.env, r.byName, LockInfo{ID: rep.ID, Owner: r.opts.Owner, PID: r.opts.PID, Started: begin.UTC()})
	if !r.opts.DryRun {
		if _, err := r.takeLock(ctx); err != nil {
			rep.NotDone = rep.Order
			return rep, err
		}
		defer r.unlock()
	}
	t := r.clock.Now()
	switch gate {
	case GateHealthy:
		if err := r.preflight(ctx, sshErrs, t); err != nil {
			rep.NotDone = rep.Order
			return rep, err
		}
	default:
		r.snaps = r.readAll(ctx, r.inv.Nodes, nil)
	}
	if r.opts.DryRun {
		rep.NotDone = rep.Order
		return rep, nil
	}
	if err := op(ctx, r.snaps, r.emit); err != nil {
		rep.NotDone = rep.Order
		return rep, err
	}
	rep.Done = rep.Order
	rep.Elapsed = r.clock.Now().Sub(begin)
	r.event("", StepDone, ResultOK, begin, "%s done: %s", r.cfg.Command, strings.Join(rep.Done, ", "))
	return rep, nil
}
