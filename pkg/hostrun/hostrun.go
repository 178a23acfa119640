// Package hostrun is the engine tune and provision share: one run over
// several hosts, each connected, observed and planned (a pure plan), then,
// once the operator has confirmed, applied, observed again and verified.
// At most Parallel hosts are worked on at once; a host that fails carries
// its error on one line naming it and the others go on; a step that runs
// longer than progress.Every is reported while it runs, so a slow host is
// never silent; and the run's audit record (its plan per host and the
// steps that ran) comes out in pkg/audit's terms.
//
// What a step does on a host is the caller's (Steps): the engine knows
// how hosts are worked through, not what tuning or provisioning is. It
// prints nothing and decides no exit code.
package hostrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
)

// Connect reaches a node's host (cmd's connector: SSH or local); its
// owner closes the connections.
type Connect func(context.Context, *cluster.Node) (remote.Host, error)

// Options are how a run reaches its hosts and says what it waits for.
type Options struct {
	Connect Connect
	// Parallel bounds the hosts worked on at once (<= 0: all at once).
	Parallel int
	// Progress hears of every step still running after progress.Every
	// (nil: nobody).
	Progress progress.Func
}

// Host is the engine's part of one host's report. tune's and provision's
// per-host reports embed it first, so that -o json's objects start with
// the node.
type Host struct {
	Node    string `json:"node"`
	Address string `json:"host"`
	// Applied: the host's plan was carried out (it may still have failed
	// its verification).
	Applied bool `json:"applied"`
	// Error is this host's failure on one line, naming it ("": none).
	Error string `json:"error,omitempty"`

	target   *cluster.Node
	conn     remote.Host
	planned  *Planned // nil: not planned (not reached, or failed first)
	verified *Verified
}

// NewHost is node n's Host before the run reaches it.
func NewHost(n *cluster.Node) Host { return Host{Node: n.Name, Address: n.Host, target: n} }

// Base is h itself: Steps' way to the Host a report embeds.
func (h *Host) Base() *Host { return h }

// Target is the node h is for.
func (h *Host) Target() *cluster.Node { return h.target }

// Failed reports whether the host failed or was refused.
func (h *Host) Failed() bool { return h.Error != "" }

// Refused reports whether the host's plan found bad input.
func (h *Host) Refused() bool { return h.planned != nil && len(h.planned.Problems) > 0 }

// pending reports whether the host is still in the run with something to
// apply.
func (h *Host) pending() bool { return !h.Failed() && h.planned != nil && len(h.planned.Changes) > 0 }

// Planned is what a host's plan tells the engine.
type Planned struct {
	// Changes are what applying does, one line each, as the audit record
	// lists them; none: the host is as wanted.
	Changes []string
	// Problems are bad input found on the host: nothing is applied on it
	// (with Run.RefuseAll, on no host).
	Problems []string
}

// Verified is what a host's verification tells the engine.
type Verified struct {
	// Mismatches are what does not hold; after Apply each fails the host.
	Mismatches []string
	// Warning is what holds only in part without failing the host (tune:
	// the running server keeps its old limit until restarted); "" none.
	Warning string
}

// Steps are what one kind of run does on one host. The engine calls them
// from one goroutine per host, in this order: Observe, MakePlan, then
// Check when there is nothing to apply; once confirmed, Apply, Observe
// again and Check. What Observe read is kept by the implementation for
// MakePlan and Check, which are pure.
type Steps interface {
	// Base is the engine's part of the host (a *Host embedded in the
	// implementation has it).
	Base() *Host
	// Observe reads the host through c (one round trip).
	Observe(ctx context.Context, c remote.Host) error
	// MakePlan plans the host from what Observe read.
	MakePlan() Planned
	// Apply carries out the plan through c: only ever a plan with
	// changes and no problems.
	Apply(ctx context.Context, c remote.Host) error
	// Check verifies what Observe read last against what is wanted.
	Check() Verified
}

// ErrRefused: a host's plan found bad input (Run.RefuseAll), so no host
// was changed.
var ErrRefused = errors.New("refused: nothing was changed on any host")

// Run is one run over hosts (tune's, provision's): Plan reads and plans
// every host, Apply changes the ones with something to do.
type Run[H Steps] struct {
	Options
	// Job names the run ("tune", "provision"): progress reports
	// "n1 tune apply", and the audit record's plan has it as each host's
	// change.
	Job   string
	Hosts []H
	// Refusal starts a refused host's error ("refused", "not tuned").
	Refusal string
	// RefuseAll: bad input on any host refuses the whole run, and Apply
	// changes nothing (provision). Otherwise only that host is left out.
	RefuseAll bool
	// VerifyUnchanged: a host with nothing to apply fails when Check
	// finds a mismatch ("nothing to do, but ..."). Otherwise its
	// verification is only reported.
	VerifyUnchanged bool

	// applyTook is how long Apply took, over every host.
	applyTook time.Duration
	// now and watch are the clock and the progress reporter (tests
	// replace them; nil: time.Now and progress.Go).
	now   func() time.Time
	watch func(ctx context.Context, f progress.Func, base progress.Report, seen func(context.Context) string) (stop func())
}

// Plan connects to every host, observes it and plans it, at most Parallel
// at once. A host with nothing to apply is verified from what was read.
// A host that cannot be reached, read or planned, or is refused, carries
// its error, and the others go on.
func (r *Run[H]) Plan(ctx context.Context) {
	r.each(ctx, r.live(), func(ctx context.Context, s H) error {
		h := s.Base()
		err := r.step(ctx, h, "connect", "connecting to "+h.Address, func(ctx context.Context) (err error) {
			h.conn, err = r.Connect(ctx, h.target)
			return err
		})
		if err != nil {
			return err
		}
		if err := r.step(ctx, h, "observe", "reading the host", func(ctx context.Context) error { return s.Observe(ctx, h.conn) }); err != nil {
			return err
		}
		p := s.MakePlan()
		h.planned = &p
		if len(p.Problems) > 0 {
			return fmt.Errorf("%s: %s", r.Refusal, strings.Join(p.Problems, "; "))
		}
		if len(p.Changes) == 0 {
			v := s.Check()
			h.verified = &v
			if r.VerifyUnchanged && len(v.Mismatches) > 0 {
				return fmt.Errorf("nothing to do, but %s", strings.Join(v.Mismatches, "; "))
			}
		}
		return nil
	})
}

// Apply carries out every pending plan, then reads each host again and
// verifies it; a host whose change did not hold fails, and the others go
// on. With RefuseAll it changes nothing when any host was refused
// (ErrRefused).
func (r *Run[H]) Apply(ctx context.Context) error {
	if r.RefuseAll && len(r.Refused()) > 0 {
		return ErrRefused
	}
	var todo []H
	for _, s := range r.Hosts {
		if s.Base().pending() {
			todo = append(todo, s)
		}
	}
	start := r.clock()
	r.each(ctx, todo, func(ctx context.Context, s H) error {
		h := s.Base()
		what := "applying " + text.Plural(len(h.planned.Changes), "change")
		if err := r.step(ctx, h, "apply", what, func(ctx context.Context) error { return s.Apply(ctx, h.conn) }); err != nil {
			return err
		}
		h.Applied = true
		if err := r.step(ctx, h, "verify", "reading the host again", func(ctx context.Context) error { return s.Observe(ctx, h.conn) }); err != nil {
			return err
		}
		v := s.Check()
		h.verified = &v
		if len(v.Mismatches) > 0 {
			return fmt.Errorf("applied, but %s", strings.Join(v.Mismatches, "; "))
		}
		return nil
	})
	r.applyTook = r.clock().Sub(start)
	return nil
}

// Pending counts the changes planned on the hosts still in the run, and
// those hosts.
func (r *Run[H]) Pending() (changes, hosts int) {
	for _, s := range r.Hosts {
		if h := s.Base(); h.pending() {
			changes += len(h.planned.Changes)
			hosts++
		}
	}
	return changes, hosts
}

// Ready counts the hosts still in the run (reached, planned, not
// refused), with something to apply or not.
func (r *Run[H]) Ready() int {
	n := 0
	for _, s := range r.Hosts {
		if !s.Base().Failed() {
			n++
		}
	}
	return n
}

// Refused lists the hosts whose plan found bad input.
func (r *Run[H]) Refused() []string { return r.names((*Host).Refused) }

// Failed lists the hosts that failed or were refused.
func (r *Run[H]) Failed() []string { return r.names((*Host).Failed) }

// names are the hosts that have what has, in order.
func (r *Run[H]) names(has func(*Host) bool) []string {
	var out []string
	for _, s := range r.Hosts {
		if h := s.Base(); has(h) {
			out = append(out, h.Node)
		}
	}
	return out
}

// Audit is the run's part of its audit record, after Apply: per host
// with something to apply, its changes (Change: the Job); per host one
// step per phase that ran (plan, apply, verify); the hosts done (applied
// and verified, or as wanted already) and not. Hosts are applied in
// parallel, so an apply step's time is the phase's, not the host's own.
func (r *Run[H]) Audit() audit.Result {
	var res audit.Result
	for _, s := range r.Hosts {
		h := s.Base()
		p := h.planned
		if p != nil && len(p.Changes) > 0 {
			res.Plan = append(res.Plan, audit.Planned{Node: h.Node, Change: r.Job, Items: p.Changes})
		}
		step := func(name, result, detail string, ms int64) {
			res.Steps = append(res.Steps, audit.Step{Node: h.Node, Step: name, Result: result, Detail: detail, ElapsedMS: ms})
		}
		switch {
		case p == nil || len(p.Problems) > 0:
			step("plan", audit.StepFailed, h.Error, 0)
			res.NotDone = append(res.NotDone, h.Node)
			continue
		case len(p.Changes) == 0:
			step("plan", audit.StepOK, "up to date", 0)
		default:
			step("plan", audit.StepOK, text.Plural(len(p.Changes), "change"), 0)
			if h.Applied {
				step("apply", audit.StepOK, "", r.applyTook.Milliseconds())
			} else {
				step("apply", audit.StepFailed, h.Error, r.applyTook.Milliseconds())
			}
		}
		switch v := h.verified; {
		case v != nil && len(v.Mismatches) > 0:
			step("verify", audit.StepFailed, strings.Join(v.Mismatches, "; "), 0)
		case v != nil && v.Warning != "":
			step("verify", audit.StepWarning, v.Warning, 0)
		case v != nil:
			step("verify", audit.StepOK, "", 0)
		case h.Applied && h.Error != "":
			step("verify", audit.StepFailed, h.Error, 0)
		}
		if h.Error == "" && (h.Applied || len(p.Changes) == 0) {
			res.Done = append(res.Done, h.Node)
		} else {
			res.NotDone = append(res.NotDone, h.Node)
		}
	}
	return res
}

// live are the hosts that have not failed.
func (r *Run[H]) live() []H {
	var out []H
	for _, s := range r.Hosts {
		if !s.Base().Failed() {
			out = append(out, s)
		}
	}
	return out
}

// each runs fn for every one of hosts, at most Parallel at once; a
// failure is recorded on its host, on one line naming it.
func (r *Run[H]) each(ctx context.Context, hosts []H, fn func(context.Context, H) error) {
	rs := remote.Each(ctx, hosts, r.Parallel, func(s H) string { return s.Base().Node }, fn)
	for i, res := range rs {
		if res.Err != nil {
			hosts[i].Base().Error = remote.OneLine(res.Name, res.Err)
		}
	}
}

// step runs one step of h, reported to Progress while it lasts longer
// than progress.Every: "n1 tune apply: waiting 10s: applying 3 changes".
func (r *Run[H]) step(ctx context.Context, h *Host, name, doing string, fn func(context.Context) error) error {
	watch := r.watch
	if watch == nil {
		watch = progress.Go
	}
	stop := watch(ctx, r.Progress, progress.Report{Subject: h.Node, Waiting: r.Job + " " + name}, func(context.Context) string { return doing })
	defer stop()
	return fn(ctx)
}

func (r *Run[H]) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}
