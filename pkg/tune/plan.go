package tune

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/natsops/natsops/pkg/service"
)

// Observed is what a host has now.
type Observed struct {
	// Sysctls maps each desired name to its current value; absent names
	// have no /proc/sys entry on this kernel.
	Sysctls map[string]string
	// ReadOnly lists parameters whose /proc/sys file cannot be written
	// (a container shares its host's kernel and mounts /proc/sys read-only).
	ReadOnly map[string]bool
	Files    map[string]FileState // by path
	// UnitLimit is `systemctl show -p LimitNOFILE` of the unit.
	UnitLimit string
	// Unit is what systemd has for the unit (service.ShowCommand); Show
	// false when it was not read (pidfile mode).
	Unit service.UnitProps
	Show bool
	// Process is the running nats-server's open-files limit; PID 0 when it
	// is not running.
	Process ProcLimit
}

// FileState is a managed file as found.
type FileState struct {
	Exists bool
	Data   []byte
}

// ProcLimit is a process's "Max open files" from /proc/<pid>/limits.
type ProcLimit struct {
	PID  int   `json:"pid"`
	Soft int64 `json:"soft"`
	Hard int64 `json:"hard"`
}

// Change is one thing the plan will do.
type Change struct {
	Kind string `json:"kind"` // "file" or "sysctl"
	What string `json:"what"` // path or parameter
	Old  string `json:"old"`
	New  string `json:"new"`
	Diff string `json:"diff,omitempty"`
}

// Plan is one host's pending changes, computed without touching it.
type Plan struct {
	Node    string   `json:"node"`
	Changes []Change `json:"changes"`
	// Problems stop this host: nothing is applied on it.
	Problems []string `json:"problems,omitempty"`
	// Notes are worth saying but change nothing (a built-in default this
	// kernel does not have).
	Notes []string `json:"notes,omitempty"`
	// Files are the managed files' desired contents, by path.
	Files map[string][]byte `json:"-"`
	// Loads are parameters to set now (the file alone only applies at boot).
	Loads []Sysctl `json:"-"`
}

// Pending reports whether applying would change the host.
func (p *Plan) Pending() bool { return len(p.Changes) > 0 }

// Items are the changes one line each, as the audit record lists them:
// "sysctl net.core.somaxconn 4096 -> 8192", "file /etc/sysctl.d/90-natsops.conf".
func (p *Plan) Items() []string {
	var out []string
	for _, c := range p.Changes {
		if c.Kind == "sysctl" {
			out = append(out, fmt.Sprintf("sysctl %s %s -> %s", c.What, c.Old, c.New))
		} else {
			out = append(out, c.Kind+" "+c.What)
		}
	}
	return out
}

const header = "# Managed by natsops (`natsops tune`); changes here are overwritten.\n"

// MakePlan compares desired and observed state. It is pure: the same
// inputs give the same plan.
func MakePlan(node string, d Desired, o Observed) *Plan {
	p := &Plan{Node: node, Files: map[string][]byte{}}

	// Sysctls: what to set now, and what the boot-time file must hold.
	var lines []string
	oldManaged := parseSysctlFile(o.Files[d.SysctlPath()].Data)
	for _, s := range d.Sysctls {
		cur, ok := o.Sysctls[s.Name]
		if !ok && s.AtLeast {
			// A built-in default this kernel (or network namespace: a
			// container sees no netdev_max_backlog) does not have.
			p.Notes = append(p.Notes, fmt.Sprintf("sysctl %s is not available here; skipped", s.Name))
			continue
		}
		if !ok {
			p.Problems = append(p.Problems, fmt.Sprintf("sysctl %s does not exist on this kernel (no %s); remove it from [tune.sysctl]", s.Name, s.ProcPath()))
			continue
		}
		want, satisfied := target(s, cur)
		_, managed := oldManaged[s.Name]
		if satisfied && !managed && s.AtLeast {
			continue // the host already allows more: leave it alone
		}
		lines = append(lines, fmt.Sprintf("%s = %s", s.Name, want))
		if !satisfied {
			if o.ReadOnly[s.Name] {
				p.Problems = append(p.Problems, fmt.Sprintf("sysctl %s is %s, want %s, but %s is read-only here (a container shares its host's kernel: set it on the container host, or pin it in [tune.sysctl] to the current value)", s.Name, cur, want, s.ProcPath()))
				continue
			}
			p.Changes = append(p.Changes, Change{Kind: "sysctl", What: s.Name, Old: cur, New: want})
			p.Loads = append(p.Loads, Sysctl{Name: s.Name, Value: want})
		}
	}
	sysctlFile := []byte(header + strings.Join(lines, "\n") + "\n")
	if len(lines) == 0 {
		sysctlFile = nil
	}
	p.fileChange(d.SysctlPath(), sysctlFile, o)

	limits := fmt.Sprintf("%s%s soft nofile %d\n%s hard nofile %d\n", header, d.User, d.NoFile, d.User, d.NoFile)
	p.fileChange(d.LimitsPath(), []byte(limits), o)

	if path := d.DropInPath(); path != "" {
		dropIn := fmt.Sprintf("%s[Service]\nLimitNOFILE=%d\n", header, d.NoFile)
		p.fileChange(path, []byte(dropIn), o)
	}
	return p
}

// fileChange records a managed file's change; want nil means the file is
// not needed (an existing one is left alone).
func (p *Plan) fileChange(path string, want []byte, o Observed) {
	if want == nil {
		return
	}
	p.Files[path] = want
	cur := o.Files[path]
	if cur.Exists && string(cur.Data) == string(want) {
		return
	}
	old := "(absent)"
	if cur.Exists {
		old = fmt.Sprintf("%d bytes", len(cur.Data))
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(cur.Data)), B: difflib.SplitLines(string(want)),
		FromFile: path + " (" + p.Node + ")", ToFile: path + " (natsops)", Context: 3,
	})
	p.Changes = append(p.Changes, Change{Kind: "file", What: path, Old: old, New: fmt.Sprintf("%d bytes", len(want)), Diff: diff})
}

// target returns the value to set and whether cur already satisfies s.
func target(s Sysctl, cur string) (string, bool) {
	cur = normalize(cur)
	if !s.AtLeast {
		return s.Value, cur == s.Value
	}
	c, err1 := strconv.ParseInt(cur, 10, 64)
	w, err2 := strconv.ParseInt(s.Value, 10, 64)
	if err1 != nil || err2 != nil {
		return s.Value, cur == s.Value
	}
	if c >= w {
		return cur, true
	}
	return s.Value, false
}

func parseSysctlFile(b []byte) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			out[strings.TrimSpace(k)] = normalize(v)
		}
	}
	return out
}
