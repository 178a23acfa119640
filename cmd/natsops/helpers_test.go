package main

import (
	"io"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmdutil"
)

// The CLI tests of this package run natsops in-process through the root
// (cmdtest) and the built binary; these are their names for it.

const (
	ExitOK        = cmdutil.ExitOK
	ExitError     = cmdutil.ExitError
	ExitPending   = cmdutil.ExitPending
	ExitUnhealthy = cmdutil.ExitUnhealthy
	ExitRestart   = cmdutil.ExitRestart
	ExitCancelled = cmdutil.ExitCancelled
	ExitUsage     = cmdutil.ExitUsage
	ExitInvalid   = cmdutil.ExitInvalid

	checkOK       = cmdutil.CheckOK
	checkWarning  = cmdutil.CheckWarning
	checkCritical = cmdutil.CheckCritical
	checkUnknown  = cmdutil.CheckUnknown
)

func run(sys *cmdutil.System) int { return cmdtest.Run(sys) }

func testSystem(stdout, stderr io.Writer, tty bool, args ...string) *cmdutil.System {
	return cmdtest.System(stdout, stderr, tty, args...)
}
