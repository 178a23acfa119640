package tune

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/natsops/natsops/pkg/remote"
)

// Observe reads what h has now for d, without changing anything.
func Observe(ctx context.Context, h remote.Host, d Desired) (Observed, error) {
	o := Observed{Sysctls: map[string]string{}, ReadOnly: map[string]bool{}, Files: map[string]FileState{}}
	// One round trip for every parameter: "name<TAB>rw|ro<TAB>value", or
	// "name<TAB>missing".
	var b strings.Builder
	for _, s := range d.Sysctls {
		p := remote.Quote(s.ProcPath())
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then if [ -w %[1]s ]; then m=rw; else m=ro; fi; printf '%%s\\t%%s\\t%%s\\n' %[2]s \"$m\" \"$(cat %[1]s | tr '\\t\\n' '  ')\"; else printf '%%s\\tmissing\\n' %[2]s; fi\n", p, remote.Quote(s.Name))
	}
	res, err := h.Run(ctx, b.String(), remote.RunOptions{Sudo: true})
	if err != nil {
		return o, err
	}
	if err := res.Err(h, "read sysctls"); err != nil {
		return o, err
	}
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) < 2 || f[1] == "missing" {
			continue
		}
		if len(f) == 3 {
			o.Sysctls[f[0]] = normalize(f[2])
			o.ReadOnly[f[0]] = f[1] == "ro"
		}
	}
	for _, path := range []string{d.SysctlPath(), d.LimitsPath(), d.DropInPath()} {
		if path == "" {
			continue
		}
		data, exists, err := remote.ReadFile(ctx, h, path, true)
		if err != nil {
			return o, err
		}
		o.Files[path] = FileState{Exists: exists, Data: data}
	}
	lim, pl, err := readLimits(ctx, h, d)
	if err != nil {
		return o, err
	}
	o.UnitLimit, o.Process = lim, pl
	return o, nil
}

// readLimits reads the unit's LimitNOFILE and the running server's limit.
func readLimits(ctx context.Context, h remote.Host, d Desired) (string, ProcLimit, error) {
	var cmd string
	if d.Unit != "" {
		u := remote.Quote(d.UnitName())
		cmd = fmt.Sprintf("echo \"unit $(systemctl show -p LimitNOFILE --value %[1]s)\"; pid=$(systemctl show -p MainPID --value %[1]s)", u)
	} else if d.PidFile != "" {
		cmd = fmt.Sprintf("echo unit; pid=$(cat %s 2>/dev/null || echo 0)", remote.Quote(d.PidFile))
	} else {
		return "", ProcLimit{}, nil
	}
	cmd += "\nif [ \"${pid:-0}\" != 0 ] && [ -r /proc/$pid/limits ]; then echo \"pid $pid $(grep '^Max open files' /proc/$pid/limits | awk '{print $4, $5}')\"; else echo 'pid 0'; fi"
	res, err := h.Run(ctx, cmd, remote.RunOptions{Sudo: true})
	if err != nil {
		return "", ProcLimit{}, err
	}
	if err := res.Err(h, "read limits"); err != nil {
		return "", ProcLimit{}, err
	}
	var unit string
	var pl ProcLimit
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 1 && f[0] == "unit":
			unit = strings.Join(f[1:], " ")
		case len(f) == 4 && f[0] == "pid":
			pl.PID, _ = strconv.Atoi(f[1])
			pl.Soft = parseLimit(f[2])
			pl.Hard = parseLimit(f[3])
		}
	}
	return unit, pl, nil
}

func parseLimit(s string) int64 {
	if s == "unlimited" || s == "infinity" {
		return 1<<63 - 1
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Apply carries out p on h: sysctls first (fs.nr_open must be raised
// before a higher LimitNOFILE can take), then the files, then
// daemon-reload when the drop-in changed. A plan with problems is refused
// whole: nothing is half-applied on a host.
func Apply(ctx context.Context, h remote.Host, d Desired, p *Plan) error {
	if len(p.Problems) > 0 {
		return fmt.Errorf("%s: not applied: %s", h.Name(), strings.Join(p.Problems, "; "))
	}
	if !p.Pending() {
		return nil
	}
	if err := preflight(ctx, h, d); err != nil {
		return err
	}
	if path := d.SysctlPath(); p.Files[path] != nil {
		if _, err := remote.Install(ctx, h, remote.File{Path: path, Data: p.Files[path], Mode: 0o644}, true); err != nil {
			return err
		}
	}
	if len(p.Loads) > 0 {
		var b strings.Builder
		b.WriteString("set -e\n")
		for _, s := range p.Loads {
			fmt.Fprintf(&b, "sysctl -q -w %s\n", remote.Quote(s.Name+"="+s.Value))
		}
		res, err := h.Run(ctx, b.String(), remote.RunOptions{Sudo: true})
		if err != nil {
			return err
		}
		if err := res.Err(h, "sysctl -w"); err != nil {
			return err
		}
	}
	if _, err := remote.Install(ctx, h, remote.File{Path: d.LimitsPath(), Data: p.Files[d.LimitsPath()], Mode: 0o644}, true); err != nil {
		return err
	}
	if path := d.DropInPath(); path != "" {
		if _, err := remote.Install(ctx, h, remote.File{Path: path, Data: p.Files[path], Mode: 0o644}, true); err != nil {
			return err
		}
		if p.DropInChanged {
			res, err := h.Run(ctx, "systemctl daemon-reload", remote.RunOptions{Sudo: true})
			if err != nil {
				return err
			}
			if err := res.Err(h, "systemctl daemon-reload"); err != nil {
				return err
			}
		}
	}
	return nil
}

// preflight checks every directory Apply writes to is writable before the
// first change, so a read-only /etc fails the host with nothing applied.
func preflight(ctx context.Context, h remote.Host, d Desired) error {
	var b strings.Builder
	b.WriteString("bad=\n")
	for _, path := range []string{d.SysctlPath(), d.LimitsPath(), d.DropInPath()} {
		if path == "" {
			continue
		}
		fmt.Fprintf(&b, "d=$(dirname %s); while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; [ -w \"$d\" ] || bad=\"$bad $d\"\n", remote.Quote(path))
	}
	b.WriteString("if [ -n \"$bad\" ]; then echo \"not writable:$bad\" >&2; exit 1; fi\n")
	res, err := h.Run(ctx, b.String(), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	if err := res.Err(h, "nothing applied"); err != nil {
		return fmt.Errorf("%w (read-only filesystem? remount it read-write or fix the permissions)", err)
	}
	return nil
}

// Verification is what a host really has after tuning.
type Verification struct {
	Node string `json:"node"`
	// Mismatches are settings that do not hold (an error).
	Mismatches []string `json:"mismatches,omitempty"`
	// RestartNeeded: the unit or files are right, but the running
	// nats-server still has its old open-files limit.
	RestartNeeded bool      `json:"restart_needed"`
	UnitLimit     string    `json:"unit_limit_nofile,omitempty"`
	Process       ProcLimit `json:"process"`
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
	if o.Process.PID != 0 && o.Process.Hard < d.NoFile {
		// Go raises its soft limit to the hard one at start: the hard limit
		// is what nats-server gets.
		v.RestartNeeded = true
	}
	return v
}
