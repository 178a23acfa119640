package provision

import (
	"fmt"
	"path"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
)

// Step kinds, in the order Apply carries them out.
const (
	StepPackage = "package"
	StepBinary  = "binary"
	StepUser    = "user"
	StepDir     = "dir"
	StepUnit    = "unit"
	StepEnable  = "enable"
)

// Step is one thing the plan will do.
type Step struct {
	Kind string `json:"kind"`
	What string `json:"what"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new"`
	Diff string `json:"diff,omitempty"`
	// IfNoUnit: the package is installed in the same run; natsops's unit
	// is written only if the package ships none.
	IfNoUnit bool `json:"if_package_ships_none,omitempty"`
}

func (s Step) String() string {
	switch s.Kind {
	case StepPackage:
		return fmt.Sprintf("install package %s %s", s.What, s.New)
	case StepEnable:
		return fmt.Sprintf("enable %s (%s -> enabled)", s.What, s.Old)
	}
	return fmt.Sprintf("%s %s: %s -> %s", s.Kind, s.What, s.Old, s.New)
}

// Plan is one host's pending steps, computed without touching it.
type Plan struct {
	Node  string `json:"node"`
	Steps []Step `json:"steps"`
	// Problems are bad input found on this host (each with its fix):
	// nothing is applied while any host has one.
	Problems []string `json:"problems,omitempty"`
	// Notes change nothing but are worth saying.
	Notes []string `json:"notes,omitempty"`
	// PackageManager and PackageVersion: what the package step runs (the
	// version the plan showed, not whatever is newest at apply time).
	PackageManager string `json:"package_manager,omitempty"`
	PackageVersion string `json:"package_version,omitempty"`
}

// Pending reports whether applying would change the host.
func (p *Plan) Pending() bool { return len(p.Steps) > 0 }

// Items are the steps one line each, as shown and as the audit record
// lists them.
func (p *Plan) Items() []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.String())
	}
	return out
}

func (p *Plan) problem(format string, args ...any) {
	p.Problems = append(p.Problems, fmt.Sprintf(format, args...))
}

// MakePlan compares desired and observed state. It is pure.
func MakePlan(d Desired, o Observed) *Plan {
	p := &Plan{Node: d.Node}
	if d.Manager == "systemd" && !o.Systemd {
		p.problem("systemd is not running on this host (no /run/systemd/system); fix: use service.manager = \"pidfile\" there, or a host booted with systemd")
		return p
	}
	installing := p.planInstall(d, o)
	if d.User != "" {
		p.planUser(d, o)
	}
	p.planDirs(d, o)
	if d.Unit != "" {
		p.planUnit(d, o, installing)
	}
	return p
}

// planInstall adds the package or binary step; it reports whether the
// package is installed in this run.
func (p *Plan) planInstall(d Desired, o Observed) bool {
	switch d.Install {
	case cluster.InstallPackage:
		if o.Package.Installed {
			switch {
			case !o.Binary.Exists:
				p.problem("package %s is installed but service.binary %q is not there; fix: set service.binary to the package's nats-server (dpkg -L %s, or rpm -ql %s)", Package, d.Binary, Package, Package)
			case o.Binary.RunErr:
				p.problem("%s does not run: %s; fix: repair the %s package", o.Binary.Path, o.Binary.Output, Package)
			default:
				p.checkVersion(d, o.Binary.Version, fmt.Sprintf("the installed %s package (%s)", Package, o.Package.Version),
					"upgrade it one node at a time with natsops deploy (point service.binary at the newer build), or lower service.nats_version")
			}
			return false
		}
		switch {
		case o.PackageManager == "":
			p.problem("no apt-get or dnf on this host to install %s with; fix: use service.install = \"binary\" with binary_source and binary_sha256", Package)
		case o.Package.Candidate == "":
			p.problem("package %s is not available from this host's %s repositories (%s); fix: add a repository that has it and refresh the index (%s), or use service.install = \"binary\"",
				Package, o.PackageManager, map[string]string{"apt": "apt-cache policy shows no candidate", "dnf": "dnf repoquery finds none"}[o.PackageManager],
				map[string]string{"apt": "apt-get update", "dnf": "dnf makecache"}[o.PackageManager])
		default:
			cand := upstreamVersion(o.Package.Candidate)
			if p.checkVersion(d, cand, fmt.Sprintf("the %s package the repositories offer (%s)", Package, o.Package.Candidate),
				"add a repository with a newer nats-server, use service.install = \"binary\", or lower service.nats_version") {
				p.PackageManager, p.PackageVersion = o.PackageManager, o.Package.Candidate
				p.Steps = append(p.Steps, Step{Kind: StepPackage, What: Package, Old: "not installed", New: o.Package.Candidate + " (" + o.PackageManager + ")"})
				return true
			}
		}
	case cluster.InstallBinary:
		b := o.Binary
		if b.Exists && b.SHA256 == d.SHA256 {
			if b.RunErr {
				p.problem("%s (binary_source's build) does not run on this host: %s; fix: use a build for this host's OS and architecture", d.Binary, b.Output)
			} else {
				p.checkVersion(d, b.Version, d.Binary, "use a newer binary_source (and its binary_sha256), or lower service.nats_version")
			}
			return false
		}
		old := "absent"
		if b.Exists {
			old = "sha256 " + short(b.SHA256)
			if b.Version != "" {
				old += " (nats-server " + b.Version + ")"
			}
			if o.RunningPID != 0 && runsFrom(o.RunningExe, d.Binary) {
				p.problem("nats-server (pid %d) runs from %s; replacing that file would change what its next restart runs, outside deploy's gates and with no way back; fix: give the new build its own path (e.g. service.binary = \"%s-<version>\") and roll it out with natsops deploy", o.RunningPID, d.Binary, d.Binary)
				return false
			}
		}
		p.Steps = append(p.Steps, Step{Kind: StepBinary, What: d.Binary, Old: old, New: "sha256 " + short(d.SHA256) + " from " + sourceName(d)})
	}
	return false
}

// checkVersion refuses a version older than service.nats_version; what
// names the binary, fix the way out. It reports whether v is acceptable.
func (p *Plan) checkVersion(d Desired, v, what, fix string) bool {
	if d.MinVersion == "" {
		return true
	}
	min, _ := cluster.ParseVersion(d.MinVersion)
	have, ok := cluster.ParseVersion(core(v))
	if !ok {
		p.problem("cannot tell the version of %s (it says %q), and service.nats_version is %s (%s); fix: check that it is nats-server", what, v, d.MinVersion, d.MinVersionAt)
		return false
	}
	if have.Less(min) {
		p.problem("%s is nats-server %s, older than service.nats_version %s (%s); fix: %s", what, core(v), d.MinVersion, d.MinVersionAt, fix)
		return false
	}
	return true
}

func (p *Plan) planUser(d Desired, o Observed) {
	switch {
	case o.User == nil:
		p.Steps = append(p.Steps, Step{Kind: StepUser, What: d.User, Old: "absent", New: "system account, group " + d.User + ", no login shell"})
	case !o.GroupExists:
		p.Steps = append(p.Steps, Step{Kind: StepUser, What: d.User, Old: "user without group " + d.User, New: "group " + d.User})
	case !strings.HasSuffix(o.User.Shell, "nologin") && !strings.HasSuffix(o.User.Shell, "/false"):
		p.Notes = append(p.Notes, fmt.Sprintf("user %s exists with the login shell %s: left as it is", d.User, o.User.Shell))
	}
}

func (p *Plan) planDirs(d Desired, o Observed) {
	for i, dir := range d.Dirs {
		st := o.Dirs[i]
		want := fmt.Sprintf("%04o", dir.Mode)
		if dir.Owner != "" {
			want = dir.Owner + " " + want
		}
		switch {
		case !st.Exists:
			p.Steps = append(p.Steps, Step{Kind: StepDir, What: dir.Path, Old: "absent", New: want})
		case !st.IsDir:
			p.problem("%s (%s) exists and is not a directory; fix: move it away, or choose another path", dir.Path, dir.Key)
		case st.Mode != dir.Mode || dir.Owner != "" && st.Owner != dir.Owner:
			p.Steps = append(p.Steps, Step{Kind: StepDir, What: dir.Path, Old: fmt.Sprintf("%s %04o", st.Owner, st.Mode), New: want})
		}
	}
}

func (p *Plan) planUnit(d Desired, o Observed, installing bool) {
	u := o.Unit
	ours := o.UnitFile.Exists && strings.HasPrefix(string(o.UnitFile.Data), service.UnitMarker)
	switch {
	case u.LoadState == "masked":
		p.problem("unit %s is masked; fix: systemctl unmask %s, or set service.unit to another name", d.Unit, d.Unit)
		return
	case ours:
		old := fmt.Sprintf("%d bytes", len(o.UnitFile.Data))
		if u.LoadState != "loaded" {
			old += ", not loaded"
		}
		if string(o.UnitFile.Data) != string(d.UnitData) || u.LoadState != "loaded" {
			p.Steps = append(p.Steps, Step{Kind: StepUnit, What: d.UnitPath, Old: old, New: fmt.Sprintf("%d bytes", len(d.UnitData)), Diff: diff(p.Node, d.UnitPath, o.UnitFile.Data, d.UnitData)})
		}
	case u.LoadState == "loaded":
		// Someone else's unit: it must run nats-server, as our user.
		if !isNATSServer(u.Program, d.Binary) {
			p.problem("unit %s exists (%s) and runs %q, not nats-server; fix: set service.unit to a name of its own, or remove that unit", d.Unit, u.FragmentPath, u.Program)
			return
		}
		if u.User != "" && u.User != d.User {
			p.problem("unit %s (%s) runs as %s, not service.user %s; fix: set service.user = %q, or change the unit's User= with a drop-in", d.Unit, u.FragmentPath, u.User, d.User, u.User)
			return
		}
		if d.Install == cluster.InstallBinary && !sameFile(u.Program, d.Binary) {
			p.Notes = append(p.Notes, fmt.Sprintf("unit %s is not natsops's (%s): left as it is; it runs %s, and natsops deploy points it at %s (ExecStart drop-in)", d.Unit, u.FragmentPath, u.Program, d.Binary))
		}
	case installing:
		// Unknown until the package is in: the package's unit, or ours.
		p.Steps = append(p.Steps, Step{Kind: StepUnit, What: d.Unit, Old: "absent", New: "the package's, or " + d.UnitPath + " if it ships none", IfNoUnit: true, Diff: diff(p.Node, d.UnitPath, nil, d.UnitData)})
	default:
		p.Steps = append(p.Steps, Step{Kind: StepUnit, What: d.UnitPath, Old: "absent", New: fmt.Sprintf("natsops's unit, %d bytes", len(d.UnitData)), Diff: diff(p.Node, d.UnitPath, o.UnitFile.Data, d.UnitData)})
	}
	if u.UnitFileState != "enabled" {
		old := u.UnitFileState
		if old == "" {
			old = "absent"
		}
		p.Steps = append(p.Steps, Step{Kind: StepEnable, What: d.Unit, Old: old, New: "enabled"})
	}
}

// isNATSServer reports whether a unit's program is nats-server: the
// binary natsops was told about, or a file called nats-server (or the
// seed's gnatsd), perhaps with a version suffix.
func isNATSServer(program, binary string) bool {
	if program == "" {
		return false
	}
	if sameFile(program, binary) {
		return true
	}
	base := path.Base(program)
	for _, name := range []string{"nats-server", "gnatsd"} {
		if base == name || strings.HasPrefix(base, name+"-") || strings.HasPrefix(base, name+".") {
			return true
		}
	}
	return false
}

// sameFile compares a unit's program with service.binary (a bare name
// matches any directory: systemd looked it up on its PATH).
func sameFile(program, binary string) bool {
	if strings.Contains(binary, "/") {
		return program == binary
	}
	return path.Base(program) == binary
}

// runsFrom reports whether /proc/<pid>/exe names path (a replaced file
// reads "path (deleted)").
func runsFrom(exe, path string) bool {
	return exe == path || exe == path+" (deleted)"
}

// upstreamVersion strips a distribution's epoch and revision:
// "1:2.9.10-1+b3" -> "2.9.10", "2.10.18-1.fc40" -> "2.10.18".
func upstreamVersion(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	return core(v)
}

// core is the major.minor.patch of a version ("2.11.0-RC.1" -> "2.11.0").
func core(v string) string {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+~ "); i >= 0 {
		v = v[:i]
	}
	return v
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func sourceName(d Desired) string {
	if d.Source == nil {
		return "binary_source"
	}
	return d.Source.Path
}

func diff(node, path string, old, want []byte) string {
	var a []string
	if len(old) > 0 {
		a = difflib.SplitLines(string(old))
	}
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: a, B: difflib.SplitLines(string(want)),
		FromFile: path + " (" + node + ")", ToFile: path + " (natsops)", Context: 3,
	})
	return text
}

// Verification is what a host really has after provisioning.
type Verification struct {
	Node string `json:"node"`
	// Mismatches are things that do not hold (an error).
	Mismatches []string `json:"mismatches,omitempty"`
	// Version is what service.binary --version reports.
	Version string `json:"version,omitempty"`
	Binary  string `json:"binary,omitempty"`
}

// OK reports a host that has everything.
func (v Verification) OK() bool { return len(v.Mismatches) == 0 }

// Verify compares what the host reports with d. Pure, like MakePlan.
func Verify(d Desired, o Observed) Verification {
	v := Verification{Node: d.Node, Version: o.Binary.Version, Binary: o.Binary.Path}
	bad := func(format string, args ...any) { v.Mismatches = append(v.Mismatches, fmt.Sprintf(format, args...)) }
	b := o.Binary
	switch {
	case !b.Exists:
		bad("%s does not exist", d.Binary)
	case b.RunErr || b.Version == "":
		bad("%s --version does not report a nats-server version: %q", b.Path, b.Output)
	case d.MinVersion != "":
		min, _ := cluster.ParseVersion(d.MinVersion)
		if have, ok := cluster.ParseVersion(core(b.Version)); !ok || have.Less(min) {
			bad("%s is nats-server %s, older than service.nats_version %s", b.Path, b.Version, d.MinVersion)
		}
	}
	if d.Install == cluster.InstallBinary && b.Exists && b.SHA256 != d.SHA256 {
		bad("%s has sha256 %s, not %s", d.Binary, short(b.SHA256), short(d.SHA256))
	}
	if d.Install == cluster.InstallPackage && !o.Package.Installed {
		bad("package %s is not installed", Package)
	}
	if d.User != "" {
		if o.User == nil {
			bad("user %s does not exist", d.User)
		}
		if !o.GroupExists {
			bad("group %s does not exist", d.User)
		}
	}
	for i, dir := range d.Dirs {
		st := o.Dirs[i]
		switch {
		case !st.Exists || !st.IsDir:
			bad("directory %s does not exist", dir.Path)
		case st.Mode != dir.Mode:
			bad("directory %s has mode %04o, want %04o", dir.Path, st.Mode, dir.Mode)
		case dir.Owner != "" && st.Owner != dir.Owner:
			bad("directory %s is owned by %s, want %s", dir.Path, st.Owner, dir.Owner)
		}
	}
	if d.Unit != "" {
		u := o.Unit
		switch {
		case u.LoadState != "loaded":
			bad("unit %s is %s, not loaded", d.Unit, text.OrDash(u.LoadState))
		case u.UnitFileState != "enabled":
			bad("unit %s is %s, not enabled", d.Unit, text.OrDash(u.UnitFileState))
		case !isNATSServer(u.Program, d.Binary):
			bad("unit %s runs %q, not nats-server", d.Unit, u.Program)
		case u.User != "" && u.User != d.User:
			bad("unit %s runs as %s, not service.user %s (set service.user = %q)", d.Unit, u.User, d.User, u.User)
		}
	}
	return v
}
