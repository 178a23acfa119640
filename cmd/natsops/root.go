package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
)

// globals are the flags every command shares.
type globals struct {
	sys       *system
	inventory string
	clusters  []string
	limit     []string
	output    string
	noColor   bool
	verbose   int
	yes       bool
	parallel  int
	// askBecomePass prompts once for the sudo password of the SSH users.
	askBecomePass bool
}

func (g *globals) json() bool { return g.output == "json" }

// color reports whether stdout gets ANSI colour: a terminal, no --no-color,
// no NO_COLOR.
func (g *globals) color() bool {
	if g.noColor || g.json() {
		return false
	}
	if _, set := g.sys.getenv("NO_COLOR"); set {
		return false
	}
	return g.sys.isTTY(g.sys.stdout)
}

// loadEstate reads the inventory named by -i with every cluster.
func (g *globals) loadEstate() (*cluster.Estate, error) {
	est, err := cluster.LoadEstate(g.inventory)
	if err != nil {
		return nil, g.inventoryError(err)
	}
	return est, nil
}

// selectClusters are the clusters --cluster picks (all without it).
func (g *globals) selectClusters(est *cluster.Estate) ([]*cluster.Inventory, error) {
	if !est.Multi && len(g.clusters) == 0 {
		return est.Clusters, nil
	}
	cs, err := est.Select(g.clusters)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	return cs, nil
}

// load reads the inventory named by -i: one cluster. An estate of
// several needs --cluster to pick one, for the commands that work on one
// cluster at a time.
func (g *globals) load() (*cluster.Inventory, error) {
	est, err := g.loadEstate()
	if err != nil {
		return nil, err
	}
	cs, err := g.selectClusters(est)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.ClusterName()
		}
		return nil, usageError("%s describes %d clusters (%s) and this command works on one cluster at a time: pass --cluster NAME", est.Path, len(cs), strings.Join(names, ", "))
	}
	return cs[0], nil
}

// loadSelected reads the inventory and the nodes the patterns select
// (--limit, or --node): a pattern matching no node is a usage error.
func (g *globals) loadSelected(patterns []string) (*cluster.Inventory, []*cluster.Node, error) {
	inv, err := g.load()
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.Select(patterns)
	if err != nil {
		return nil, nil, withCode(ExitUsage, err)
	}
	return inv, nodes, nil
}

// inventoryError prints inventory problems (as JSON with -o json) and turns
// them into ExitInvalid.
func (g *globals) inventoryError(err error) error {
	var ie *cluster.InventoryError
	if !errors.As(err, &ie) {
		return err
	}
	if g.json() {
		writeJSON(g.sys.stdout, map[string]any{"ok": false, "inventory": g.inventory, "problems": ie.Problems})
		return reported(ExitInvalid)
	}
	return withCode(ExitInvalid, err)
}

func newRootCmd(sys *system) (*cobra.Command, *globals) {
	g := &globals{sys: sys}
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
  natsops provision            install nats-server on bare hosts (then tune, deploy)`,
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
			return usageError("%s\nrun '%s --help' for usage", msg, cmd.CommandPath())
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "text" && g.output != "json" {
				return usageError("--output must be text or json, not %q", g.output)
			}
			if g.parallel < 1 {
				return usageError("--parallel must be at least 1")
			}
			return nil
		},
	}
	def := "natsops.toml"
	if v, ok := sys.getenv("NATSOPS_INVENTORY"); ok && v != "" {
		def = v
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.inventory, "inventory", "i", def, "inventory file (env NATSOPS_INVENTORY)")
	pf.StringSliceVar(&g.clusters, "cluster", nil, "only these clusters of an inventory with [[clusters]] (names or globs, comma-separated)")
	pf.StringSliceVar(&g.limit, "limit", nil, "only these nodes (names or globs, comma-separated)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.BoolVar(&g.noColor, "no-color", false, "no ANSI colours (also when NO_COLOR is set)")
	pf.CountVarP(&g.verbose, "verbose", "v", "more detail (repeat for more)")
	pf.BoolVar(&g.yes, "yes", false, "do not ask for confirmation (required without a terminal)")
	pf.IntVar(&g.parallel, "parallel", 10, "hosts worked on at once")
	pf.BoolVar(&g.askBecomePass, "ask-become-pass", false, "ask for the sudo password (when the SSH user has no passwordless sudo)")
	_ = root.RegisterFlagCompletionFunc("limit", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		est, err := cluster.LoadEstate(g.inventory)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, c := range est.Clusters {
			names = append(names, c.NodeNames()...)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("cluster", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		est, err := cluster.LoadEstate(g.inventory)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return est.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))

	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath())}
	})
	root.AddCommand(
		newInitCmd(g),
		newValidateCmd(g),
		newRenderCmd(g),
		newProvisionCmd(g),
		newTuneCmd(g),
		newDiffCmd(g),
		newDeployCmd(g),
		newStatusCmd(g),
		newRestartCmd(g),
		newCheckCmd(g),
		newHashPasswordCmd(g),
		newVersionCmd(g),
		newDemoCmd(g),
		newServerCmd(g),
		newBenchCmd(g),
		newHistoryCmd(g),
		newInventoryCmd(g),
		newContextsCmd(g),
		newGendocsCmd(g),
	)
	return root, g
}

// noArgs is cobra.NoArgs as a usage error (exit 64).
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError("%v\nrun '%s --help' for usage", err, cmd.CommandPath())
	}
	return nil
}

// run executes the command line and returns the process exit code. An
// error goes to stderr; with -o json it is also the JSON document on
// stdout ({"ok": false, "error": ..., "exit_code": N}), unless the command
// already reported it there.
func run(sys *system) int {
	root, g := newRootCmd(sys)
	root.SetArgs(sys.args)
	root.SetIn(sys.stdin)
	root.SetOut(sys.stdout)
	root.SetErr(sys.stderr)
	ctx := sys.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(err)
	if cmd != nil && cmd.Name() == "check" && code > checkUnknown {
		// check exits the Nagios way whatever went wrong (README): a
		// usage error is UNKNOWN to a monitoring system, not 64.
		code = checkUnknown
	}
	if err == nil {
		return code
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.silent {
		return code
	}
	fmt.Fprintf(sys.stderr, "natsops: %s\n", err)
	if g.json() || jsonRequested(sys.args) {
		writeJSON(sys.stdout, errorResult{OK: false, Error: err.Error(), ExitCode: code})
	}
	return code
}

// errorResult is -o json's document for a command that failed before it
// could report.
type errorResult struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
}

// jsonRequested finds -o json in a command line whose flags did not parse
// (a usage error stops cobra before it sets --output).
func jsonRequested(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson", a == "-o=json", a == "--output=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}
