package cmdutil_test

import (
	"runtime/debug"
	"testing"

	"github.com/natsops/natsops/internal/cmdutil"
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
		want            cmdutil.VersionInfo
	}{
		{"go build", "", "", bi, cmdutil.VersionInfo{Version: "(devel)", Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"release build", "1.4.0", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", bi, cmdutil.VersionInfo{Version: "1.4.0", Commit: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"release build without vcs info", "1.4.0", "cccc", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, cmdutil.VersionInfo{Version: "1.4.0", Commit: "cccc", GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"version only", "1.4.0", "", bi, cmdutil.VersionInfo{Version: "1.4.0", Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Modified: true, GoVersion: "go1.26.8", NATSServer: "v2.15.2"}},
		{"no build info", "", "", nil, cmdutil.VersionInfo{Version: "(unknown)", GoVersion: "(unknown)", NATSServer: "v2.15.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cmdutil.ResolveVersion(cmdutil.Link{Version: tc.version, Commit: tc.commit}, tc.bi, "v2.15.2"); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
