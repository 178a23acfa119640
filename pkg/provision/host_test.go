package provision

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// localDesired is a pidfile-mode node in binary mode whose paths are all
// under a temp dir, so Observe and Apply can run for real on this machine
// without root (no user, no unit: pidfile mode makes neither).
func localDesired(t *testing.T, version string) (Desired, string) {
	t.Helper()
	bin := fakeBinary(version)
	dir := t.TempDir()
	src := strings.NewReplacer("DIR", dir).Replace(`[service]
manager = "pidfile"
install = "binary"
binary = "DIR/bin/nats-server"
binary_source = "nats-server"
binary_sha256 = "SHA"
nats_version = "2.15.0"
[server]
pid_file = "DIR/nats.pid"
[server.log]
file = "DIR/log/nats-server.log"
[jetstream]
enabled = true
store_dir = "DIR/store/jetstream"
`)
	return desired(t, src, bin), dir
}

func local() remote.Host { return &remote.Local{NodeName: "n1", NoSudo: true} }

// TestObserveApplyLocally runs the real scripts through the local
// transport: a bare directory tree is provisioned (the binary uploaded on
// stdin, checked, installed atomically; the directories made with their
// mode), verified, and a second plan has nothing to do.
func TestObserveApplyLocally(t *testing.T) {
	ctx := context.Background()
	d, dir := localDesired(t, "2.15.2")
	o, err := Observe(ctx, local(), d)
	if err != nil {
		t.Fatal(err)
	}
	if o.Binary.Exists || o.Dirs[0].Exists || o.RunningPID != 0 {
		t.Fatalf("bare tree observed as %+v", o)
	}
	p := MakePlan(d, o)
	if got, want := kinds(p), "binary:"+dir+"/bin/nats-server dir:"+dir+"/store/jetstream dir:"+dir+"/log"; got != want || len(p.Problems) > 0 {
		t.Fatalf("plan %s %v\nwant %s", got, p.Problems, want)
	}
	if err := Apply(ctx, local(), d, p); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Binary)
	if err != nil || string(got) != string(d.Source.Data) {
		t.Fatalf("installed binary %q, %v", got, err)
	}
	for _, path := range []string{d.Binary, dir + "/store/jetstream", dir + "/log"} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o750)
		if path == d.Binary {
			want = 0o755
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	o, err = Observe(ctx, local(), d)
	if err != nil {
		t.Fatal(err)
	}
	if v := Verify(d, o); !v.OK() || v.Version != "2.15.2" {
		t.Errorf("verify: %+v", v)
	}
	if p := MakePlan(d, o); p.Pending() || len(p.Problems) > 0 {
		t.Errorf("second plan: %s %v", kinds(p), p.Problems)
	}
}

// TestApplyRefusesBadUpload: the uploaded copy is checked on the host
// before it replaces anything: its digest against the pin, that it runs
// there, its version against service.nats_version.
func TestApplyRefusesBadUpload(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		mutate func(*Desired)
		want   string
	}{
		{"corrupted on the way", func(d *Desired) { d.Source.Data = append([]byte(nil), fakeBinary("2.15.9")...) },
			"the uploaded copy has sha256 "},
		{"older than nats_version", func(d *Desired) {
			d.Source.Data = fakeBinary("2.14.9")
			d.SHA256 = digest(d.Source.Data)
		}, "the uploaded binary is nats-server 2.14.9, older than service.nats_version 2.15.0 ("},
		{"does not run here", func(d *Desired) {
			d.Source.Data = []byte("\x7fELF not for this machine")
			d.SHA256 = digest(d.Source.Data)
		}, "the uploaded binary does not run on this host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := localDesired(t, "2.15.2")
			// An older build is installed and must survive.
			if err := os.MkdirAll(filepath.Dir(d.Binary), 0o755); err != nil {
				t.Fatal(err)
			}
			old := fakeBinary("2.15.1")
			if err := os.WriteFile(d.Binary, old, 0o755); err != nil {
				t.Fatal(err)
			}
			o, err := Observe(ctx, local(), d)
			if err != nil {
				t.Fatal(err)
			}
			src := *d.Source
			d.Source = &src
			tc.mutate(&d)
			p := MakePlan(d, o)
			if len(p.Problems) > 0 {
				t.Fatal(p.Problems)
			}
			err = Apply(ctx, local(), d, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing replaced") {
				t.Fatalf("Apply: %v, want %q", err, tc.want)
			}
			if got, _ := os.ReadFile(d.Binary); string(got) != string(old) {
				t.Errorf("the installed binary was replaced: %q", got)
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(d.Binary), ".natsops.*"))
			if len(leftovers) > 0 {
				t.Errorf("temp files left: %v", leftovers)
			}
		})
	}
}

// TestCheckUploadVersions holds the shell's version comparison to
// cluster.Version.Less.
func TestCheckUploadVersions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ have, min string }{
		{"2.15.2", "2.15.0"}, {"2.15.0", "2.15.0"}, {"2.9.10", "2.10.0"}, {"2.10.0", "2.9.10"},
		{"3.0.0", "2.99.99"}, {"2.11.0-RC.1", "2.11.0"}, {"2.11.0", "2.11.1"}, {"10.0.0", "9.0.0"}, {"2.9.9", "2.9"},
	} {
		bin := fakeBinary(tc.have)
		path := filepath.Join(dir, "nats-server-"+tc.have)
		if err := os.WriteFile(path, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		script := strings.ReplaceAll(checkUpload(Desired{SHA256: digest(bin), MinVersion: tc.min, MinVersionAt: "inv.toml:3"}), "{}", remote.Quote(path))
		err := exec.Command("sh", "-c", "set -eu\n"+script).Run()
		have, _ := cluster.ParseVersion(core(tc.have))
		min, _ := cluster.ParseVersion(tc.min)
		if shellOK, goOK := err == nil, !have.Less(min); shellOK != goOK {
			t.Errorf("%s against %s: the shell says ok=%v, Go says %v", tc.have, tc.min, shellOK, goOK)
		}
	}
}

func TestParseObserved(t *testing.T) {
	d := Desired{Dirs: []Dir{{Path: "/var/lib/nats"}}}
	enc := func(s string) string {
		return strings.TrimSpace(mustRun(t, "printf %s "+remote.Quote(s)+" | base64 -w0"))
	}
	out := strings.Join([]string{
		"os\tapt\t1",
		"pkg\t1\t" + enc("2.9.10-1+b3") + "\t" + enc("nats-server:\n  Installed: 2.9.10-1+b3\n  Candidate: 2.9.10-1+b3\n"),
		"bin\t" + enc("/usr/sbin/nats-server") + "\t1\t\t" + enc("nats-server: v2.9.10\n") + "\t0",
		"user\t" + enc("nats:x:999:999:NATS.io server:/nonexistent:/usr/sbin/nologin\n"),
		"group\t1",
		"dir\t0\t" + enc("directory|nats:nats|750\n"),
		"unit\t" + enc("LoadState=loaded\nFragmentPath=/lib/systemd/system/nats-server.service\nUnitFileState=enabled\nUser=nats\nExecStart={ path=/usr/sbin/nats-server ; argv[]=/usr/sbin/nats-server -c /etc/nats-server.conf ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"),
		"unitfile\t0\t",
		"run\t123\t" + enc("/usr/sbin/nats-server"),
		"end",
	}, "\n")
	o, err := parseObserved([]byte(out), d)
	if err != nil {
		t.Fatal(err)
	}
	if o.PackageManager != "apt" || !o.Systemd || !o.Package.Installed || o.Package.Candidate != "2.9.10-1+b3" ||
		o.Binary.Version != "2.9.10" || o.User == nil || o.User.Shell != "/usr/sbin/nologin" || !o.GroupExists ||
		o.Dirs[0] != (DirState{Exists: true, IsDir: true, Owner: "nats:nats", Mode: 0o750}) ||
		o.Unit != (UnitState{LoadState: "loaded", FragmentPath: "/lib/systemd/system/nats-server.service", UnitFileState: "enabled", User: "nats", Program: "/usr/sbin/nats-server"}) ||
		o.RunningPID != 123 || o.RunningExe != "/usr/sbin/nats-server" {
		t.Errorf("parsed %+v (unit %+v)", o, o.Unit)
	}
	if _, err := parseObserved([]byte("os\tapt\t1\n"), d); err == nil {
		t.Error("truncated output accepted")
	}
}

func mustRun(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
