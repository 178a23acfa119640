package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallAtomicIdempotentWithBackup(t *testing.T) {
	ctx := context.Background()
	h := &Local{NodeName: "n1"}
	dir := t.TempDir()
	p := filepath.Join(dir, "sub dir", "it's.conf") // quoting matters
	changed, err := Install(ctx, h, File{Path: p, Data: []byte("one\n"), Mode: 0o640}, false)
	if err != nil || !changed {
		t.Fatalf("first install: changed=%v err=%v", changed, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Fatalf("content %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	changed, err = Install(ctx, h, File{Path: p, Data: []byte("one\n"), Mode: 0o600}, false)
	if err != nil || changed {
		t.Fatalf("same content: changed=%v err=%v", changed, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode not fixed on unchanged file: %v", st.Mode().Perm())
	}
	if _, err := os.Stat(p + BackupSuffix); !os.IsNotExist(err) {
		t.Error("an unchanged install made a backup")
	}
	// The old file was readable by its group: its backup (the previous
	// secrets, after a rotation) is not.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err = Install(ctx, h, File{Path: p, Data: []byte("two\n"), Mode: 0o640}, false)
	if err != nil || !changed {
		t.Fatalf("new content: changed=%v err=%v", changed, err)
	}
	if b, _ := os.ReadFile(p + BackupSuffix); string(b) != "one\n" {
		t.Errorf("backup holds %q", b)
	}
	if st, _ := os.Stat(p + BackupSuffix); st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", st.Mode().Perm())
	}
	// Restored by rename (a new inode: a reader never sees a half-copied
	// file), with the mode the file has now, not the backup's.
	before, _ := os.Stat(p)
	if err := RestoreBackup(ctx, h, p, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Errorf("after RestoreBackup the file holds %q", b)
	}
	after, _ := os.Stat(p)
	if os.SameFile(before, after) {
		t.Error("RestoreBackup wrote over the file in place instead of renaming a temp file")
	}
	if after.Mode().Perm() != 0o640 {
		t.Errorf("restored file mode %v, want the 0640 it had", after.Mode().Perm())
	}
	if err := RestoreBackup(ctx, h, filepath.Join(dir, "never-installed.conf"), false); err == nil || !strings.Contains(err.Error(), "no backup") {
		t.Errorf("restoring without a backup: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".natsops.") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestInstallValidateFailureKeepsOldFile(t *testing.T) {
	ctx := context.Background()
	h := &Local{NodeName: "n1"}
	p := filepath.Join(t.TempDir(), "x.conf")
	if _, err := Install(ctx, h, File{Path: p, Data: []byte("good\n"), Mode: 0o644}, false); err != nil {
		t.Fatal(err)
	}
	_, err := Install(ctx, h, File{Path: p, Data: []byte("bad\n"), Mode: 0o644, Validate: "grep -q good {} || { echo 'config rejected' >&2; exit 1; }"}, false)
	if err == nil || !strings.Contains(err.Error(), "n1: install "+p+": exit 1: config rejected") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "good\n" {
		t.Errorf("old file replaced: %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestInstallReadOnlyTarget(t *testing.T) {
	// A directory nobody can write (for root: /proc, which is not a normal
	// filesystem) makes the install fail with the host and path named.
	dir := t.TempDir()
	p := filepath.Join(dir, "ro", "f")
	if err := os.Mkdir(filepath.Dir(p), 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		p = "/proc/natsops-test/f"
	}
	_, err := Install(context.Background(), &Local{NodeName: "n1"}, File{Path: p, Data: []byte("x")}, false)
	if err == nil || !strings.Contains(err.Error(), "n1: install "+p+": exit 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadFile(t *testing.T) {
	ctx := context.Background()
	h := &Local{NodeName: "n1"}
	p := filepath.Join(t.TempDir(), "f")
	if _, ok, err := ReadFile(ctx, h, p, false); ok || err != nil {
		t.Fatalf("missing file: ok=%v err=%v", ok, err)
	}
	os.WriteFile(p, []byte("data\x00\xff"), 0o600)
	b, ok, err := ReadFile(ctx, h, p, false)
	if !ok || err != nil || string(b) != "data\x00\xff" {
		t.Fatalf("got %q ok=%v err=%v", b, ok, err)
	}
}

// TestInstallStepsComposed: several files in one script, content carried
// inline, results reported per file; the composed script cleans up after a
// failure in a later step.
func TestInstallStepsComposed(t *testing.T) {
	ctx := context.Background()
	h := &Local{NodeName: "n1"}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	os.WriteFile(b, []byte("same\n"), 0o644)
	script := ScriptHeader +
		InstallSteps(File{Path: a, Data: []byte("x'y\n"), Mode: 0o600}, Embedded([]byte("x'y\n")), "ra") +
		InstallSteps(File{Path: b, Data: []byte("same\n"), Mode: 0o644}, Embedded([]byte("same\n")), "rb") +
		`echo "$ra$rb"`
	res, err := h.Run(ctx, script, RunOptions{})
	if err != nil || !res.OK() || strings.TrimSpace(string(res.Stdout)) != "10" {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	if got, _ := os.ReadFile(a); string(got) != "x'y\n" {
		t.Errorf("a = %q", got)
	}
	// A failure after the temp file is written leaves no temp file behind.
	script = ScriptHeader + InstallSteps(File{Path: a, Data: []byte("new\n"), Mode: 0o600, Validate: "false"}, Embedded([]byte("new\n")), "ra")
	if res, _ := h.Run(ctx, script, RunOptions{}); res.OK() {
		t.Fatal("a failing validation succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
	if got, _ := os.ReadFile(a); string(got) != "x'y\n" {
		t.Errorf("a replaced despite failed validation: %q", got)
	}
}
