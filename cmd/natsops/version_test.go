package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// The linker's version and commit (release builds) win over the module
// build info; without them, the build info is what `version` says.
func TestResolveVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            versionInfo
	}{
		{"go build", "", "", bi, versionInfo{Version: "(devel)", Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"release build", "1.4.0", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", bi, versionInfo{Version: "1.4.0", Commit: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"release build without vcs info", "1.4.0", "cccc", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, versionInfo{Version: "1.4.0", Commit: "cccc", GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"version only", "1.4.0", "", bi, versionInfo{Version: "1.4.0", Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"no build info", "", "", nil, versionInfo{Version: "(unknown)", GoVersion: "(unknown)", NATSServer: "v2.15.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveVersion(tc.version, tc.commit, tc.bi, "v2.15.2"); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

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
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Version != "9.8.7-rc.1" || v.Commit != sha || v.Modified {
		t.Errorf("natsops version -o json = %+v, want version 9.8.7-rc.1, commit %s, not modified", v, sha)
	}
}
