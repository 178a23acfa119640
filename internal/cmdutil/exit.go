package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/ansible"
	"github.com/natsops/natsops/pkg/bench"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natscontext"
	"github.com/natsops/natsops/pkg/rollout"
)

// Exit codes (docs/output.md; scripts depend on them).
const (
	ExitOK        = 0  // success
	ExitError     = 1  // any other failure (host unreachable, I/O, ...)
	ExitPending   = 2  // --check found changes that would be applied
	ExitUnhealthy = 3  // the cluster is not healthy
	ExitRestart   = 4  // applied, but a restart is needed to take effect
	ExitCancelled = 5  // the user declined a confirmation or interrupted
	ExitUsage     = 64 // bad command line
	ExitInvalid   = 65 // the inventory or a rendered config is invalid
)

// Nagios verdicts: `natsops check` exits with these, as monitoring
// systems expect, whatever went wrong (a usage error is UNKNOWN).
const (
	CheckOK       = 0
	CheckWarning  = 1
	CheckCritical = 2
	CheckUnknown  = 3
)

// Annotations a command sets to choose its output contract.
const (
	// AnnotationOutput "stream": -o json is JSON Lines, one event per
	// line, ending in the result line; otherwise one document.
	AnnotationOutput = "natsops/output"
	// AnnotationExit "nagios": the command exits 0-3 whatever fails.
	AnnotationExit = "natsops/exit"
)

// Error is a failure with its exit code. Printed means the command
// already showed it in text (the root does not print it again); with
// -o json its message is the result's "error" all the same. A nil Err is
// an outcome that is no error message at all (a check's verdict, an
// unhealthy status, pending changes): the output says it.
type Error struct {
	Code    int
	Err     error
	Printed bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// WithCode gives err its exit code.
func WithCode(code int, err error) error { return &Error{Code: code, Err: err} }

// Usage is a bad command line (exit 64).
func Usage(format string, args ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Printed is a failure the command has already shown in text.
func Printed(code int, err error) error { return &Error{Code: code, Err: err, Printed: true} }

// Outcome is an exit code that carries no message: what the command
// printed is the answer (pending changes, an unhealthy fleet, a verdict).
func Outcome(code int) error {
	if code == ExitOK {
		return nil
	}
	return &Error{Code: code, Printed: true}
}

// ExitCode is the one mapping from what a command returned to the
// process's exit code: an Error's own code; the packages' typed errors
// (an inventory that cannot be read or is invalid, a rollout that
// stopped, a bench limit, an Ansible or natscli-context problem);
// anything else 1. A command annotated nagios exits 0-3 whatever fails.
func ExitCode(cmd *cobra.Command, err error) int {
	code := exitCode(err)
	if cmd != nil && cmd.Annotations[AnnotationExit] == "nagios" && code > CheckUnknown {
		code = CheckUnknown
	}
	return code
}

func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *Error
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ie *cluster.InventoryError
	if errors.As(err, &ie) {
		if ie.IO {
			return ExitError
		}
		return ExitInvalid
	}
	var re *rollout.Error
	if errors.As(err, &re) {
		return rolloutCode(re)
	}
	var le *bench.LimitError
	if errors.As(err, &le) {
		return ExitUsage
	}
	var ae *ansible.Error
	if errors.As(err, &ae) {
		if ae.Kind == ansible.KindNoGroup {
			return ExitUsage
		}
		return ExitInvalid
	}
	var fe *natscontext.ForeignError
	if errors.As(err, &fe) {
		return ExitError
	}
	var ce *natscontext.Error
	if errors.As(err, &ce) {
		if ce.Usage {
			return ExitUsage
		}
		return ExitInvalid
	}
	if errors.Is(err, context.Canceled) {
		return ExitCancelled
	}
	return ExitError
}

// rolloutCode: 3 when the cluster is not healthy (preflight refused, the
// JetStream check refused to stop a node, or a node did not come back or
// did not stay ready, and was not rolled back), 5 when interrupted, 1
// otherwise (a held lock, a failed install, a node rolled back).
func rolloutCode(re *rollout.Error) int {
	switch {
	case re.Kind == rollout.KindPreflight, re.Kind == rollout.KindJetStream:
		return ExitUnhealthy
	case re.Kind == rollout.KindNode && (re.Step == rollout.StepReady || re.Step == rollout.StepSteady) && re.RolledBack == "":
		return ExitUnhealthy
	case re.Kind == rollout.KindInterrupted:
		return ExitCancelled
	}
	return ExitError
}

// message is what the root prints of err ("" for an outcome without a
// message).
func message(err error) string {
	var ee *Error
	if errors.As(err, &ee) && ee.Err == nil {
		return ""
	}
	return err.Error()
}

// printed reports whether the command already showed err in text.
func printed(err error) bool {
	var ee *Error
	return errors.As(err, &ee) && ee.Printed
}

// HostsOutcome is how a run over hosts (tune, provision) ends: failed
// hosts first (exit 1, each named, or in the words of why when it is
// set), then the changes --check found (exit 2).
func HostsOutcome(failed []string, why string, pending bool) error {
	switch {
	case len(failed) > 0 && why != "":
		return WithCode(ExitError, errors.New(why))
	case len(failed) > 0:
		return WithCode(ExitError, fmt.Errorf("%s failed: %s", text.Plural(len(failed), "host"), strings.Join(failed, ", ")))
	case pending:
		return Outcome(ExitPending)
	}
	return nil
}
