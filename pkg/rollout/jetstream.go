package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
)

// StepJetStream is the check, right before a node is stopped, of what its
// stop would make unavailable or break (health.StopImpact).
const StepJetStream = "jetstream"

// KindJetStream: the JetStream check refused to stop a node.
const KindJetStream = "jetstream"

// Versioner is an Action that changes the nats-server a node runs: the
// JetStream check judges the change from the running version to
// TargetVersion ("" when the binary does not change).
type Versioner interface {
	TargetVersion() string
}

// streamsReading is one reading of every serving node's streams.
type streamsReading struct {
	streams map[string]*monitor.JSDetail
	errs    map[string]error
}

// readStreams reads the streams and consumers of every node of cur, the
// cluster as it stands (a node's own, and its groups' leaders' views),
// and of the estate's observed nodes: in a supercluster the meta leader
// (whose view of the meta group counts) may be a node of another
// cluster.
func (e *env) readStreams(ctx context.Context, cur *cluster.Inventory) streamsReading {
	rd := streamsReading{streams: map[string]*monitor.JSDetail{}, errs: map[string]error{}}
	nodes := cur.Nodes
	if len(e.across.Observe) > 0 {
		nodes = append(append([]*cluster.Node(nil), nodes...), e.across.Observe...)
	}
	for name, x := range e.read.Streams(ctx, nodes) {
		if x.Err != nil {
			rd.errs[name] = x.Err
			continue
		}
		rd.streams[name] = x.Detail
	}
	return rd
}

// stopInput is what StopImpact judges for node n of inv, changed by
// action a (nil: a restart), from a reading of the streams and its latest
// snapshot s. Pure.
func stopInput(inv *cluster.Inventory, n *cluster.Node, a Action, s *monitor.Snapshot, rd streamsReading) health.StopInput {
	in := health.StopInput{Node: n.Name, Streams: rd.streams, Errs: rd.errs,
		Availability: health.ClusteredJetStream(inv, n)}
	if !n.JetStreamEnabled() {
		in.Streams = map[string]*monitor.JSDetail{n.Name: {Disabled: true}}
	}
	if u, ok := a.(Versioner); ok {
		if up(s) {
			in.Running = s.Varz.Version
		}
		in.Target = u.TargetVersion()
	}
	return in
}

// checkStops judges every node the rollout will stop, from one reading,
// before any node is touched (and, with --dry-run, shows what the check
// before each stop would say). A refusal here changes nothing.
func (r *runner) checkStops(ctx context.Context, order []string) error {
	var rd *streamsReading
	for _, name := range order {
		n := r.byName[name]
		if k := r.kind(name); (k != Restart && k != Remove) || !up(r.snaps[name]) {
			continue
		}
		if rd == nil {
			x := r.readStreams(ctx, r.current())
			rd = &x
		}
		t := r.clock.Now()
		v := health.StopImpact(stopInput(r.inv, n, r.cfg.Actions[name], r.snaps[name], *rd))
		// A replica catching up now may be current by the node's turn:
		// that is judged right before its stop, where it may settle.
		v.Unavailable = lasting(v.Unavailable)
		v.Warnings = lasting(v.Warnings)
		if err := r.judgeStop(n, v, t, true); err != nil {
			return err
		}
	}
	return nil
}

// stopGate is the check right before the node is stopped, on a fresh
// reading: refused reasons that may clear by themselves (a replica
// catching up) are reread for up to Settle before they stand.
func (nr *nodeRun) stopGate(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	var v health.StopVerdict
	waited := false
	w := nr.waiting(n.Name, "jetstream catch-up", nr.opts.Settle)
	_ = fleet.Until(ctx, nr.clock, settlePoll, nr.opts.Settle, func() (bool, error) {
		v = health.StopImpact(stopInput(nr.inv, n, nr.a, nr.snaps[n.Name], nr.readStreams(ctx, nr.cur())))
		rs := v.Refusals(nr.opts.AllowUnavailable, nr.opts.Force)
		if len(rs) == 0 || !v.Transient() {
			return true, nil
		}
		if !waited {
			waited = true
			nr.event(n.Name, StepJetStream, ResultWaiting, t, "%s; waiting up to %s for it to catch up", rs[0].Msg, nr.opts.Settle)
		}
		w.Tick(nr.clock.Now(), health.Brief(n.Name, rs))
		return false, nil
	})
	if ctx.Err() != nil {
		return nr.interrupted(ctx, t, "stopping")
	}
	return nr.judgeStop(n, v, t, false)
}

// judgeStop reports a verdict (every reason an event) and refuses when a
// reason stands. upfront: judged before any node was touched.
func (e *env) judgeStop(n *cluster.Node, v health.StopVerdict, t time.Time, upfront bool) error {
	for _, w := range v.Warnings {
		e.event(n.Name, StepJetStream, ResultWarning, t, "%s (%s)", w.Msg, w.Code)
	}
	if e.opts.AllowUnavailable {
		for _, x := range v.Unavailable {
			e.event(n.Name, StepJetStream, ResultWarning, t, "--allow-unavailable: %s (%s)", x.Msg, x.Code)
		}
	}
	if e.opts.Force {
		for _, x := range v.Incompatible {
			e.event(n.Name, StepJetStream, ResultWarning, t, "--force: %s (%s)", x.Msg, x.Code)
		}
	}
	refused := v.Refusals(e.opts.AllowUnavailable, e.opts.Force)
	if len(refused) == 0 {
		held := fmt.Sprintf("%s holds %s and %s", n.Name, text.Plural(v.Streams, "stream replica"), text.Plural(v.Consumers, "consumer replica"))
		what := "none would lose its quorum"
		switch {
		case !health.ClusteredJetStream(e.inv, n):
			what = "availability not judged (no clustered JetStream)"
		case len(v.Unavailable) > 0:
			what = "going on under --allow-unavailable: " + text.Plural(len(v.Unavailable), "replica group") + " will be unavailable while it is down"
		}
		if upfront && e.opts.DryRun {
			e.event(n.Name, StepJetStream, ResultPlanned, t, "before the stop: %s; %s", held, what)
			return nil
		}
		if !upfront {
			e.event(n.Name, StepJetStream, ResultOK, t, "%s; %s", held, what)
		}
		return nil
	}
	for _, x := range refused {
		e.event(n.Name, StepJetStream, ResultFailed, t, "%s (%s)", x.Msg, x.Code)
	}
	return e.errorf(&Error{Kind: KindJetStream, Node: n.Name, Step: StepJetStream, Reasons: refused, Upfront: upfront})
}

// lasting drops the reasons that may clear by themselves.
func lasting(rs []health.Reason) []health.Reason {
	var out []health.Reason
	for _, x := range rs {
		if !health.TransientCode(x.Code) {
			out = append(out, x)
		}
	}
	return out
}
