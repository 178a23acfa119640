package main

import (
	"fmt"

	"github.com/natsops/natsops/pkg/config"
	"github.com/spf13/cobra"
)

type validateOptions struct {
	*globals
	build  buildFlags
	strict bool
	rules  bool
}

func newValidateCmd(g *globals) *cobra.Command {
	o := &validateOptions{globals: g}
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run() },
	}
	cmd.Flags().BoolVar(&o.strict, "strict", false, "fail on warnings too")
	cmd.Flags().BoolVar(&o.rules, "rules", false, "list the lint rules and exit")
	cmd.Flags().StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	return cmd
}

type nodeSummary struct {
	Name   string `json:"name"`
	Host   string `json:"host"`
	Config string `json:"config_path"`
	Bytes  int    `json:"config_bytes"`
}

func (o *validateOptions) run() error {
	out := o.sys.stdout
	if o.rules {
		if o.json() {
			writeJSON(out, config.Rules())
			return nil
		}
		for _, r := range config.Rules() {
			fmt.Fprintf(out, "%s  %-28s %-7s  %s\n", r.ID, r.Name, r.Severity, r.Why)
		}
		return nil
	}
	b, err := o.globals.buildEstate(o.build)
	if err != nil {
		return err
	}
	inv, res := b.inv, b.res
	failAt := config.SevError
	if o.strict {
		failAt = config.SevWarning
	}
	ok := res.OK(failAt)
	nodes := make([]nodeSummary, 0, len(res.Configs))
	for _, c := range res.Configs {
		nodes = append(nodes, nodeSummary{Name: c.Node.Name, Host: c.Node.Host, Config: c.Node.Service.ConfigPath, Bytes: len(c.Config)})
	}
	if o.json() {
		writeJSON(out, map[string]any{
			"ok": ok, "inventory": inv.Path, "nodes": nodes,
			"findings": nonNil(res.Findings), "summary": summary(res.Findings),
		})
	} else {
		st := style{on: o.color()}
		printFindings(out, st, res.Findings)
		verdict := st.paint(ansiGreen, "valid")
		if !ok {
			verdict = st.paint(ansiRed, "invalid")
		}
		s := summary(res.Findings)
		fmt.Fprintf(out, "%s: %s, %s rendered and checked by nats-server %s: %s, %s, %d info\n",
			inv.Path, verdict, plural(len(res.Configs), "node"), natsServerVersion(),
			plural(s["errors"], "error"), plural(s["warnings"], "warning"), s["info"])
	}
	if !ok {
		return reported(ExitInvalid)
	}
	return nil
}
