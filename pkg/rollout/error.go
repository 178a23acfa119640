package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/health"
)

// Error kinds.
const (
	KindPreflight   = "preflight"
	KindLock        = "lock"
	KindCheck       = "check"
	KindNode        = "node"
	KindInterrupted = "interrupted"
)

// Error is a rollout that stopped: which node, which step, why, the
// node's last log lines and, when the node was rolled back, what that
// rollback did.
type Error struct {
	Kind    string
	Node    string
	Step    string
	Reasons []health.Reason
	Logs    string
	Err     error
	// RolledBack says what the rollback did when it worked ("" when
	// there was none); RollbackErr is why it did not.
	RolledBack  string
	RollbackErr error
	// Upfront: a JetStream refusal before any node was touched (not
	// one right before a later node's stop).
	Upfront bool
	command string
}

func (e *Error) cmd() string {
	if e.command == "" {
		return "restart"
	}
	return e.command
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindPreflight:
		var b strings.Builder
		b.WriteString("preflight: the cluster is not healthy, nothing was changed:")
		for _, r := range e.Reasons {
			b.WriteString("\n  " + r.String())
		}
		b.WriteString("\nfix these first (natsops status shows the cluster), or go on with --force")
		if e.cmd() == "restart" {
			b.WriteString(" (one node: --node NAME --force)")
		}
		return b.String()
	case KindLock, KindCheck:
		return e.Err.Error()
	case KindJetStream:
		return e.jetStreamError()
	case KindInterrupted:
		why := "interrupted"
		if e.Err != nil && !errors.Is(e.Err, context.Canceled) {
			why = e.Err.Error()
		}
		if e.Step == StepPause {
			return fmt.Sprintf("%s during the pause before %s: the nodes before it are done and recorded, %s was not touched; rerun natsops %s to continue", why, e.Node, e.Node, e.cmd())
		}
		return fmt.Sprintf("%s before %s %s; rerun natsops %s to continue", why, e.Step, e.Node, e.cmd())
	}
	switch {
	case e.Step == StepInstall:
		return e.Summary() + "\nthe rollout stopped here; later nodes were not touched. Fix the inventory (natsops validate; the node's own nats-server said why above), then rerun natsops " + e.cmd()
	case e.RolledBack != "":
		return e.Summary() + "\nrolled back: " + e.RolledBack + "; the nodes after it were not touched. Fix the inventory (the server's own error is in the log lines above), check it with natsops deploy --check, then rerun natsops deploy"
	case e.RollbackErr != nil:
		return e.Summary() + "\nrolling " + e.Node + " back failed: " + e.RollbackErr.Error() + "\nthe rollout stopped here; later nodes were not touched. Fix " + e.Node + " (natsops status shows the cluster)"
	}
	return e.Summary() + "\nthe rollout stopped here; later nodes were not touched. Fix the node (its last log lines are shown; natsops status shows the cluster), then rerun natsops " + e.cmd() + " to resume (add --force while that node is still down: preflight refuses an unhealthy cluster)"
}

// Summary is a node failure without the advice on what to do next: node,
// step, error and the reasons the node is not back.
func (e *Error) Summary() string {
	if e.Kind != KindNode {
		return e.Error()
	}
	var b strings.Builder
	if e.Node != "" {
		b.WriteString(e.Node + ": ")
	}
	fmt.Fprintf(&b, "%s failed: %v", e.Step, e.Err)
	for _, r := range e.Reasons {
		b.WriteString("\n  " + r.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

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
