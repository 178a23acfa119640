package cmdutil

import "runtime/debug"

// Link is what a release build's linker set (-X main.version, -X
// main.commit; .goreleaser.yaml): empty in `go build`, `go run` and `go
// install`, which report the module build info.
type Link struct {
	Version string
	Commit  string
}

// VersionInfo is natsops's version.
type VersionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	GoVersion  string `json:"go"`
	NATSServer string `json:"nats_server"`
}

// Version is this binary's version.
func (f *Factory) Version() VersionInfo {
	bi, _ := debug.ReadBuildInfo() // nil when there is none
	return ResolveVersion(f.link, bi, NATSServerVersion())
}

// ResolveVersion is natsops's version: the linker's version and commit
// when a release build set them, each else the module build info's (bi
// nil: none).
func ResolveVersion(link Link, bi *debug.BuildInfo, natsServer string) VersionInfo {
	v := VersionInfo{Version: "(unknown)", GoVersion: "(unknown)", NATSServer: natsServer}
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
	if link.Version != "" {
		v.Version = link.Version
	}
	if link.Commit != "" {
		v.Commit = link.Commit
	}
	return v
}

// Short is the version with the commit's first 12 characters, as the
// audit trail records it.
func (v VersionInfo) Short() string {
	if v.Commit == "" {
		return v.Version
	}
	return v.Version + " " + v.Commit[:min(12, len(v.Commit))]
}

// NATSServerVersion is the nats-server module whose parser and option
// validation natsops uses.
func NATSServerVersion() string {
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
