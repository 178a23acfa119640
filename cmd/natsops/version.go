package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	GoVersion  string `json:"go"`
	NATSServer string `json:"nats_server"`
}

// version and commit are set by the linker in release builds
// (-X main.version=1.2.3 -X main.commit=SHA, .goreleaser.yaml): a packaged
// binary's module build info says only "(devel)" and, built from an
// archive or with -buildvcs=false, has no commit. Empty in `go build`,
// `go run` and `go install`, which report the build info. Set once at
// link time and never written: not mutable state.
var (
	version string
	commit  string
)

func buildVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo() // nil when there is none
	return resolveVersion(version, commit, bi, natsServerVersion())
}

// resolveVersion is natsops's version: the linker's version and commit
// when a release build set them, each else the module build info's
// (bi nil: none).
func resolveVersion(linkVersion, linkCommit string, bi *debug.BuildInfo, natsServer string) versionInfo {
	v := versionInfo{Version: "(unknown)", GoVersion: "(unknown)", NATSServer: natsServer}
	if bi != nil {
		v.Version = bi.Main.Version
		v.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if linkVersion != "" {
		v.Version = linkVersion
	}
	if linkCommit != "" {
		v.Commit = linkCommit
	}
	return v
}

// natsServerVersion is the nats-server module whose parser and option
// validation natsops uses.
func natsServerVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/nats-io/nats-server/v2" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "(unknown)"
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print natsops's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildVersion()
			if g.json() {
				writeJSON(g.sys.stdout, v)
				return nil
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			} else if len(commit) > 12 {
				commit = commit[:12]
			}
			if v.Modified {
				commit += "+dirty"
			}
			fmt.Fprintf(g.sys.stdout, "natsops %s (commit %s, %s, nats-server %s)\n", v.Version, commit, v.GoVersion, v.NATSServer)
			return nil
		},
	}
}
