package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
)

// TestContractDropIn: the drop-in's content from the inventory, one row
// per case.
func TestContractDropIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		path  string
		want  []string // lines the file holds
		not   []string
	}{
		{name: "defaults: lame duck 2m, 150s to stop", path: "/etc/systemd/system/nats-server.service.d/92-natsops-service.conf",
			want: []string{"[Service]", "ExecStop=", "KillSignal=SIGUSR2", "TimeoutStopSec=150", "# lame_duck_duration 2m0s plus 30s; shorter, systemd SIGKILLs the server mid lame duck."},
			not:  []string{"Environment="}},
		{name: "lame duck 30s: 60s", extra: "[server]\nlame_duck_duration = \"30s\"\n",
			want: []string{"TimeoutStopSec=60", "KillSignal=SIGUSR2"}},
		{name: "lame duck 5m: 330s", extra: "[server]\nlame_duck_duration = \"5m\"\n",
			want: []string{"TimeoutStopSec=330"}},
		{name: "gomemlimit", extra: "[service]\ngomemlimit = \"3GiB\"\n",
			want: []string{"Environment=GOMEMLIMIT=3GiB", "# Takes effect at the server's next start."}},
		{name: "gomemlimit off", extra: "[service]\ngomemlimit = \"off\"\n",
			want: []string{"Environment=GOMEMLIMIT=off"}},
		{name: "unit with its suffix", extra: "[service]\nunit = \"nats.service\"\n", path: "/etc/systemd/system/nats.service.d/92-natsops-service.conf"},
		{name: "an instance unit", extra: "[service]\nunit = \"nats@a\"\n", path: "/etc/systemd/system/nats@a.service.d/92-natsops-service.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, data, ok := ContractDropIn(node(t, tc.extra))
			if !ok {
				t.Fatal("no drop-in for a systemd node")
			}
			if tc.path != "" && path != tc.path {
				t.Errorf("path %s, want %s", path, tc.path)
			}
			lines := strings.Split(string(data), "\n")
			has := func(l string) bool {
				for _, x := range lines {
					if x == l {
						return true
					}
				}
				return false
			}
			for _, w := range tc.want {
				if !has(w) {
					t.Errorf("no line %q in:\n%s", w, data)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(string(data), w) {
					t.Errorf("has %q:\n%s", w, data)
				}
			}
			if !strings.HasPrefix(string(data), "# Managed by natsops") {
				t.Errorf("no header:\n%s", data)
			}
			// The same inventory gives the same file (deploy compares bytes).
			if _, again, _ := ContractDropIn(node(t, tc.extra)); string(again) != string(data) {
				t.Error("not deterministic")
			}
		})
	}
	if _, _, ok := ContractDropIn(node(t, "[service]\nmanager = \"pidfile\"\n[server]\npid_file = \"/run/n.pid\"\n")); ok {
		t.Error("pidfile mode has no unit, but got a drop-in")
	}
}

func node(t *testing.T, extra string) *cluster.Node {
	t.Helper()
	inv, err := cluster.Parse("inv.toml", []byte(extra+"\n[[node]]\nname = \"a\"\nhost = \"h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return inv.Nodes[0]
}

// TestContractEnv: the GOMEMLIMIT a drop-in sets.
func TestContractEnv(t *testing.T) {
	_, with, _ := ContractDropIn(node(t, "[service]\ngomemlimit = \"3GiB\"\n"))
	_, without, _ := ContractDropIn(node(t, ""))
	for _, tc := range []struct {
		data []byte
		want string
	}{{with, "3GiB"}, {without, ""}, {nil, ""}, {[]byte("[Service]\n Environment=GOMEMLIMIT=1GiB\n"), "1GiB"}} {
		if got := ContractEnv(tc.data); got != tc.want {
			t.Errorf("ContractEnv(%q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

// debianShow is `systemctl show` of Debian's nats-server unit, untouched.
var debianShow = []string{
	"KillSignal=15",
	"TimeoutStopUSec=1min 30s",
	"LimitNOFILE=524288",
	"Environment=",
	"ExecStop={ path=/bin/kill ; argv[]=/bin/kill -s SIGINT $MAINPID ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
	"DropInPaths=",
	"KillSignalName=TERM",
}

// contracted is the same unit with the contract and a drop-in of the
// admin's sorting after it.
var contracted = []string{
	"KillSignal=12",
	"TimeoutStopUSec=2min 30s",
	"LimitNOFILE=1024000",
	`Environment=GOMEMLIMIT=3GiB "NOTE=a b"`,
	"DropInPaths=/etc/systemd/system/nats-server.service.d/90-natsops.conf /etc/systemd/system/nats-server.service.d/92-natsops-service.conf /etc/systemd/system/nats-server.service.d/override.conf",
	"KillSignalName=USR2",
}

func TestParseShow(t *testing.T) {
	p, err := ParseShow(debianShow)
	if err != nil {
		t.Fatal(err)
	}
	if p.KillSignal != "TERM" || p.TimeoutStop != 90*time.Second || p.Infinite || p.LimitNOFILE != "524288" || len(p.Environment) != 0 || len(p.DropIns) != 0 {
		t.Errorf("debian: %+v", p)
	}
	if len(p.ExecStop) != 1 || p.ExecStop[0] != "/bin/kill -s SIGINT $MAINPID" {
		t.Errorf("exec stop %q", p.ExecStop)
	}
	p, err = ParseShow(contracted)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Env("GOMEMLIMIT"); !ok || v != "3GiB" || len(p.Environment) != 2 || p.Environment[1] != "NOTE=a b" {
		t.Errorf("environment %q", p.Environment)
	}
	if p.KillSignal != "USR2" || p.TimeoutStop != 150*time.Second || len(p.ExecStop) != 0 || len(p.DropIns) != 3 {
		t.Errorf("contracted: %+v", p)
	}
	// No kill(1) name: the number is kept.
	if p, _ := ParseShow([]string{"KillSignal=12", "KillSignalName="}); p.KillSignal != "signal 12" {
		t.Errorf("no name: %q", p.KillSignal)
	}
	if _, err := ParseShow([]string{"TimeoutStopUSec=soon"}); err == nil {
		t.Error("a bad time span was read")
	}
}

func TestParseTimespan(t *testing.T) {
	for _, tc := range []struct {
		in  string
		d   time.Duration
		inf bool
		bad bool
	}{
		{in: "1min 30s", d: 90 * time.Second},
		{in: "2min 30s", d: 150 * time.Second},
		{in: "1min", d: time.Minute},
		{in: "45s", d: 45 * time.Second},
		{in: "500ms", d: 500 * time.Millisecond},
		{in: "1min 30.500000s", d: 90*time.Second + 500*time.Millisecond},
		{in: "1h 5min", d: time.Hour + 5*time.Minute},
		{in: "0", d: 0},
		{in: "150000000", d: 150 * time.Second},
		{in: "infinity", inf: true},
		{in: "soon", bad: true},
		{in: "5 parsecs", bad: true},
	} {
		d, inf, err := ParseTimespan(tc.in)
		if (err != nil) != tc.bad || d != tc.d || inf != tc.inf {
			t.Errorf("ParseTimespan(%q) = %s, %v, %v", tc.in, d, inf, err)
		}
	}
}

// TestCheckContract: what systemd has against the contract, one row per
// case; each finding says what a stop then does.
func TestCheckContract(t *testing.T) {
	want, _ := ContractFor(node(t, "[service]\ngomemlimit = \"3GiB\"\n"))
	good, _ := ParseShow(contracted)
	debian, _ := ParseShow(debianShow)
	with := func(f func(*UnitProps)) UnitProps { p := good; f(&p); return p }
	for _, tc := range []struct {
		name string
		have UnitProps
		c    Contract
		want []string // one substring per finding, in order
	}{
		{name: "kept", have: good, c: want},
		{name: "Debian's unit", have: debian, c: want, want: []string{
			"stops with KillSignal=SIGTERM, not SIGUSR2: a systemctl stop or restart skips lame duck mode",
			"runs ExecStop=/bin/kill -s SIGINT $MAINPID before its KillSignal",
			"has TimeoutStopSec=1m30s, below lame_duck_duration 2m0s + 30s: systemd SIGKILLs nats-server mid lame duck",
			"has no GOMEMLIMIT in its Environment, want GOMEMLIMIT=3GiB"}},
		{name: "an override shortens the timeout", have: with(func(p *UnitProps) { p.TimeoutStop = 15 * time.Second }), c: want,
			want: []string{"TimeoutStopSec=15s, below"}},
		{name: "a longer timeout is fine", have: with(func(p *UnitProps) { p.TimeoutStop = time.Hour }), c: want},
		{name: "infinity is fine", have: with(func(p *UnitProps) { p.TimeoutStop, p.Infinite = 0, true }), c: want},
		{name: "another GOMEMLIMIT", have: with(func(p *UnitProps) { p.Environment = []string{"GOMEMLIMIT=1GiB"} }), c: want,
			want: []string{"has GOMEMLIMIT=1GiB in its Environment, want GOMEMLIMIT=3GiB"}},
		{name: "no gomemlimit in the inventory: the environment is not ours", have: with(func(p *UnitProps) { p.Environment = nil }), c: func() Contract { c := want; c.GoMemLimit = ""; return c }()},
		{name: "an ExecStop put back", have: with(func(p *UnitProps) { p.ExecStop = []string{"/bin/kill -INT $MAINPID"} }), c: want,
			want: []string{"runs ExecStop=/bin/kill -INT $MAINPID"}},
		{name: "a signal kill(1) does not name", have: with(func(p *UnitProps) { p.KillSignal = "signal 12" }), c: want,
			want: []string{"KillSignal=(signal 12), not SIGUSR2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckContract(tc.c, tc.have)
			if len(got) != len(tc.want) {
				t.Fatalf("findings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) || !strings.Contains(got[i], "systemd nats-server.service ") {
					t.Errorf("finding %d %q does not say %q", i, got[i], w)
				}
			}
		})
	}
}

func TestContractFix(t *testing.T) {
	c, _ := ContractFor(node(t, ""))
	good, _ := ParseShow(contracted)
	path := "/etc/systemd/system/nats-server.service.d/92-natsops-service.conf"
	for _, tc := range []struct {
		name      string
		drops     []string
		installed bool
		want      string
	}{
		{"not installed", nil, false, "natsops deploy installs " + path},
		{"an override after it", good.DropIns, true, "/etc/systemd/system/nats-server.service.d/override.conf overrides " + path},
		{"not reloaded", good.DropIns[:1], true, "systemd has not read " + path + ": run systemctl daemon-reload"},
		{"last, but stale", good.DropIns[:2], true, "natsops deploy rewrites " + path},
	} {
		p := good
		p.DropIns = tc.drops
		if got := ContractFix(c, p, tc.installed); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestShowCommandRuns: the show script against a fake systemctl prints
// what ParseShow reads, the signal named by the shell's own kill -l.
func TestShowCommandRuns(t *testing.T) {
	dir := t.TempDir()
	fake := `#!/bin/sh
# systemctl show [-p P]... [--value] UNIT
case " $* " in *" --value "*) echo 12; exit 0;; esac
echo "$*" > "$(dirname "$0")/args"
printf 'KillSignal=12\nTimeoutStopUSec=2min 30s\n'
`
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", ShowCommand("nats-server.service"))
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p, err := ParseShow(strings.Split(string(out), "\n"))
	if err != nil || p.KillSignal != "USR2" || p.TimeoutStop != 150*time.Second {
		t.Fatalf("parsed %+v %v from:\n%s", p, err, out)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got := strings.TrimSpace(string(args)); got != "show -p KillSignal -p TimeoutStopUSec -p LimitNOFILE -p Environment -p ExecStop -p DropInPaths nats-server.service" {
		t.Errorf("systemctl %s", got)
	}
}

// TestSystemdStopCommands: both modes signal the main process themselves
// and wait for it; neither runs `systemctl stop`, which under the
// contract (KillSignal=SIGUSR2) would make a fast stop a lame-duck one,
// and on Debian's unit (ExecStop SIGINT) a graceful stop a fast one. Run
// against a fake systemctl: the signal each sends.
func TestSystemdStopCommands(t *testing.T) {
	n := node(t, "[server]\nlame_duck_duration = \"30s\"\n")
	for _, tc := range []struct {
		mode  Mode
		sig   string
		bound time.Duration
	}{
		{Graceful, "SIGUSR2", 30*time.Second + exitMargin},
		{Fast, "SIGINT", exitMargin},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			c := CommandsFor(n, tc.mode)
			if strings.Contains(c.Stop, "systemctl stop") {
				t.Errorf("stop runs systemctl stop:\n%s", c.Stop)
			}
			if c.ExitBound != tc.bound {
				t.Errorf("bound %s, want %s", c.ExitBound, tc.bound)
			}
			dir := t.TempDir()
			fake := "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\n"
			if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", c.Stop)
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
			want := "is-active --quiet nats-server\nkill -s " + tc.sig + " --kill-who=main nats-server\n"
			if string(calls) != want {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", calls, want)
			}
		})
	}
}
