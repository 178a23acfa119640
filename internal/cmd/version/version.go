// Package version is `natsops version`.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
)

// NewCmd is `natsops version`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print natsops's version, commit and Go version",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := f.Version()
			if f.JSON() {
				f.Result(v)
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
			fmt.Fprintf(f.Sys.Stdout, "natsops %s (commit %s, %s, nats-server %s)\n", v.Version, commit, v.GoVersion, v.NATSServer)
			return nil
		},
	}
}
