package tune

import (
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
)

func desired(t *testing.T, src string) Desired {
	t.Helper()
	inv, err := cluster.Parse("t.toml", []byte(src+"\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return DesiredFor(inv, inv.Nodes[0])
}

// fresh is a host as Debian installs it: low limits, nothing managed.
func fresh(d Desired) Observed {
	o := Observed{Sysctls: map[string]string{}, ReadOnly: map[string]bool{}, Files: map[string]FileState{}}
	for _, s := range d.Sysctls {
		o.Sysctls[s.Name] = "1000"
	}
	o.Sysctls["fs.file-max"] = "9223372036854775807" // modern kernels: effectively unlimited
	o.UnitLimit = "524288"
	o.Process = ProcLimit{PID: 42, Soft: 524288, Hard: 524288}
	return o
}

// applied simulates a successful Apply: the host now holds the plan.
func applied(o Observed, p *Plan, d Desired) Observed {
	for _, s := range p.Loads {
		o.Sysctls[s.Name] = s.Value
	}
	for path, data := range p.Files {
		o.Files[path] = FileState{Exists: true, Data: data}
	}
	o.UnitLimit = "1024000"
	return o
}

func TestDesiredDefaults(t *testing.T) {
	d := desired(t, "")
	if d.NoFile != 1024000 || d.User != "nats" || d.UnitName() != "nats-server.service" {
		t.Errorf("defaults: %+v", d)
	}
	if d.DropInPath() != "/etc/systemd/system/nats-server.service.d/90-natsops.conf" {
		t.Errorf("drop-in path %s", d.DropInPath())
	}
	names := []string{}
	for _, s := range d.Sysctls {
		names = append(names, s.Name+"="+s.Value)
	}
	want := "fs.file-max=6815744 fs.nr_open=1048576 net.core.netdev_max_backlog=16384 net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=8192"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("sysctls:\n got %s\nwant %s", got, want)
	}
	// The operator's values are exact, and extra ones are added.
	d = desired(t, "[tune]\nnofile = 2000000\n[tune.sysctl]\n\"fs.nr_open\" = 2000000\n\"net.ipv4.ip_local_port_range\" = \"1024   65535\"\n")
	for _, s := range d.Sysctls {
		switch s.Name {
		case "fs.nr_open":
			if s.Value != "2000000" || s.AtLeast {
				t.Errorf("nr_open %+v", s)
			}
		case "net.ipv4.ip_local_port_range":
			if s.Value != "1024 65535" || s.AtLeast {
				t.Errorf("port range %+v", s)
			}
		}
	}
	// pidfile mode: no drop-in, the server found through its pid file.
	d = desired(t, "[service]\nmanager = \"pidfile\"\n[server]\npid_file = \"/run/nats.pid\"\n")
	if d.DropInPath() != "" || d.PidFile != "/run/nats.pid" {
		t.Errorf("pidfile mode: %+v", d)
	}
}

func TestPlanFreshHostThenIdempotent(t *testing.T) {
	d := desired(t, "")
	o := fresh(d)
	p := MakePlan("n1", d, o)
	if len(p.Problems) > 0 || !p.Pending() {
		t.Fatalf("plan: %+v", p)
	}
	var loads []string
	for _, s := range p.Loads {
		loads = append(loads, s.Name)
	}
	// fs.file-max is already higher than the seed's value: never lowered.
	if strings.Contains(strings.Join(loads, ","), "fs.file-max") {
		t.Errorf("would lower fs.file-max: %v", loads)
	}
	if got := string(p.Files[d.SysctlPath()]); strings.Contains(got, "fs.file-max") || !strings.Contains(got, "net.core.somaxconn = 4096") {
		t.Errorf("sysctl file:\n%s", got)
	}
	if got := string(p.Files[d.DropInPath()]); !strings.Contains(got, "[Service]\nLimitNOFILE=1024000\n") {
		t.Errorf("drop-in:\n%s", got)
	}
	if got := string(p.Files[d.LimitsPath()]); !strings.Contains(got, "nats soft nofile 1024000\nnats hard nofile 1024000\n") {
		t.Errorf("limits:\n%s", got)
	}
	var diff string
	for _, c := range p.Changes {
		diff += c.Diff
	}
	if !strings.Contains(diff, "+LimitNOFILE=1024000") {
		t.Errorf("diff:\n%s", diff)
	}

	after := applied(o, p, d)
	if again := MakePlan("n1", d, after); again.Pending() {
		t.Errorf("second plan not empty: %+v", again.Changes)
	}
	v := Verify("n1", d, after)
	if len(v.Mismatches) > 0 || !v.RestartNeeded {
		t.Errorf("verify: %+v (the running server still has 524288)", v)
	}
	after.Process.Hard, after.Process.Soft = 1024000, 1024000
	if v := Verify("n1", d, after); v.RestartNeeded {
		t.Errorf("restart still needed after restart: %+v", v)
	}
}

func TestPlanProblems(t *testing.T) {
	d := desired(t, "[tune.sysctl]\n\"net.core.nonexistent\" = 5\n")
	o := fresh(d)
	delete(o.Sysctls, "net.core.nonexistent")
	p := MakePlan("n1", d, o)
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], "sysctl net.core.nonexistent does not exist on this kernel") {
		t.Errorf("problems: %v", p.Problems)
	}

	// A built-in default the kernel lacks is skipped with a note.
	d = desired(t, "")
	o = fresh(d)
	delete(o.Sysctls, "net.core.netdev_max_backlog")
	p = MakePlan("n1", d, o)
	if len(p.Problems) != 0 || len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "net.core.netdev_max_backlog is not available here") {
		t.Errorf("problems %v notes %v", p.Problems, p.Notes)
	}

	d = desired(t, "")
	o = fresh(d)
	o.ReadOnly["net.core.somaxconn"] = true
	p = MakePlan("n1", d, o)
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], "net.core.somaxconn is 1000, want 4096, but /proc/sys/net/core/somaxconn is read-only") {
		t.Errorf("problems: %v", p.Problems)
	}
	// A read-only parameter that already holds is no problem.
	o.Sysctls["net.core.somaxconn"] = "65535"
	if p = MakePlan("n1", d, o); len(p.Problems) != 0 {
		t.Errorf("problems: %v", p.Problems)
	}
}

func TestPlanKeepsManagedValues(t *testing.T) {
	// A value natsops raised earlier stays in the boot file, so a reboot
	// keeps it even though the running kernel already satisfies it.
	d := desired(t, "")
	o := fresh(d)
	for _, s := range d.Sysctls {
		o.Sysctls[s.Name] = s.Value
	}
	o.Files[d.SysctlPath()] = FileState{Exists: true, Data: []byte(header + "net.core.somaxconn = 4096\n")}
	p := MakePlan("n1", d, o)
	if got := string(p.Files[d.SysctlPath()]); !strings.Contains(got, "net.core.somaxconn = 4096") {
		t.Errorf("managed value dropped:\n%s", got)
	}
}

// TestVerifyContract: what systemd has against the stop contract, one
// row per case.
func TestVerifyContract(t *testing.T) {
	d := desired(t, "[server]\nlame_duck_duration = \"30s\"\n")
	kept := service.UnitProps{KillSignal: "USR2", TimeoutStop: 60 * time.Second, DropIns: []string{d.ContractPath()}}
	installed := map[string]FileState{d.ContractPath(): {Exists: true, Data: []byte("x")}}
	for _, tc := range []struct {
		name       string
		d          Desired
		o          Observed
		mismatches []string
		notes      []string
	}{
		{name: "kept", d: d, o: Observed{Show: true, Unit: kept, Files: installed}},
		{name: "not installed yet: a note, not an error", d: d, o: Observed{Show: true, Unit: service.UnitProps{KillSignal: "TERM", TimeoutStop: 90 * time.Second, ExecStop: []string{"/bin/kill -s SIGINT $MAINPID"}}, Files: map[string]FileState{}},
			notes: []string{"the stop contract is not installed: nats-server.service stops with KillSignal=SIGTERM, ExecStop /bin/kill -s SIGINT $MAINPID, TimeoutStopSec=1m30s; natsops deploy installs /etc/systemd/system/nats-server.service.d/92-natsops-service.conf"}},
		{name: "an admin's drop-in after it shortens the timeout", d: d,
			o:          Observed{Show: true, Unit: service.UnitProps{KillSignal: "USR2", TimeoutStop: 15 * time.Second, DropIns: []string{d.ContractPath(), "/etc/systemd/system/nats-server.service.d/99-admin.conf"}}, Files: installed},
			mismatches: []string{"TimeoutStopSec=15s, below lame_duck_duration 30s + 30s: systemd SIGKILLs nats-server mid lame duck (/etc/systemd/system/nats-server.service.d/99-admin.conf overrides"}},
		{name: "pidfile mode: nothing", d: desired(t, "[service]\nmanager = \"pidfile\"\n[server]\npid_file = \"/run/n.pid\"\n"), o: Observed{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n := VerifyContract(tc.d, tc.o)
			if len(m) != len(tc.mismatches) || len(n) != len(tc.notes) {
				t.Fatalf("mismatches %q notes %q", m, n)
			}
			for i, w := range tc.mismatches {
				if !strings.Contains(m[i], w) {
					t.Errorf("mismatch %q does not say %q", m[i], w)
				}
			}
			for i, w := range tc.notes {
				if n[i] != w {
					t.Errorf("note %q\nwant %q", n[i], w)
				}
			}
		})
	}
}
