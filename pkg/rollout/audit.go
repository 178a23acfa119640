package rollout

import (
	"errors"

	"github.com/natsops/natsops/pkg/audit"
)

// A rollout in the audit trail's terms (pkg/audit records; it imports no
// engine): its events as steps, its report and error as how the run
// ended, a restart's plan.

// AuditStep is a rollout event as an audit step.
func AuditStep(e Event) audit.Step {
	return audit.Step{Node: e.Node, Step: e.Step, Result: e.Result, ElapsedMS: e.ElapsedMS, Detail: e.Detail}
}

// AuditOutcome classifies how a rollout ended from its error: refused when it
// stopped before it changed anything (a held lock, an unhealthy cluster at
// preflight, files changed since the plan, the JetStream check before any
// node was touched), interrupted on Ctrl-C between nodes, otherwise as
// audit.Outcome says.
func AuditOutcome(err error) string {
	var re *Error
	switch {
	case errors.As(err, &re) && re.Kind == KindInterrupted:
		return audit.Interrupted
	case errors.As(err, &re) && (re.Kind == KindLock || re.Kind == KindPreflight || re.Kind == KindCheck || re.Kind == KindJetStream && re.Upfront):
		return audit.Refused
	}
	return audit.Outcome(err)
}

// AuditResult is a rollout's part of its audit Result: order, what was done
// and skipped, where it stopped, and its Outcome.
func AuditResult(rep *Report, err error) audit.Result {
	res := audit.Result{Outcome: AuditOutcome(err)}
	if rep != nil {
		res.Order, res.Done, res.Skipped, res.NotDone = rep.Order, rep.Done, rep.Skipped, rep.NotDone
	}
	var re *Error
	if errors.As(err, &re) && re.Kind == KindNode {
		res.FailedNode = re.Node
	}
	return res
}

// AuditRestartPlan is a restart's plan: every node restarted, in mode.
func AuditRestartPlan(nodes []string, mode string) []audit.Planned {
	out := make([]audit.Planned, len(nodes))
	for i, n := range nodes {
		out[i] = audit.Planned{Node: n, Change: string(Restart), Items: []string{"mode " + mode}}
	}
	return out
}
