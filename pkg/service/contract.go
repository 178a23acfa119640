package service

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// ContractDropInName is the drop-in natsops writes so that the unit
// itself stops nats-server safely, whoever stops it (next to tune's
// 90-natsops.conf and the ExecStart drop-in).
const ContractDropInName = "92-natsops-service.conf"

// contractSignal is the stop signal of the contract: nats-server enters
// lame duck mode on SIGUSR2 and exits 0 when it is done.
const contractSignal = "SIGUSR2"

// Contract is what a node's systemd unit must have so that any stop of
// it (anyone's systemctl stop or restart, a reboot) goes through lame
// duck mode and is never cut short by systemd's SIGKILL.
//
// KillSignal=SIGUSR2 with ExecStop= emptied, rather than an ExecStop
// that sends SIGUSR2: systemd sends KillSignal to the unit as soon as
// the ExecStop commands return, and a kill(1) returns at once, so the
// server would get SIGTERM (or Debian's ExecStop SIGINT) while it enters
// lame duck: it ignores SIGTERM only once lame duck has begun, a race.
// With KillSignal the one signal sent is SIGUSR2, and systemd waits
// TimeoutStopSec for the exit (0, recorded as Result=success).
type Contract struct {
	// Unit is the unit's full name ("nats-server.service").
	Unit string `json:"unit"`
	// KillSignal is what systemd sends to stop the server.
	KillSignal string `json:"kill_signal"`
	// TimeoutStop is the least TimeoutStopSec that lets lame duck finish
	// (StopTimeout).
	TimeoutStop time.Duration `json:"timeout_stop"`
	// LameDuck is the node's lame_duck_duration (what TimeoutStop covers).
	LameDuck time.Duration `json:"lame_duck"`
	// GoMemLimit is service.gomemlimit, "" when unset (then the unit's
	// environment is not checked).
	GoMemLimit string `json:"gomemlimit,omitempty"`
}

// ContractFor is node n's contract; ok is false in pidfile mode, where
// natsops starts and stops the server itself and no unit exists.
func ContractFor(n *cluster.Node) (c Contract, ok bool) {
	if n.Service.Manager != "systemd" || n.Service.Unit == "" {
		return Contract{}, false
	}
	return Contract{Unit: n.Service.UnitName(), KillSignal: contractSignal, TimeoutStop: StopTimeout(n), LameDuck: lameDuck(n), GoMemLimit: n.Service.GoMemLimit}, true
}

// ContractPath is where the contract's drop-in goes for unit.
func ContractPath(unit string) string {
	return UnitDir + "/" + unit + ".d/" + ContractDropInName
}

// ContractDropIn is the drop-in that makes node n's unit keep the
// contract: ExecStop emptied (Debian's sends SIGINT: no lame duck),
// KillSignal=SIGUSR2, TimeoutStopSec lame_duck_duration + 30s, and
// Environment=GOMEMLIMIT when the inventory sets one. ok is false in
// pidfile mode. A change to KillSignal or TimeoutStopSec takes effect at
// daemon-reload; Environment= only at the server's next start.
func ContractDropIn(n *cluster.Node) (path string, data []byte, ok bool) {
	c, ok := ContractFor(n)
	if !ok {
		return "", nil, false
	}
	var b strings.Builder
	b.WriteString("# Managed by natsops (`natsops deploy`, from server.lame_duck_duration and\n# service.gomemlimit); changes here are overwritten. A drop-in that sorts\n# after this one overrides it: `natsops tune --check` compares what systemd has.\n[Service]\n")
	b.WriteString("# Every stop (systemctl stop or restart, a reboot) goes through lame duck\n# mode: clients and JetStream leaders move to the other nodes first.\n")
	b.WriteString("ExecStop=\nKillSignal=" + c.KillSignal + "\n")
	fmt.Fprintf(&b, "# lame_duck_duration %s plus %s; shorter, systemd SIGKILLs the server mid lame duck.\n", c.LameDuck, stopMargin)
	fmt.Fprintf(&b, "TimeoutStopSec=%d\n", int(c.TimeoutStop.Round(time.Second)/time.Second))
	if c.GoMemLimit != "" {
		// Checked by the inventory: digits and a unit, or "off".
		b.WriteString("# Takes effect at the server's next start.\nEnvironment=GOMEMLIMIT=" + c.GoMemLimit + "\n")
	}
	return ContractPath(c.Unit), []byte(b.String()), true
}

// ContractEnv is the GOMEMLIMIT line of a contract drop-in ("" when it has
// none): what a deploy compares to tell a change that needs the server
// restarted from one systemd takes at daemon-reload.
func ContractEnv(data []byte) string {
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Environment=GOMEMLIMIT="); ok {
			return v
		}
	}
	return ""
}

// Unit properties ShowCommand reads.
var showProps = []string{"KillSignal", "TimeoutStopUSec", "LimitNOFILE", "Environment", "ExecStop", "DropInPaths"}

// ShowCommand prints what systemd really has for unit, whatever the files
// say (a drop-in of the admin's that sorts later wins): `systemctl show`
// of the contract's properties and LimitNOFILE, one "Name=value" line
// each, and KillSignalName, the signal's name as the host's kill(1) knows
// it (the numbers differ between architectures).
func ShowCommand(unit string) string {
	u := remote.Quote(unit)
	args := []string{"systemctl", "show"}
	for _, p := range showProps {
		args = append(args, "-p", p)
	}
	return remote.Command(append(args, unit)...) + "\n" +
		fmt.Sprintf("s=$(systemctl show -p KillSignal --value %s); printf 'KillSignalName=%%s\\n' \"$(kill -l \"$s\" 2>/dev/null)\"", u)
}

// UnitProps are a unit's properties as systemd has them.
type UnitProps struct {
	// KillSignal is the signal's name without "SIG" ("USR2").
	KillSignal string `json:"kill_signal"`
	// TimeoutStop is TimeoutStopUSec; Infinite when systemd never kills.
	TimeoutStop time.Duration `json:"timeout_stop"`
	Infinite    bool          `json:"timeout_stop_infinite,omitempty"`
	LimitNOFILE string        `json:"limit_nofile"`
	// Environment is the unit's Environment= assignments, NAME=value.
	Environment []string `json:"environment,omitempty"`
	// ExecStop is the command line of each ExecStop= (none: empty).
	ExecStop []string `json:"exec_stop,omitempty"`
	// DropIns are the unit's drop-in files, in the order systemd applies
	// them (a later one wins).
	DropIns []string `json:"drop_ins,omitempty"`
}

// ParseShow reads ShowCommand's output.
func ParseShow(lines []string) (UnitProps, error) {
	var p UnitProps
	var num string
	for _, l := range lines {
		k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), "=")
		if !ok {
			continue
		}
		switch k {
		case "KillSignal":
			num = v
		case "KillSignalName":
			p.KillSignal = strings.TrimPrefix(strings.TrimSpace(v), "SIG")
		case "TimeoutStopUSec":
			d, inf, err := ParseTimespan(v)
			if err != nil {
				return p, fmt.Errorf("TimeoutStopUSec: %v", err)
			}
			p.TimeoutStop, p.Infinite = d, inf
		case "LimitNOFILE":
			p.LimitNOFILE = v
		case "Environment":
			p.Environment = splitEnv(v)
		case "ExecStop":
			if cmd := execArgv(v); cmd != "" {
				p.ExecStop = append(p.ExecStop, cmd)
			}
		case "DropInPaths":
			p.DropIns = strings.Fields(v)
		}
	}
	if p.KillSignal == "" && num != "" {
		p.KillSignal = "signal " + num
	}
	return p, nil
}

// Env is the value of the unit's Environment= name, and whether it is set.
func (p UnitProps) Env(name string) (string, bool) {
	for _, a := range p.Environment {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// CheckContract compares what systemd has with the contract: each
// finding says what a stop of the unit then does. A longer TimeoutStopSec
// than needed (or infinity) is fine. Pure.
func CheckContract(c Contract, p UnitProps) []string {
	var out []string
	if p.KillSignal != strings.TrimPrefix(c.KillSignal, "SIG") {
		out = append(out, fmt.Sprintf("systemd %s stops with KillSignal=%s, not %s: a systemctl stop or restart skips lame duck mode", c.Unit, sigName(p.KillSignal), c.KillSignal))
	}
	for _, cmd := range p.ExecStop {
		out = append(out, fmt.Sprintf("systemd %s runs ExecStop=%s before its KillSignal: a systemctl stop or restart does what that does, not lame duck mode", c.Unit, cmd))
	}
	if !p.Infinite && p.TimeoutStop < c.TimeoutStop {
		out = append(out, fmt.Sprintf("systemd %s has TimeoutStopSec=%s, below lame_duck_duration %s + %s: systemd SIGKILLs nats-server mid lame duck", c.Unit, p.TimeoutStop, c.LameDuck, stopMargin))
	}
	if c.GoMemLimit != "" {
		if v, ok := p.Env("GOMEMLIMIT"); !ok || v != c.GoMemLimit {
			have := "no GOMEMLIMIT"
			if ok {
				have = "GOMEMLIMIT=" + v
			}
			out = append(out, fmt.Sprintf("systemd %s has %s in its Environment, want GOMEMLIMIT=%s (service.gomemlimit)", c.Unit, have, c.GoMemLimit))
		}
	}
	return out
}

// ContractFix says how to make the unit keep the contract: deploy when
// natsops's drop-in is missing or stale, else name the drop-ins that
// sort after it and override it.
func ContractFix(c Contract, p UnitProps, installed bool) string {
	path := ContractPath(c.Unit)
	if !installed {
		return fmt.Sprintf("natsops deploy installs %s", path)
	}
	var later []string
	seen := false
	for _, d := range p.DropIns {
		if d == path {
			seen = true
			continue
		}
		if seen {
			later = append(later, d)
		}
	}
	switch {
	case !seen:
		return fmt.Sprintf("systemd has not read %s: run systemctl daemon-reload", path)
	case len(later) > 0:
		return fmt.Sprintf("%s overrides %s (drop-ins apply in name order, the last wins): remove the setting there", strings.Join(later, ", "), path)
	}
	return fmt.Sprintf("natsops deploy rewrites %s", path)
}

func sigName(s string) string {
	if s == "" || strings.HasPrefix(s, "signal ") {
		return "(" + s + ")"
	}
	return "SIG" + s
}

// splitEnv splits systemctl show's Environment= value: assignments
// separated by spaces, one holding a space written in double quotes.
func splitEnv(v string) []string {
	var out []string
	var cur strings.Builder
	quoted, got := false, false
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
			got = true
		case ch == '"':
			quoted, got = !quoted, true
		case ch == ' ' && !quoted:
			if got {
				out = append(out, cur.String())
			}
			cur.Reset()
			got = false
		default:
			cur.WriteByte(ch)
			got = true
		}
	}
	if got {
		out = append(out, cur.String())
	}
	return out
}

// execArgv is the command line of one ExecStop= value as systemctl show
// prints it: "{ path=/bin/kill ; argv[]=/bin/kill -s SIGINT $MAINPID ;
// ... }".
func execArgv(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if _, rest, ok := strings.Cut(v, "argv[]="); ok {
		argv, _, _ := strings.Cut(rest, " ;")
		return strings.TrimSpace(argv)
	}
	return v
}

// ParseTimespan reads a systemd time span as systemctl show prints it
// ("2min 30s", "1min 30.500000s", "500ms", "infinity").
func ParseTimespan(s string) (d time.Duration, infinite bool, err error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return 0, true, nil
	}
	units := []struct {
		name string
		mult time.Duration
	}{{"usec", time.Microsecond}, {"msec", time.Millisecond}, {"min", time.Minute}, {"us", time.Microsecond}, {"ms", time.Millisecond},
		{"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"M", 30*24*time.Hour + 10*time.Hour + 30*time.Minute}, {"y", 365*24*time.Hour + 6*time.Hour}, {"s", time.Second}}
	if s == "" || s == "0" {
		return 0, false, nil
	}
	for _, f := range strings.Fields(s) {
		i := 0
		for i < len(f) && (f[i] >= '0' && f[i] <= '9' || f[i] == '.') {
			i++
		}
		num, unit := f[:i], f[i:]
		x, perr := strconv.ParseFloat(num, 64)
		if perr != nil || num == "" {
			return 0, false, fmt.Errorf("%q is not a systemd time span", s)
		}
		mult := time.Duration(-1)
		for _, u := range units {
			if unit == u.name {
				mult = u.mult
				break
			}
		}
		if unit == "" {
			mult = time.Microsecond // a bare number is microseconds (…USec)
		}
		if mult < 0 {
			return 0, false, fmt.Errorf("%q is not a systemd time span", s)
		}
		d += time.Duration(x * float64(mult))
	}
	return d, false, nil
}
