package tune

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Observe reads what h has now for d, without changing anything, in one
// round trip: each line of output is a tagged record.
//
//	sysctl <TAB> name <TAB> rw|ro|missing <TAB> value
//	file <TAB> path <TAB> 1|0 <TAB> base64 content
//	unit <TAB> LimitNOFILE
//	pid <TAB> pid <TAB> soft <TAB> hard
func Observe(ctx context.Context, h remote.Host, d Desired) (Observed, error) {
	o := Observed{Sysctls: map[string]string{}, ReadOnly: map[string]bool{}, Files: map[string]FileState{}}
	out, err := remote.Script(ctx, h, "read host state", observeScript(d), remote.RunOptions{Sudo: true})
	if err != nil {
		return o, err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var show []string
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case f[0] == "sysctl" && len(f) == 4 && f[2] != "missing":
			o.Sysctls[f[1]] = normalize(f[3])
			o.ReadOnly[f[1]] = f[2] == "ro"
		case f[0] == "file" && len(f) == 4:
			data, err := base64.StdEncoding.DecodeString(f[3])
			if err != nil {
				return o, fmt.Errorf("%s: read %s: %v", h.Name(), f[1], err)
			}
			o.Files[f[1]] = FileState{Exists: f[2] == "1", Data: data}
		case f[0] == "unit" && len(f) == 2:
			o.UnitLimit = f[1]
		case f[0] == "show" && len(f) >= 2:
			show = append(show, strings.Join(f[1:], "\t"))
		case f[0] == "pid" && len(f) == 4:
			o.Process.PID, _ = strconv.Atoi(f[1])
			o.Process.Soft = service.ParseLimit(f[2])
			o.Process.Hard = service.ParseLimit(f[3])
		}
	}
	if d.Unit != "" {
		p, err := service.ParseShow(show)
		if err != nil {
			return o, fmt.Errorf("%s: systemctl show %s: %v", h.Name(), d.UnitName(), err)
		}
		o.Unit, o.Show = p, true
	}
	return o, nil
}

func observeScript(d Desired) string {
	var b strings.Builder
	for _, s := range d.Sysctls {
		fmt.Fprintf(&b, "f=%s; if [ -e \"$f\" ]; then if [ -w \"$f\" ]; then m=rw; else m=ro; fi; printf 'sysctl\\t%%s\\t%%s\\t%%s\\n' %s \"$m\" \"$(tr '\\t\\n' '  ' < \"$f\")\"; fi\n",
			remote.Quote(s.ProcPath()), remote.Quote(s.Name))
	}
	for _, path := range []string{d.SysctlPath(), d.LimitsPath(), d.DropInPath(), d.ContractPath()} {
		if path == "" {
			continue
		}
		fmt.Fprintf(&b, "f=%s; if [ -e \"$f\" ]; then printf 'file\\t%%s\\t1\\t%%s\\n' \"$f\" \"$(base64 -w0 < \"$f\")\"; else printf 'file\\t%%s\\t0\\t\\n' \"$f\"; fi\n", remote.Quote(path))
	}
	if d.Unit != "" {
		fmt.Fprintf(&b, "printf 'unit\\t%%s\\n' \"$(systemctl show -p LimitNOFILE --value %s)\"\n", remote.Quote(d.UnitName()))
		fmt.Fprintf(&b, "{ %s; } 2>/dev/null | sed 's/^/show\\t/'\n", service.ShowCommand(d.UnitName()))
	}
	pid := service.PIDCommand(d.UnitName(), d.PidFile)
	fmt.Fprintf(&b, "pid=%s\nif [ \"${pid:-0}\" != 0 ] && [ -r /proc/$pid/limits ]; then printf 'pid\\t%%s\\t%%s\\t%%s\\n' \"$pid\" $(awk '/^Max open files/ {print $4, $5}' /proc/$pid/limits); fi\n", pid)
	return b.String()
}

// Apply carries out p on h in one round trip: a check that every target
// directory is writable (so a read-only /etc fails with nothing applied),
// the sysctl file and the sysctls themselves (fs.nr_open must be raised
// before a higher LimitNOFILE can take), the limits file, the drop-in and,
// when it changed, daemon-reload. Each file is installed atomically. p
// has changes and no problems: the engine (pkg/hostrun) applies no other
// plan.
func Apply(ctx context.Context, h remote.Host, d Desired, p *Plan) error {
	_, err := remote.Script(ctx, h, "tune", applyScript(d, p), remote.RunOptions{Sudo: true})
	return err
}

func applyScript(d Desired, p *Plan) string {
	var b strings.Builder
	b.WriteString(remote.ScriptHeader)
	paths := []string{d.SysctlPath(), d.LimitsPath(), d.DropInPath()}
	b.WriteString("bad=\n")
	for _, path := range paths {
		if path != "" && p.Files[path] != nil {
			fmt.Fprintf(&b, "d=$(dirname %s); while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; [ -w \"$d\" ] || bad=\"$bad $d\"\n", remote.Quote(path))
		}
	}
	b.WriteString("if [ -n \"$bad\" ]; then echo \"nothing applied: not writable:$bad (a read-only filesystem? remount it read-write or fix the permissions)\" >&2; exit 1; fi\n")
	install := func(path, result string) {
		b.WriteString(remote.InstallSteps(remote.File{Path: path, Data: p.Files[path], Mode: 0o644}, remote.Embedded(p.Files[path]), result))
	}
	if p.Files[d.SysctlPath()] != nil {
		install(d.SysctlPath(), "r_sysctl")
	}
	for _, s := range p.Loads {
		fmt.Fprintf(&b, "sysctl -q -w %s\n", remote.Quote(s.Name+"="+s.Value))
	}
	install(d.LimitsPath(), "r_limits")
	if path := d.DropInPath(); path != "" {
		install(path, "r_dropin")
		b.WriteString("if [ \"$r_dropin\" = 1 ]; then systemctl daemon-reload; fi\n")
	}
	return b.String()
}

// Verification is what a host really has after tuning.
type Verification struct {
	Node string `json:"node"`
	// Mismatches are settings that do not hold (an error).
	Mismatches []string `json:"mismatches,omitempty"`
	// RestartNeeded: the unit or files are right, but the running
	// nats-server still has its old open-files limit.
	RestartNeeded bool `json:"restart_needed"`
	// Notes are worth saying but are not an error (the stop contract
	// before the first deploy).
	Notes     []string  `json:"notes,omitempty"`
	UnitLimit string    `json:"unit_limit_nofile,omitempty"`
	Process   ProcLimit `json:"process"`
}

// VerifyContract compares what systemd has for the unit (systemctl show,
// whatever the files say) with the stop contract natsops deploy installs.
// Before the drop-in is there (tune runs before the first deploy) it is a
// note saying what a stop of the unit does now; once it is, every way
// systemd's unit breaks it (a drop-in of the admin's that sorts later, no
// daemon-reload, an inventory changed since the deploy) is a mismatch
// with its fix. Nothing in pidfile mode. Pure.
func VerifyContract(d Desired, o Observed) (mismatches, notes []string) {
	c := d.Contract
	if c == nil || !o.Show {
		return nil, nil
	}
	if !o.Files[d.ContractPath()].Exists {
		return nil, []string{fmt.Sprintf("the stop contract is not installed: %s stops with KillSignal=%s, ExecStop %s, TimeoutStopSec=%s; %s", d.UnitName(), "SIG"+o.Unit.KillSignal, text.OrNone(o.Unit.ExecStop), o.Unit.TimeoutStop, service.ContractFix(*c, o.Unit, false))}
	}
	for _, f := range service.CheckContract(*c, o.Unit) {
		mismatches = append(mismatches, f+" ("+service.ContractFix(*c, o.Unit, true)+")")
	}
	return mismatches, nil
}

// Verify compares what the host reports with d. Pure, like MakePlan.
func Verify(node string, d Desired, o Observed) Verification {
	v := Verification{Node: node, UnitLimit: o.UnitLimit, Process: o.Process}
	for _, s := range d.Sysctls {
		cur, ok := o.Sysctls[s.Name]
		if !ok {
			continue
		}
		if _, satisfied := target(s, cur); !satisfied {
			v.Mismatches = append(v.Mismatches, fmt.Sprintf("sysctl %s is %s, want %s", s.Name, cur, s.Value))
		}
	}
	want := strconv.FormatInt(d.NoFile, 10)
	if d.Unit != "" && o.UnitLimit != want {
		v.Mismatches = append(v.Mismatches, fmt.Sprintf("systemd %s has LimitNOFILE=%s, want %s", d.UnitName(), o.UnitLimit, want))
	}
	mis, notes := VerifyContract(d, o)
	v.Mismatches = append(v.Mismatches, mis...)
	v.Notes = append(v.Notes, notes...)
	if o.Process.PID != 0 && o.Process.Hard < d.NoFile {
		// Go raises its soft limit to the hard one at start: the hard limit
		// is what nats-server gets.
		v.RestartNeeded = true
	}
	return v
}
