package tune

import (
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
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
