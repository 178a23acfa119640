// Package validate is `natsops validate`: the inventory and every
// rendered config checked by nats-server's own parser and NewServer, then
// linted (pkg/config), without touching a host.
package validate

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/config"
)

// Options are validate's flags.
type Options struct {
	*cmdutil.Factory
	Build  cmdutil.BuildFlags
	Strict bool
	Rules  bool
}

// NewCmd is `natsops validate`; runF, when set, gets the options instead
// of the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the inventory and every rendered config, without touching a host",
		Long: `Check the inventory and every node's rendered config, without network.

Each config is parsed by nats-server's own parser and its options validated
as nats-server does at start (server.NewServer), then linted. Findings carry
a stable rule ID, a severity and a fix.

Exit codes: 0 valid, 65 errors found (or warnings with --strict).`,
		Example: `  natsops validate -i inventory/example.toml
  natsops validate --strict -o json
  natsops validate --rules`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().BoolVar(&o.Strict, "strict", false, "fail on warnings too")
	cmd.Flags().BoolVar(&o.Rules, "rules", false, "list the lint rules and exit")
	o.Build.Register(cmd.Flags())
	return cmd
}

type nodeSummary struct {
	Name   string `json:"name"`
	Host   string `json:"host"`
	Config string `json:"config_path"`
	Bytes  int    `json:"config_bytes"`
}

func run(o *Options) error {
	out := o.Sys.Stdout
	if o.Rules {
		if o.JSON() {
			o.Result(map[string]any{"rules": config.Rules()})
			return nil
		}
		for _, r := range config.Rules() {
			fmt.Fprintf(out, "%s  %-28s %-7s  %s\n", r.ID, r.Name, r.Severity, r.Why)
		}
		return nil
	}
	b, err := o.BuildEstate(o.Build)
	if err != nil {
		return err
	}
	inv, res := b.Inv, b.Res
	failAt := config.SevError
	if o.Strict {
		failAt = config.SevWarning
	}
	ok := res.OK(failAt)
	nodes := make([]nodeSummary, 0, len(res.Configs))
	for _, c := range res.Configs {
		nodes = append(nodes, nodeSummary{Name: c.Node.Name, Host: c.Node.Host, Config: c.Node.Service.ConfigPath, Bytes: len(c.Config)})
	}
	s := view.FindingCounts(res.Findings)
	if o.JSON() {
		o.Result(map[string]any{"inventory": inv.Path, "nodes": nodes, "findings": text.NonNil(res.Findings), "summary": s})
	} else {
		st := o.Style()
		view.PrintFindings(out, st, res.Findings)
		verdict := st.Green("valid")
		if !ok {
			verdict = st.Red("invalid")
		}
		fmt.Fprintf(out, "%s: %s, %s rendered and checked by nats-server %s: %s, %s, %d info\n",
			inv.Path, verdict, text.Plural(len(res.Configs), "node"), cmdutil.NATSServerVersion(),
			text.Plural(s["errors"], "error"), text.Plural(s["warnings"], "warning"), s["info"])
	}
	if !ok {
		return cmdutil.Printed(cmdutil.ExitInvalid, fmt.Errorf("%s is invalid: %s, %s", inv.Path, text.Plural(s["errors"], "error"), text.Plural(s["warnings"], "warning")))
	}
	return nil
}
