package main

import (
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/embedded"
)

// newServerCmd is nats-server itself, from the module natsops embeds: the
// demo's nodes run `natsops server -c FILE`. Hidden: it is plumbing, and
// its flags are nats-server's, not natsops's.
func newServerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "server [nats-server flags]",
		Short: "Run nats-server (embedded) with nats-server's own flags",
		Long: `Run one nats-server node from the nats-server module compiled into natsops,
exactly as the nats-server binary would: -c FILE, -t, --signal
reload|ldm|quit|stop=PIDFILE, pid file, signals (HUP reload, USR2 lame duck,
INT/TERM stop). Run 'natsops server --help' for nats-server's flags.`,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := embedded.Main(args, g.sys.stdout, g.sys.stderr); code != 0 {
				return reported(code)
			}
			return nil
		},
	}
}
