package tune

import (
	"testing"

	"github.com/natsops/natsops/internal/testinv"
)

// LimitsFor: the running server's limit next to the desired one, each
// with the connections it allows (reserve: the inventory's estimate, 87
// for a 3-node JetStream cluster, plus the 32 margin).
func TestLimitsFor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		proc  ProcLimit
		want  Limits
	}{
		{"the seed: 20000 running, the default desired", "", ProcLimit{PID: 7, Soft: 20000, Hard: 20000},
			Limits{PID: 7, RunningSoft: 20000, RunningHard: 20000, RunningCapacity: 20000 - 119, Desired: DefaultNoFile, DesiredCapacity: 65536, MaxConnections: 65536, Reserve: 119}},
		{"not running", "", ProcLimit{},
			Limits{Desired: DefaultNoFile, DesiredCapacity: 65536, MaxConnections: 65536, Reserve: 119}},
		{"nofile below max_connections", "[tune]\nnofile = 50000\n[server]\nmax_connections = 100000\n", ProcLimit{PID: 7, Soft: 1024, Hard: 524288},
			Limits{PID: 7, RunningSoft: 1024, RunningHard: 524288, RunningCapacity: 1024 - 119, Desired: 50000, DesiredCapacity: 50000 - 119, MaxConnections: 100000, Reserve: 119}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := testinv.MustParse(t, testinv.ThreeJS()+tc.extra)
			n := inv.Nodes[0]
			if got := LimitsFor(inv, n, DesiredFor(inv, n), tc.proc); got != tc.want {
				t.Errorf("LimitsFor =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// TestAuditWords: what tune tells the engine for the audit record: each
// change on one line, and a server still on its old limit as a warning
// (not a failure).
func TestAuditWords(t *testing.T) {
	p := &Plan{Changes: []Change{{Kind: "sysctl", What: "net.core.somaxconn", Old: "4096", New: "8192"}, {Kind: "file", What: "/etc/security/limits.d/90-natsops.conf"}}}
	if got := p.Items(); len(got) != 2 || got[0] != "sysctl net.core.somaxconn 4096 -> 8192" || got[1] != "file /etc/security/limits.d/90-natsops.conf" {
		t.Errorf("Items = %q", got)
	}
	h := &HostRun{desired: Desired{NoFile: 1024000}, observed: Observed{Process: ProcLimit{PID: 7, Soft: 1024, Hard: 4096}}}
	v := h.Check()
	if len(v.Mismatches) != 0 || v.Warning != "running nats-server (pid 7) still has its old open-files limit: restart needed" || h.Verify == nil || !h.Verify.RestartNeeded {
		t.Errorf("Check = %+v (verify %+v)", v, h.Verify)
	}
}
