package main

import (
	"errors"
	"fmt"

	"github.com/natsops/natsops/pkg/rollout"
)

// Exit codes. Documented in the README; scripts depend on them.
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

// exitError carries an exit code through cobra. silent means the command
// already printed everything the user needs.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// reported is a failure whose details were already printed.
func reported(code int) error { return &exitError{code: code, silent: true} }

// usageError marks bad flags or arguments.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode is the one mapping from an error to the exit code: an
// exitError's own code; a rollout that stopped: 3 when the cluster is
// not healthy (preflight refused, the JetStream check refused to stop a
// node, or a node did not come back or did not stay ready, and was not
// rolled back), 5 when interrupted, 1 otherwise (a held lock, a failed
// install, a node rolled back); anything else 1.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var re *rollout.Error
	if errors.As(err, &re) {
		switch {
		case re.Kind == rollout.KindPreflight, re.Kind == rollout.KindJetStream:
			return ExitUnhealthy
		case re.Kind == rollout.KindNode && (re.Step == rollout.StepReady || re.Step == rollout.StepSteady) && re.RolledBack == "":
			return ExitUnhealthy
		case re.Kind == rollout.KindInterrupted:
			return ExitCancelled
		}
	}
	return ExitError
}
