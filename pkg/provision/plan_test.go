package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// fakeBinary is a stand-in nats-server: a script that prints a version.
func fakeBinary(version string) []byte {
	return []byte("#!/bin/sh\necho 'nats-server: v" + version + "'\n")
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// inventory writes src (plus a node) and a binary_source file next to it.
func inventory(t *testing.T, src string, binary []byte) (*cluster.Inventory, map[string]*Source) {
	t.Helper()
	dir := t.TempDir()
	if binary != nil {
		if err := os.WriteFile(filepath.Join(dir, "nats-server"), binary, 0o755); err != nil {
			t.Fatal(err)
		}
		src = strings.ReplaceAll(src, "SHA", digest(binary))
	}
	path := filepath.Join(dir, "inv.toml")
	if err := os.WriteFile(path, []byte(src+"\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := cluster.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sources, err := LoadSources(inv, inv.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	return inv, sources
}

func desired(t *testing.T, src string, binary []byte) Desired {
	t.Helper()
	inv, sources := inventory(t, src, binary)
	d, problems := DesiredFor(inv, inv.Nodes[0], sources)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return d
}

const packageInv = `[service]
nats_version = "2.9.0"
[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"
[server.log]
file = "/var/log/nats/nats-server.log"
`

const binaryInv = `[service]
install = "binary"
binary = "/usr/local/bin/nats-server"
binary_source = "nats-server"
binary_sha256 = "SHA"
nats_version = "2.15.0"
[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"
`

// bare is a Debian host with systemd and apt and nothing of nats-server.
func bare(d Desired) Observed {
	return Observed{
		PackageManager: "apt", Systemd: true,
		Package: PackageState{Candidate: "2.9.10-1+b3"},
		Dirs:    make([]DirState, len(d.Dirs)),
		Unit:    UnitState{LoadState: "not-found"},
	}
}

// provisioned is the host after a good run.
func provisioned(d Desired, o Observed, p *Plan) Observed {
	o.Dirs = append([]DirState(nil), o.Dirs...)
	for _, s := range p.Steps {
		switch s.Kind {
		case StepPackage:
			o.Package.Installed, o.Package.Version = true, o.Package.Candidate
			o.Binary = BinaryState{Path: "/usr/sbin/nats-server", Exists: true, Output: "nats-server: v2.9.10", Version: "2.9.10"}
			o.Unit = UnitState{LoadState: "loaded", FragmentPath: "/lib/systemd/system/nats-server.service", UnitFileState: "enabled", User: "nats", Program: "/usr/sbin/nats-server"}
		case StepBinary:
			o.Binary = BinaryState{Path: d.Binary, Exists: true, SHA256: d.SHA256, Output: "nats-server: v2.15.2", Version: "2.15.2"}
		case StepUser:
			o.User, o.GroupExists = &Account{UID: "999", GID: "999", Home: "/nonexistent", Shell: "/usr/sbin/nologin"}, true
		case StepDir:
			for i, dir := range d.Dirs {
				if dir.Path == s.What {
					o.Dirs[i] = DirState{Exists: true, IsDir: true, Owner: dir.Owner, Mode: dir.Mode}
				}
			}
		case StepUnit:
			if !s.IfNoUnit {
				o.UnitFile = FileState{Exists: true, Data: d.UnitData}
				o.Unit = UnitState{LoadState: "loaded", FragmentPath: d.UnitPath, User: d.User, Program: d.Binary}
			}
		case StepEnable:
			o.Unit.UnitFileState = "enabled"
		}
	}
	return o
}

func kinds(p *Plan) string {
	var ks []string
	for _, s := range p.Steps {
		ks = append(ks, s.Kind+":"+s.What)
	}
	return strings.Join(ks, " ")
}

func TestPlanBareHostPackage(t *testing.T) {
	d := desired(t, packageInv, nil)
	o := bare(d)
	p := MakePlan(d, o)
	want := "package:nats-server user:nats dir:/var/lib/nats/jetstream dir:/var/log/nats unit:nats-server.service enable:nats-server.service"
	if got := kinds(p); got != want || len(p.Problems) > 0 {
		t.Fatalf("plan %s (problems %v)\nwant %s", got, p.Problems, want)
	}
	if p.PackageManager != "apt" || p.PackageVersion != "2.9.10-1+b3" || !p.Steps[4].IfNoUnit {
		t.Errorf("plan %+v", p)
	}
	if !strings.Contains(p.Steps[4].Diff, "+ExecStop=/bin/kill -s SIGUSR2 $MAINPID") {
		t.Errorf("the unit step does not show natsops's unit:\n%s", p.Steps[4].Diff)
	}
	after := provisioned(d, o, p)
	if p2 := MakePlan(d, after); p2.Pending() || len(p2.Problems) > 0 {
		t.Errorf("second plan: %s %v", kinds(p2), p2.Problems)
	}
	if v := Verify(d, after); !v.OK() || v.Version != "2.9.10" {
		t.Errorf("verify: %+v", v)
	}
	if v := Verify(d, o); len(v.Mismatches) != 7 {
		t.Errorf("verify of a bare host: %d mismatches: %v", len(v.Mismatches), v.Mismatches)
	}
}

func TestPlanBareHostBinary(t *testing.T) {
	d := desired(t, binaryInv, fakeBinary("2.15.2"))
	o := bare(d)
	p := MakePlan(d, o)
	want := "binary:/usr/local/bin/nats-server user:nats dir:/var/lib/nats/jetstream unit:/etc/systemd/system/nats-server.service enable:nats-server.service"
	if got := kinds(p); got != want || len(p.Problems) > 0 {
		t.Fatalf("plan %s (problems %v)\nwant %s", got, p.Problems, want)
	}
	if !strings.HasPrefix(p.Steps[0].New, "sha256 "+d.SHA256[:12]+" from ") {
		t.Errorf("binary step %+v", p.Steps[0])
	}
	after := provisioned(d, o, p)
	if p2 := MakePlan(d, after); p2.Pending() || len(p2.Problems) > 0 {
		t.Errorf("second plan: %s %v", kinds(p2), p2.Problems)
	}
	if v := Verify(d, after); !v.OK() {
		t.Errorf("verify: %v", v.Mismatches)
	}
	// natsops's own unit, edited by hand: rewritten, with the diff.
	after.UnitFile.Data = []byte(strings.Replace(string(d.UnitData), "LimitNOFILE=1024000", "LimitNOFILE=1", 1))
	p3 := MakePlan(d, after)
	if kinds(p3) != "unit:/etc/systemd/system/nats-server.service" || !strings.Contains(p3.Steps[0].Diff, "-LimitNOFILE=1\n+LimitNOFILE=1024000") {
		t.Errorf("edited unit: %s\n%s", kinds(p3), p3.Steps[0].Diff)
	}
}

// TestPlanRefusals: each bad input is a problem naming the fix, and no step
// of that host is applied.
func TestPlanRefusals(t *testing.T) {
	pkg := desired(t, packageInv, nil)
	bin := desired(t, binaryInv, fakeBinary("2.15.2"))
	for _, tc := range []struct {
		name string
		d    Desired
		mod  func(*Observed)
		want []string
	}{
		{"package not in the repositories", pkg, func(o *Observed) { o.Package.Candidate = "" },
			[]string{"package nats-server is not available from this host's apt repositories", "fix: add a repository", "apt-get update"}},
		{"no package manager", pkg, func(o *Observed) { o.PackageManager = "" },
			[]string{"no apt-get or dnf", `service.install = "binary"`}},
		{"repositories offer an older server", pkg, func(o *Observed) { o.Package.Candidate = "2.8.4-1" },
			[]string{"the nats-server package the repositories offer (2.8.4-1) is nats-server 2.8.4, older than service.nats_version 2.9.0 (", "inv.toml:2)", "fix:"}},
		{"installed server older", pkg, func(o *Observed) {
			o.Package = PackageState{Installed: true, Version: "2.8.4-1"}
			o.Binary = BinaryState{Path: "/usr/sbin/nats-server", Exists: true, Version: "2.8.4"}
		}, []string{"the installed nats-server package (2.8.4-1) is nats-server 2.8.4, older than service.nats_version 2.9.0", "natsops deploy"}},
		{"installed binary older", bin, func(o *Observed) {
			o.Binary = BinaryState{Path: bin.Binary, Exists: true, SHA256: bin.SHA256, Version: "2.10.1"}
		}, []string{"/usr/local/bin/nats-server is nats-server 2.10.1, older than service.nats_version 2.15.0", "newer binary_source"}},
		{"unit runs something else", pkg, func(o *Observed) {
			o.Unit = UnitState{LoadState: "loaded", FragmentPath: "/etc/systemd/system/nats-server.service", UnitFileState: "enabled", Program: "/usr/bin/python3"}
		}, []string{`unit nats-server.service exists (/etc/systemd/system/nats-server.service) and runs "/usr/bin/python3", not nats-server`, "fix: set service.unit"}},
		{"unit masked", bin, func(o *Observed) { o.Unit.LoadState = "masked" },
			[]string{"masked", "systemctl unmask"}},
		{"unit runs as another user", bin, func(o *Observed) {
			o.Unit = UnitState{LoadState: "loaded", FragmentPath: "/lib/systemd/system/nats-server.service", UnitFileState: "enabled", Program: "/usr/sbin/nats-server", User: "nobody"}
		}, []string{"runs as nobody, not service.user nats", `service.user = "nobody"`}},
		{"replacing the running binary", bin, func(o *Observed) {
			o.Binary = BinaryState{Path: bin.Binary, Exists: true, SHA256: strings.Repeat("0", 64), Version: "2.15.0"}
			o.RunningPID, o.RunningExe = 42, bin.Binary
		}, []string{"nats-server (pid 42) runs from /usr/local/bin/nats-server", "/usr/local/bin/nats-server-<version>", "natsops deploy"}},
		{"binary does not run here", bin, func(o *Observed) {
			o.Binary = BinaryState{Path: bin.Binary, Exists: true, SHA256: bin.SHA256, RunErr: true, Output: "cannot execute binary file: Exec format error"}
		}, []string{"does not run on this host: cannot execute binary file", "architecture"}},
		{"no systemd", pkg, func(o *Observed) { o.Systemd = false },
			[]string{"systemd is not running", `service.manager = "pidfile"`}},
		{"store dir is a file", pkg, func(o *Observed) { o.Dirs[0] = DirState{Exists: true, Owner: "root:root", Mode: 0o644} },
			[]string{"/var/lib/nats/jetstream (jetstream.store_dir) exists and is not a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := bare(tc.d)
			tc.mod(&o)
			p := MakePlan(tc.d, o)
			text := strings.Join(p.Problems, "\n")
			if len(p.Problems) == 0 {
				t.Fatalf("no problem; plan %s", kinds(p))
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("problems lack %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestPlanLeavesOthersAlone: what natsops did not write is not rewritten.
func TestPlanLeavesOthersAlone(t *testing.T) {
	// Binary mode on a host with Debian's unit: the unit is kept (deploy
	// points it at service.binary), and it says so.
	d := desired(t, binaryInv, fakeBinary("2.15.2"))
	o := bare(d)
	o.Binary = BinaryState{Path: d.Binary, Exists: true, SHA256: d.SHA256, Version: "2.15.2"}
	o.User, o.GroupExists = &Account{Shell: "/bin/bash"}, true
	o.Dirs[0] = DirState{Exists: true, IsDir: true, Owner: "nats:nats", Mode: 0o750}
	o.Unit = UnitState{LoadState: "loaded", FragmentPath: "/lib/systemd/system/nats-server.service", UnitFileState: "enabled", User: "nats", Program: "/usr/sbin/nats-server"}
	p := MakePlan(d, o)
	if p.Pending() || len(p.Problems) > 0 {
		t.Fatalf("plan %s %v", kinds(p), p.Problems)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, w := range []string{"user nats exists with the login shell /bin/bash: left as it is", "unit nats-server.service is not natsops's (/lib/systemd/system/nats-server.service): left as it is"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	// A directory with the wrong owner or mode is fixed, nothing else.
	o.Dirs[0] = DirState{Exists: true, IsDir: true, Owner: "root:root", Mode: 0o755}
	if p := MakePlan(d, o); kinds(p) != "dir:/var/lib/nats/jetstream" || p.Steps[0].Old != "root:root 0755" || p.Steps[0].New != "nats:nats 0750" {
		t.Errorf("plan %s %+v", kinds(p), p.Steps)
	}
}

func TestPlanPidfile(t *testing.T) {
	d := desired(t, `[service]
manager = "pidfile"
install = "binary"
binary = "/opt/nats/nats-server"
binary_source = "nats-server"
binary_sha256 = "SHA"
[server]
pid_file = "/run/nats.pid"
[jetstream]
enabled = true
store_dir = "/srv/nats/js"
`, fakeBinary("2.15.2"))
	if d.User != "" || d.Unit != "" || d.Dirs[0].Owner != "" {
		t.Fatalf("pidfile mode makes no user or unit: %+v", d)
	}
	p := MakePlan(d, bare(d))
	if got := kinds(p); got != "binary:/opt/nats/nats-server dir:/srv/nats/js" || len(p.Problems) > 0 {
		t.Errorf("plan %s %v", got, p.Problems)
	}
}

// TestDesiredProblems: settings provision cannot carry out are refused
// with the inventory line, before any host is reached.
func TestDesiredProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		binary    []byte
		want      []string
	}{
		{"log in /var/log itself", "[server.log]\nfile = \"/var/log/nats.log\"\n", nil,
			[]string{"inv.toml:2", "server.log.file", "/var/log is a system directory", "/var/log/nats/nats-server.log"}},
		{"store dir /var/lib", "[jetstream]\nenabled = true\nstore_dir = \"/var/lib\"\n", nil,
			[]string{"inv.toml:3", "jetstream.store_dir", "/var/lib is a system directory"}},
		{"pidfile with the package", "[service]\nmanager = \"pidfile\"\n[server]\npid_file = \"/run/n.pid\"\n", nil,
			[]string{"service.install", "a distribution package runs its own service", `service.install = "binary"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, sources := inventory(t, tc.src, tc.binary)
			_, problems := DesiredFor(inv, inv.Nodes[0], sources)
			text := (&cluster.InventoryError{Problems: problems}).Error()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("problems lack %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestLoadSources: a binary that does not match its pin is refused with the
// line of binary_sha256, the digest it has, and the fix.
func TestLoadSources(t *testing.T) {
	inv, sources := inventory(t, binaryInv, fakeBinary("2.15.2"))
	if src := sources[filepath.Join(inv.Dir, "nats-server")]; src == nil || src.SHA256 != inv.Nodes[0].Service.BinarySHA256 {
		t.Fatalf("sources %+v", sources)
	}
	if err := os.WriteFile(filepath.Join(inv.Dir, "nats-server"), fakeBinary("2.15.3"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSources(inv, inv.Nodes)
	text := ""
	if err != nil {
		text = err.Error()
	}
	for _, w := range []string{"inv.toml:5", "node n1", "service.binary_sha256", "nats-server has sha256 " + digest(fakeBinary("2.15.3")) + ", not the pinned " + inv.Nodes[0].Service.BinarySHA256, "fix:"} {
		if !strings.Contains(text, w) {
			t.Errorf("error lacks %q:\n%s", w, text)
		}
	}
	if err := os.Remove(filepath.Join(inv.Dir, "nats-server")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSources(inv, inv.Nodes); err == nil || !strings.Contains(err.Error(), "cannot read the binary to upload") {
		t.Errorf("missing source: %v", err)
	}
}

func TestVersions(t *testing.T) {
	for in, want := range map[string]string{"1:2.9.10-1+b3": "2.9.10", "2.10.18-1.fc40": "2.10.18", "2.9.10": "2.9.10", "v2.11.0-RC.1": "2.11.0"} {
		if got := upstreamVersion(in); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestItems: the plan's steps as the audit record lists them, as the
// plan shows them.
func TestItems(t *testing.T) {
	p := &Plan{Steps: []Step{{Kind: StepPackage, What: "nats-server", New: "2.9.10-1"}, {Kind: StepDir, What: "/var/lib/nats", Old: "absent", New: "0750 nats"}}}
	want := []string{"install package nats-server 2.9.10-1", "dir /var/lib/nats: absent -> 0750 nats"}
	if got := p.Items(); !slices.Equal(got, want) {
		t.Errorf("Items = %q, want %q", got, want)
	}
}
