// Package rolloutaudit says a rollout (restart, deploy) in the audit
// trail's terms: its events as steps, its report and error as how the run
// ended, a restart's plan. It is the adapter that lets pkg/audit sit below
// the engines it records and import none of them; what it knows is
// pkg/rollout's (its error kinds and report), so it belongs with the
// rollout commands' shared code, or in pkg/rollout, once those settle.
package rolloutaudit

import (
	"errors"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/rollout"
)

// Step is a rollout event as an audit step.
func Step(e rollout.Event) audit.Step {
	return audit.Step{Node: e.Node, Step: e.Step, Result: e.Result, ElapsedMS: e.ElapsedMS, Detail: e.Detail}
}

// Outcome classifies how a rollout ended from its error: refused when it
// stopped before it changed anything (a held lock, an unhealthy cluster at
// preflight, files changed since the plan, the JetStream check before any
// node was touched), interrupted on Ctrl-C between nodes, otherwise as
// audit.Outcome says.
func Outcome(err error) string {
	var re *rollout.Error
	switch {
	case errors.As(err, &re) && re.Kind == rollout.KindInterrupted:
		return audit.Interrupted
	case errors.As(err, &re) && (re.Kind == rollout.KindLock || re.Kind == rollout.KindPreflight || re.Kind == rollout.KindCheck || re.Kind == rollout.KindJetStream && re.Upfront):
		return audit.Refused
	}
	return audit.Outcome(err)
}

// Result is a rollout's part of its audit Result: order, what was done
// and skipped, where it stopped, and its Outcome.
func Result(rep *rollout.Report, err error) audit.Result {
	res := audit.Result{Outcome: Outcome(err)}
	if rep != nil {
		res.Order, res.Done, res.Skipped, res.NotDone = rep.Order, rep.Done, rep.Skipped, rep.NotDone
	}
	var re *rollout.Error
	if errors.As(err, &re) && re.Kind == rollout.KindNode {
		res.FailedNode = re.Node
	}
	return res
}

// RestartPlan is a restart's plan: every node restarted, in mode.
func RestartPlan(nodes []string, mode string) []audit.Planned {
	out := make([]audit.Planned, len(nodes))
	for i, n := range nodes {
		out[i] = audit.Planned{Node: n, Change: string(rollout.Restart), Items: []string{"mode " + mode}}
	}
	return out
}
