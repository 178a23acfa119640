// Package server is the hidden `natsops server`: nats-server itself, from
// the module natsops embeds (the demo's nodes run it).
package server

import (
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/embedded"
)

// NewCmd is nats-server itself: `natsops server -c FILE`. Hidden: it is
// plumbing, and its flags are nats-server's, not natsops's; its output
// is nats-server's own (no -o json result).
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "server [nats-server flags]",
		Short: "Run nats-server (embedded) with nats-server's own flags",
		Long: `Run one nats-server node from the nats-server module compiled into natsops,
exactly as the nats-server binary would: -c FILE, -t, --signal
reload|ldm|quit|stop=PIDFILE, pid file, signals (HUP reload, USR2 lame duck,
INT/TERM stop). Run 'natsops server --help' for nats-server's flags.`,
		Hidden:             true,
		DisableFlagParsing: true,
		Annotations:        map[string]string{cmdutil.AnnotationOutput: "raw"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := embedded.Main(args, f.Sys.Stdout, f.Sys.Stderr); code != 0 {
				return cmdutil.Outcome(code)
			}
			return nil
		},
	}
}
