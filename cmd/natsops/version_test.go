package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/cmdutil"
)

// A binary linked the way .goreleaser.yaml links it reports the
// release's version and commit, in text and JSON.
func TestReleaseBuildVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds natsops")
	}
	bin := filepath.Join(t.TempDir(), "natsops")
	const sha = "0123456789abcdef0123456789abcdef01234567"
	build := exec.Command("go", "build",
		"-ldflags", "-X main.version=9.8.7-rc.1 -X main.commit="+sha, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("natsops version: %v", err)
	}
	if !strings.HasPrefix(string(out), "natsops 9.8.7-rc.1 (commit 0123456789ab, go1.") {
		t.Errorf("natsops version printed %q, want the linked version and commit", out)
	}
	out, err = exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("natsops version -o json: %v", err)
	}
	var v cmdutil.VersionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Version != "9.8.7-rc.1" || v.Commit != sha || v.Modified {
		t.Errorf("natsops version -o json = %+v, want version 9.8.7-rc.1, commit %s, not modified", v, sha)
	}
}
