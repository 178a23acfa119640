package tune

import (
	"testing"

	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/tune"
)

// After tune applies, a server still on its old limit is named with the
// connections it has now and would have after the restart.
func TestRestartNeededLine(t *testing.T) {
	h := &tune.HostRun{Host: hostrun.Host{Node: "n2"},
		Verify: &tune.Verification{RestartNeeded: true, Process: tune.ProcLimit{PID: 7, Soft: 20000, Hard: 20000}},
		Limits: &tune.Limits{PID: 7, RunningSoft: 20000, RunningCapacity: 19881, Desired: 1024000, DesiredCapacity: 65536}}
	want := "tuned; running nats-server (pid 7) still has nofile 20000 (capacity 19881 connections; 65536 after a restart): restart needed to take effect (natsops restart --node n2)"
	if got := restartNeededLine(h); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	h.Limits = nil
	if got, want := restartNeededLine(h), "tuned; running nats-server (pid 7) still has nofile 20000: restart needed to take effect (natsops restart --node n2)"; got != want {
		t.Errorf("without limits: %q", got)
	}
}
