// Package root wires natsops's commands under the root command and runs a
// command line: Main is the whole program but for os.Exit (cmd/natsops).
package root

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/bench"
	"github.com/natsops/natsops/internal/cmd/check"
	"github.com/natsops/natsops/internal/cmd/contexts"
	"github.com/natsops/natsops/internal/cmd/demo"
	"github.com/natsops/natsops/internal/cmd/deploy"
	"github.com/natsops/natsops/internal/cmd/evacuate"
	"github.com/natsops/natsops/internal/cmd/gendocs"
	"github.com/natsops/natsops/internal/cmd/hashpassword"
	"github.com/natsops/natsops/internal/cmd/history"
	"github.com/natsops/natsops/internal/cmd/initcmd"
	"github.com/natsops/natsops/internal/cmd/inventory"
	"github.com/natsops/natsops/internal/cmd/provision"
	"github.com/natsops/natsops/internal/cmd/rebalance"
	"github.com/natsops/natsops/internal/cmd/render"
	"github.com/natsops/natsops/internal/cmd/replace"
	"github.com/natsops/natsops/internal/cmd/rescue"
	"github.com/natsops/natsops/internal/cmd/restart"
	"github.com/natsops/natsops/internal/cmd/server"
	"github.com/natsops/natsops/internal/cmd/status"
	"github.com/natsops/natsops/internal/cmd/stepdown"
	"github.com/natsops/natsops/internal/cmd/tune"
	"github.com/natsops/natsops/internal/cmd/validate"
	"github.com/natsops/natsops/internal/cmd/version"
	"github.com/natsops/natsops/internal/cmdutil"
)

// NewCmd is the root command with every command under it and the global
// flags.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "natsops",
		Short: "Render, tune, deploy and rolling-restart NATS server clusters from one inventory",
		Long: `natsops operates NATS server clusters on VMs and bare metal.

From one TOML inventory it renders every node's nats-server config and
proves it valid with nats-server's own code, tunes the hosts, deploys and
rolling-restarts the nodes one at a time gated on the monitoring endpoint.

Start with:
  natsops demo                 a real local 3-node cluster, rolling-restarted under traffic
  natsops init                 write a commented natsops.toml
  natsops validate             check the inventory and every rendered config
  natsops render --out DIR     write each node's config
  natsops provision            install nats-server on bare hosts (then tune, deploy)

-o json: one JSON document on stdout, or JSON Lines ending in a result for
the commands that stream; the exit codes and the schema are in
docs/output.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// An unknown command is a usage error (exit 64), with cobra's
		// suggestions; no command prints the help.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "\n\ndid you mean this?\n\t" + strings.Join(s, "\n\t")
			}
			return cmdutil.Usage("%s\nrun '%s --help' for usage", msg, cmd.CommandPath())
		},
	}
	f.AddGlobalFlags(root)
	root.AddCommand(
		initcmd.NewCmd(f, nil),
		validate.NewCmd(f, nil),
		render.NewCmd(f, nil),
		provision.NewCmd(f, nil),
		tune.NewCmd(f, nil),
		deploy.NewCmdDiff(f, nil),
		deploy.NewCmd(f, nil),
		status.NewCmd(f, nil),
		restart.NewCmd(f, nil),
		rebalance.NewCmd(f, nil),
		evacuate.NewCmd(f, nil),
		stepdown.NewCmd(f, nil),
		replace.NewCmd(f, nil),
		rescue.NewCmd(f, nil),
		check.NewCmd(f, nil),
		hashpassword.NewCmd(f, nil),
		version.NewCmd(f),
		demo.NewCmd(f, nil),
		server.NewCmd(f),
		bench.NewCmd(f, nil),
		history.NewCmd(f, nil),
		inventory.NewCmd(f),
		contexts.NewCmd(f, nil),
		gendocs.NewCmd(f, nil),
	)
	return root
}

// Main runs the command line of sys and returns the process's exit code:
// the one place a run ends (cmdutil.Factory.Finish: the error on stderr,
// the -o json result, the exit code).
func Main(sys *cmdutil.System, link cmdutil.Link) int {
	f := cmdutil.NewFactory(sys, link)
	root := NewCmd(f)
	root.SetArgs(sys.Args)
	root.SetIn(sys.Stdin)
	root.SetOut(sys.Stdout)
	root.SetErr(sys.Stderr)
	cmd, err := root.ExecuteContextC(sys.Context())
	return f.Finish(cmd, err)
}
