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

func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", GoVersion: "(unknown)", NATSServer: natsServerVersion()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
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
