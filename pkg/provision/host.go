package provision

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Observed is what a host has now.
type Observed struct {
	// PackageManager is "apt", "dnf" or "" (neither found).
	PackageManager string
	// Systemd: systemd is the running init (/run/systemd/system exists).
	Systemd bool
	Package PackageState
	Binary  BinaryState
	// User is nil when the account does not exist.
	User        *Account
	GroupExists bool
	// Dirs are in Desired.Dirs's order.
	Dirs []DirState
	Unit UnitState
	// UnitFile is Desired.UnitPath as found.
	UnitFile FileState
	// Running is the server's pid (systemd MainPID or the pid file's) and
	// /proc/<pid>/exe; 0 and "" when none runs.
	RunningPID int
	RunningExe string
}

// PackageState is the distribution package, as the package manager knows it.
type PackageState struct {
	Installed bool
	Version   string // installed version, as the package manager writes it
	Candidate string // what an install would get; "" when the repositories have none
}

// BinaryState is service.binary on the host.
type BinaryState struct {
	// Path is where it is: service.binary, or the command found on PATH.
	Path   string
	Exists bool
	SHA256 string // binary mode only
	// Output of `--version` (RunErr: its exit status was not 0).
	Output  string
	RunErr  bool
	Version string // parsed from Output
}

// Account is a user from the passwd database.
type Account struct {
	UID   string
	GID   string
	Home  string
	Shell string
}

// DirState is a path as found.
type DirState struct {
	Exists bool
	IsDir  bool
	Owner  string // user:group
	Mode   uint32
}

// UnitState is what systemd says about the unit.
type UnitState struct {
	LoadState     string // loaded, not-found, masked, ...
	FragmentPath  string
	UnitFileState string // enabled, disabled, static, ...
	User          string
	// Program is ExecStart's program path.
	Program string
}

// FileState is a file as found.
type FileState struct {
	Exists bool
	Data   []byte
}

// Observe reads what h has for d in one round trip, changing nothing (no
// package index refresh either: the index is read as it is). Each output
// line is a tagged record; free text is base64.
func Observe(ctx context.Context, h remote.Host, d Desired) (Observed, error) {
	var o Observed
	out, err := remote.Script(ctx, h, "read host state", observeScript(d), remote.RunOptions{Sudo: true})
	if err != nil {
		return o, err
	}
	return parseObserved(out, d)
}

func b64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}

func parseObserved(out []byte, d Desired) (Observed, error) {
	o := Observed{Dirs: make([]DirState, len(d.Dirs))}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		seen[f[0]] = true
		switch {
		case f[0] == "os" && len(f) == 3:
			o.PackageManager, o.Systemd = f[1], f[2] == "1"
		case f[0] == "pkg" && len(f) == 4:
			o.Package = parsePackage(o.PackageManager, f[1] == "1", b64(f[2]), b64(f[3]))
		case f[0] == "bin" && len(f) == 6:
			o.Binary = BinaryState{Path: b64(f[1]), Exists: f[2] == "1", SHA256: f[3], Output: strings.TrimSpace(b64(f[4])), RunErr: f[5] != "0"}
			if !o.Binary.RunErr {
				o.Binary.Version = service.ParseServerVersion(o.Binary.Output)
			}
		case f[0] == "user" && len(f) == 2:
			o.User = parsePasswd(b64(f[1]))
		case f[0] == "group" && len(f) == 2:
			o.GroupExists = f[1] == "1"
		case f[0] == "dir" && len(f) == 3:
			i, err := strconv.Atoi(f[1])
			if err != nil || i < 0 || i >= len(o.Dirs) {
				return o, fmt.Errorf("read host state: bad record %q", sc.Text())
			}
			o.Dirs[i] = parseStat(b64(f[2]))
		case f[0] == "unit" && len(f) == 2:
			o.Unit = parseUnitShow(b64(f[1]))
		case f[0] == "unitfile" && len(f) == 3:
			o.UnitFile = FileState{Exists: f[1] == "1", Data: []byte(b64(f[2]))}
		case f[0] == "run" && len(f) == 3:
			o.RunningPID, _ = strconv.Atoi(f[1])
			o.RunningExe = b64(f[2])
		}
	}
	if !seen["end"] {
		return o, fmt.Errorf("read host state: the output ended early (%d bytes)", len(out))
	}
	return o, nil
}

// parsePackage reads dpkg-query/apt-cache policy (apt) or rpm/repoquery
// (dnf) output.
func parsePackage(pm string, installed bool, version, candidate string) PackageState {
	p := PackageState{Installed: installed, Version: strings.TrimSpace(version)}
	switch pm {
	case "apt":
		// apt-cache policy: "  Candidate: 2.9.10-1+b3", or "(none)".
		for _, l := range strings.Split(candidate, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Candidate:"); ok {
				if v = strings.TrimSpace(v); v != "(none)" {
					p.Candidate = v
				}
			}
		}
	case "dnf":
		lines := strings.Fields(candidate)
		if len(lines) > 0 {
			p.Candidate = lines[len(lines)-1]
		}
	}
	return p
}

func parsePasswd(line string) *Account {
	f := strings.Split(strings.TrimSpace(line), ":")
	if len(f) < 7 {
		return nil
	}
	return &Account{UID: f[2], GID: f[3], Home: f[5], Shell: f[6]}
}

// parseStat reads `stat -c '%F|%U:%G|%a'`.
func parseStat(s string) DirState {
	f := strings.Split(strings.TrimSpace(s), "|")
	if len(f) != 3 {
		return DirState{}
	}
	mode, _ := strconv.ParseUint(f[2], 8, 32)
	return DirState{Exists: true, IsDir: f[0] == "directory", Owner: f[1], Mode: uint32(mode)}
}

// parseUnitShow reads `systemctl show -p ...` (Key=Value lines). ExecStart
// is "{ path=/usr/sbin/nats-server ; argv[]=... ; ... }".
func parseUnitShow(s string) UnitState {
	var u UnitState
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		switch k {
		case "LoadState":
			u.LoadState = v
		case "FragmentPath":
			u.FragmentPath = v
		case "UnitFileState":
			u.UnitFileState = v
		case "User":
			u.User = v
		case "ExecStart":
			if u.Program == "" {
				if _, rest, ok := strings.Cut(v, "path="); ok {
					u.Program, _, _ = strings.Cut(rest, " ;")
				}
			}
		}
	}
	return u
}

func observeScript(d Desired) string {
	var b strings.Builder
	b.WriteString(`natsops_b64() { base64 -w0; }
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then pm=apt
elif command -v dnf >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1; then pm=dnf
else pm=; fi
if [ -d /run/systemd/system ]; then sd=1; else sd=0; fi
printf 'os\t%s\t%s\n' "$pm" "$sd"
`)
	if d.Install == cluster.InstallPackage {
		pkg := remote.Quote(Package)
		fmt.Fprintf(&b, `inst=0; ver=; cand=
case $pm in
apt)
  st=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' %[1]s 2>/dev/null || true)
  case $st in ii*) inst=1; ver=${st#*|};; esac
  cand=$(apt-cache policy %[1]s 2>/dev/null || true);;
dnf)
  if rpm -q %[1]s >/dev/null 2>&1; then inst=1; ver=$(rpm -q --qf '%%{VERSION}-%%{RELEASE}' %[1]s); fi
  cand=$(dnf -q repoquery --available --latest-limit=1 --qf '%%{version}-%%{release}\n' %[1]s 2>/dev/null || true);;
esac
printf 'pkg\t%%s\t%%s\t%%s\n' "$inst" "$(printf %%s "$ver" | natsops_b64)" "$(printf %%s "$cand" | natsops_b64)"
`, pkg)
	}
	sum := ""
	if d.Install == cluster.InstallBinary {
		sum = `sum=$(sha256sum < "$p" | cut -c1-64)`
	}
	fmt.Fprintf(&b, `b=%s
case $b in /*) p=$b;; *) p=$(command -v "$b" 2>/dev/null || true);; esac
ex=0; sum=; out=; rc=0
if [ -n "$p" ] && [ -f "$p" ]; then
  ex=1
  %s
  if [ -x "$p" ]; then out=$(timeout 10 "$p" --version 2>&1); rc=$?; else out="not executable"; rc=126; fi
fi
printf 'bin\t%%s\t%%s\t%%s\t%%s\t%%s\n' "$(printf %%s "$p" | natsops_b64)" "$ex" "$sum" "$(printf %%s "$out" | head -c 512 | natsops_b64)" "$rc"
`, remote.Quote(d.Binary), sum)
	if d.User != "" {
		fmt.Fprintf(&b, "u=%s\nprintf 'user\\t%%s\\n' \"$(getent passwd \"$u\" | natsops_b64)\"\nif getent group \"$u\" >/dev/null; then g=1; else g=0; fi\nprintf 'group\\t%%s\\n' \"$g\"\n", remote.Quote(d.User))
	}
	for i, dir := range d.Dirs {
		fmt.Fprintf(&b, "printf 'dir\\t%d\\t%%s\\n' \"$(stat -c '%%F|%%U:%%G|%%a' %s 2>/dev/null | natsops_b64)\"\n", i, remote.Quote(dir.Path))
	}
	pid := "0"
	switch {
	case d.Unit != "":
		u := remote.Quote(d.Unit)
		fmt.Fprintf(&b, "printf 'unit\\t%%s\\n' \"$(systemctl show -p LoadState -p FragmentPath -p UnitFileState -p User -p ExecStart %s 2>/dev/null | natsops_b64)\"\n", u)
		fmt.Fprintf(&b, "f=%s; if [ -f \"$f\" ]; then printf 'unitfile\\t1\\t%%s\\n' \"$(natsops_b64 < \"$f\")\"; else printf 'unitfile\\t0\\t\\n'; fi\n", remote.Quote(d.UnitPath))
		pid = fmt.Sprintf("$(systemctl show -p MainPID --value %s 2>/dev/null)", u)
	case d.PidFile != "":
		pid = fmt.Sprintf("$(cat %s 2>/dev/null)", remote.Quote(d.PidFile))
	}
	fmt.Fprintf(&b, `pid=%s
case $pid in ''|*[!0-9]*) pid=0;; esac
# /proc/<pid>/exe needs CAP_SYS_PTRACE for another user's process (root
# in a container may lack it); argv[0] is what systemd or the start
# command ran.
exe=; if [ "$pid" != 0 ]; then exe=$(readlink "/proc/$pid/exe" 2>/dev/null || tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | head -n 1 || true); fi
printf 'run\t%%s\t%%s\n' "$pid" "$(printf %%s "$exe" | natsops_b64)"
echo end
`, pid)
	return b.String()
}

// Apply carries out p on h in one round trip, in order: the package or
// the binary (uploaded on stdin to a temp file beside service.binary, its
// SHA-256 and version checked there before it replaces anything), the
// group and user, the directories, the unit (daemon-reload), enable. The
// service is not started. p has steps and no problems: the engine
// (pkg/hostrun) applies no other plan.
func Apply(ctx context.Context, h remote.Host, d Desired, p *Plan) error {
	script, stdin := applyScript(d, p)
	_, err := remote.Script(ctx, h, "provision", script, remote.RunOptions{Sudo: true, Stdin: stdin})
	return err
}

// nologin is the shell of the accounts natsops creates.
const nologin = `"$(command -v nologin || echo /usr/sbin/nologin)"`

func applyScript(d Desired, p *Plan) (string, []byte) {
	var b strings.Builder
	var stdin []byte
	b.WriteString(remote.ScriptHeader)
	for _, s := range p.Steps {
		switch s.Kind {
		case StepPackage:
			switch p.PackageManager {
			case "apt":
				fmt.Fprintf(&b, "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 install --no-install-recommends %s >&2\n", remote.Quote(Package+"="+p.PackageVersion))
			case "dnf":
				fmt.Fprintf(&b, "dnf -q -y install %s >&2\n", remote.Quote(Package+"-"+p.PackageVersion))
			}
		case StepBinary:
			stdin = d.Source.Data
			b.WriteString(remote.InstallSteps(remote.File{Path: d.Binary, Mode: 0o755, Validate: checkUpload(d)}, "cat", "r_bin"))
		case StepUser:
			u := remote.Quote(d.User)
			fmt.Fprintf(&b, "getent group %[1]s >/dev/null || groupadd --system %[1]s\n", u)
			fmt.Fprintf(&b, "getent passwd %[1]s >/dev/null || useradd --system --gid %[1]s --no-create-home --home-dir /nonexistent --shell %[2]s --comment 'NATS server' %[1]s\n", u, nologin)
		case StepDir:
			for _, dir := range d.Dirs {
				if dir.Path != s.What {
					continue
				}
				q := remote.Quote(dir.Path)
				fmt.Fprintf(&b, "mkdir -p %s\n", q)
				if dir.Owner != "" {
					fmt.Fprintf(&b, "chown %s %s\n", remote.Quote(dir.Owner), q)
				}
				fmt.Fprintf(&b, "chmod %04o %s\n", dir.Mode, q)
			}
		case StepUnit:
			// daemon-reload also when an equal file is not loaded yet.
			install := remote.InstallSteps(remote.File{Path: d.UnitPath, Mode: 0o644}, remote.Embedded(d.UnitData), "r_unit") +
				fmt.Sprintf("if [ \"$r_unit\" = 1 ] || [ \"$(systemctl show -p LoadState --value %s)\" != loaded ]; then systemctl daemon-reload; fi\n", remote.Quote(d.Unit))
			if s.IfNoUnit {
				// The package may have shipped one after all.
				fmt.Fprintf(&b, "if [ \"$(systemctl show -p LoadState --value %s)\" = not-found ]; then\n%sfi\n", remote.Quote(d.Unit), install)
			} else {
				b.WriteString(install)
			}
		case StepEnable:
			fmt.Fprintf(&b, "systemctl enable --quiet %s\n", remote.Quote(d.Unit))
		}
	}
	return b.String(), stdin
}

// checkUpload is the check an uploaded binary passes before it replaces
// service.binary ({} is the temp file): the pinned digest (a transfer
// gone wrong), that it runs here (the wrong architecture does not), and
// service.nats_version. It compares versions the way cluster.Version.Less
// does: major, minor, patch as numbers (TestCheckUploadVersions holds the
// two together).
func checkUpload(d Desired) string {
	var b strings.Builder
	fmt.Fprintf(&b, `natsops_sum=$(sha256sum < {} | cut -c1-64)
if [ "$natsops_sum" != %[1]s ]; then echo "the uploaded copy has sha256 $natsops_sum, not the pinned %[1]s (the transfer went wrong); nothing replaced" >&2; exit 1; fi
if ! natsops_v=$({} --version 2>&1); then echo "the uploaded binary does not run on this host (the wrong architecture?): $natsops_v; nothing replaced" >&2; exit 1; fi
`, d.SHA256)
	if d.MinVersion != "" {
		fmt.Fprintf(&b, `natsops_core=$(printf '%%s\n' "$natsops_v" | grep -o '[0-9]\{1,\}\.[0-9]\{1,\}\.[0-9]\{1,\}' | head -n 1)
if [ -z "$natsops_core" ]; then echo "the uploaded binary reports no version ($natsops_v); nothing replaced" >&2; exit 1; fi
if ! awk -v a="$natsops_core" -v b=%[1]s 'BEGIN { split(a, x, "."); split(b, y, "."); for (i = 1; i <= 3; i++) { if (x[i] + 0 < y[i] + 0) exit 1; if (x[i] + 0 > y[i] + 0) exit 0 } exit 0 }'; then
  printf 'the uploaded binary is nats-server %%s, older than %%s; nothing replaced\n' "$natsops_core" %[2]s >&2; exit 1
fi
`, remote.Quote(d.MinVersion), remote.Quote("service.nats_version "+d.MinVersion+" ("+d.MinVersionAt+")"))
	}
	return b.String()
}
