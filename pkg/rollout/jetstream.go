package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// readStreams reads the streams and consumers of every node of the
// cluster as it stands (a node's own, and its groups' leaders' views),
// and of the estate's observed nodes: in a supercluster the meta leader
// (whose view of the meta group counts) may be a node of another
// cluster.
func (r *runner) readStreams(ctx context.Context) streamsReading {
	rd := streamsReading{streams: map[string]*monitor.JSDetail{}, errs: map[string]error{}}
	nodes := r.current().Nodes
	if len(r.cfg.Across.Observe) > 0 {
		nodes = append(append([]*cluster.Node(nil), nodes...), r.cfg.Across.Observe...)
	}
	for name, x := range r.read.Streams(ctx, nodes) {
		if x.Err != nil {
			rd.errs[name] = x.Err
			continue
		}
		rd.streams[name] = x.Detail
	}
	return rd
}

// stopInput is what StopImpact judges for node n from a reading.
func (r *runner) stopInput(n *cluster.Node, rd streamsReading) health.StopInput {
	in := health.StopInput{Node: n.Name, Streams: rd.streams, Errs: rd.errs,
		Availability: health.ClusteredJetStream(r.cfg.Inventory, n)}
	if !n.JetStreamEnabled() {
		in.Streams = map[string]*monitor.JSDetail{n.Name: {Disabled: true}}
	}
	if u, ok := r.cfg.Actions[n.Name].(Versioner); ok {
		if s := r.snaps[n.Name]; up(s) {
			in.Running = s.Varz.Version
		}
		in.Target = u.TargetVersion()
	}
	return in
}

// stops reports whether node's change stops its server.
func (r *runner) stops(node string) bool {
	k := r.kind(node)
	return k == Restart || k == Remove
}

// checkStops judges every node the rollout will stop, from one reading,
// before any node is touched (and, with --dry-run, shows what the check
// before each stop would say). A refusal here changes nothing.
func (r *runner) checkStops(ctx context.Context, order []string) error {
	var rd *streamsReading
	for _, name := range order {
		n := r.byName[name]
		if !r.stops(name) || !up(r.snaps[name]) {
			continue
		}
		if rd == nil {
			x := r.readStreams(ctx)
			rd = &x
		}
		t := r.clock.Now()
		v := health.StopImpact(r.stopInput(n, *rd))
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

// stopGate is the check right before node n is stopped, on a fresh
// reading: refused reasons that may clear by themselves (a replica
// catching up) are reread for up to Settle before they stand.
func (r *runner) stopGate(ctx context.Context, n *cluster.Node) error {
	t := r.clock.Now()
	var v health.StopVerdict
	waited := false
	_ = fleet.Until(ctx, r.clock, settlePoll, r.opts.Settle, func() (bool, error) {
		v = health.StopImpact(r.stopInput(n, r.readStreams(ctx)))
		if len(v.Refusals(r.opts.AllowUnavailable, r.opts.Force)) == 0 || !v.Transient() {
			return true, nil
		}
		if !waited {
			waited = true
			rs := v.Refusals(r.opts.AllowUnavailable, r.opts.Force)
			r.event(n.Name, StepJetStream, ResultWaiting, t, "%s; waiting up to %s for it to catch up", rs[0].Msg, r.opts.Settle)
		}
		return false, nil
	})
	if ctx.Err() != nil {
		r.event(n.Name, StepStop, ResultInterrupted, t, "interrupted: %s not touched", n.Name)
		return r.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "stopping", Err: ctx.Err()})
	}
	return r.judgeStop(n, v, t, false)
}

// judgeStop reports a verdict (every reason an event) and refuses when a
// reason stands. upfront: judged before any node was touched.
func (r *runner) judgeStop(n *cluster.Node, v health.StopVerdict, t time.Time, upfront bool) error {
	for _, w := range v.Warnings {
		r.event(n.Name, StepJetStream, ResultWarning, t, "%s (%s)", w.Msg, w.Code)
	}
	if r.opts.AllowUnavailable {
		for _, x := range v.Unavailable {
			r.event(n.Name, StepJetStream, ResultWarning, t, "--allow-unavailable: %s (%s)", x.Msg, x.Code)
		}
	}
	if r.opts.Force {
		for _, x := range v.Incompatible {
			r.event(n.Name, StepJetStream, ResultWarning, t, "--force: %s (%s)", x.Msg, x.Code)
		}
	}
	refused := v.Refusals(r.opts.AllowUnavailable, r.opts.Force)
	if len(refused) == 0 {
		held := fmt.Sprintf("%s holds %s and %s", n.Name, plural(v.Streams, "stream replica"), plural(v.Consumers, "consumer replica"))
		what := "none would lose its quorum"
		switch {
		case !health.ClusteredJetStream(r.cfg.Inventory, n):
			what = "availability not judged (no clustered JetStream)"
		case len(v.Unavailable) > 0:
			what = "going on under --allow-unavailable: " + plural(len(v.Unavailable), "replica group") + " will be unavailable while it is down"
		}
		if upfront && r.opts.DryRun {
			r.event(n.Name, StepJetStream, ResultPlanned, t, "before the stop: %s; %s", held, what)
			return nil
		}
		if !upfront {
			r.event(n.Name, StepJetStream, ResultOK, t, "%s; %s", held, what)
		}
		return nil
	}
	for _, x := range refused {
		r.event(n.Name, StepJetStream, ResultFailed, t, "%s (%s)", x.Msg, x.Code)
	}
	return r.errorf(&Error{Kind: KindJetStream, Node: n.Name, Step: StepJetStream, Reasons: refused, Upfront: upfront})
}

// jetStreamError words a refusal of the JetStream check.
func (e *Error) jetStreamError() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to stop %s:", e.Node)
	avail, compat := false, false
	for _, r := range e.Reasons {
		b.WriteString("\n  " + r.Msg + " (" + r.Code + ")")
		switch r.Code {
		case health.ReasonAPILevel, health.ReasonVersionJump:
			compat = true
		default:
			avail = true
		}
	}
	if e.Upfront {
		b.WriteString("\nnothing was changed")
	} else {
		b.WriteString("\nthe rollout stopped before " + e.Node + "; it was not touched, later nodes neither")
	}
	if avail {
		b.WriteString("\nto go on and accept the outage, rerun natsops " + e.cmd() + " with --allow-unavailable")
	}
	if compat {
		b.WriteString("\nto change the binary anyway, rerun natsops " + e.cmd() + " with --force (streams that need a higher JetStream API level will not load on it)")
	}
	return b.String()
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
