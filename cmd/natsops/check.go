package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Nagios-style verdicts: `natsops check` exits with these, as monitoring
// systems expect (they differ from the other commands' exit codes).
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

func verdictName(code int) string {
	switch code {
	case checkOK:
		return "OK"
	case checkWarning:
		return "WARNING"
	case checkCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

type checkOptions struct {
	*globals
	format        string
	warnConnPct   float64
	critConnPct   float64
	warnSlow      int64
	critSlow      int64
	allowVersions bool
}

func newCheckCmd(g *globals) *cobra.Command {
	o := &checkOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "One verdict on the fleet for CI and monitoring (Nagios exit codes)",
		Long: `Read every selected node's monitoring endpoint and give one verdict.

CRITICAL: a node unreachable or not healthy, a missing route, no JetStream
meta leader, leaders disagreeing, a meta replica not current, connections
at or above --crit-connections percent of max_connections, slow consumers
at or above --crit-slow.
WARNING: connections at or above --warn-connections percent, slow
consumers at or above --warn-slow, nodes running different versions.

Exit codes (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the check
itself could not run, e.g. a broken inventory).`,
		Example: `  natsops check
  natsops check --format nagios
  natsops check -o json --warn-connections 70`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "text, nagios or json (default: text, or json with -o json)")
	f.Float64Var(&o.warnConnPct, "warn-connections", 80, "warn at this percent of max_connections")
	f.Float64Var(&o.critConnPct, "crit-connections", 95, "critical at this percent of max_connections")
	f.Int64Var(&o.warnSlow, "warn-slow", 1, "warn at this many slow consumers (since each server started)")
	f.Int64Var(&o.critSlow, "crit-slow", 100, "critical at this many slow consumers")
	f.BoolVar(&o.allowVersions, "allow-version-skew", false, "do not warn when nodes run different versions (during an upgrade)")
	return cmd
}

// problem is one finding of check.
type problem struct {
	Severity string `json:"severity"`
	Node     string `json:"node"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

type checkResult struct {
	Status   string    `json:"status"`
	Code     int       `json:"code"`
	Problems []problem `json:"problems"`
	Nodes    int       `json:"nodes"`
	MaxConnP float64   `json:"max_connections_used_percent"`
}

func (o *checkOptions) run(ctx context.Context) error {
	if o.format == "" {
		o.format = "text"
		if o.json() {
			o.format = "json"
		}
	}
	if o.format != "text" && o.format != "nagios" && o.format != "json" {
		return usageError("--format must be text, nagios or json")
	}
	inv, err := o.load()
	if err != nil {
		return o.unknown(err)
	}
	nodes, err := inv.Select(o.limit)
	if err != nil {
		return o.unknown(err)
	}
	f := readFleet(ctx, inv, nodes, o.parallel)
	res := o.judge(f)
	switch o.format {
	case "json":
		writeJSON(o.sys.stdout, res)
	case "nagios":
		var msgs []string
		for _, p := range res.Problems {
			msgs = append(msgs, p.Node+" "+p.Message)
		}
		summary := fmt.Sprintf("%d nodes healthy", res.Nodes)
		if len(msgs) > 0 {
			summary = strings.Join(msgs, "; ")
		}
		fmt.Fprintf(o.sys.stdout, "NATS %s: %s | nodes=%d max_connections_used=%.1f%%;%.0f;%.0f\n", res.Status, summary, res.Nodes, res.MaxConnP, o.warnConnPct, o.critConnPct)
	default:
		fmt.Fprintf(o.sys.stdout, "%s: %s (%s)\n", inv.Path, res.Status, plural(res.Nodes, "node"))
		for _, p := range res.Problems {
			fmt.Fprintf(o.sys.stdout, "  %s %s: %s [%s]\n", p.Severity, p.Node, p.Message, p.Code)
		}
	}
	if res.Code == checkOK {
		return nil
	}
	return reported(res.Code)
}

// judge applies the thresholds to a fleet reading.
func (o *checkOptions) judge(f *fleet) checkResult {
	res := checkResult{Nodes: len(f.Nodes)}
	for _, r := range f.Reasons {
		res.Problems = append(res.Problems, problem{Severity: "critical", Node: r.Node, Code: r.Code, Message: r.Msg})
	}
	versions := map[string][]string{}
	for _, n := range f.Nodes {
		if !n.Reachable {
			continue
		}
		versions[n.Version] = append(versions[n.Version], n.Node)
		if n.MaxConns > 0 {
			pct := 100 * float64(n.Connections) / float64(n.MaxConns)
			res.MaxConnP = max(res.MaxConnP, pct)
			msg := fmt.Sprintf("%d of %d connections (%.0f%%)", n.Connections, n.MaxConns, pct)
			switch {
			case pct >= o.critConnPct:
				res.Problems = append(res.Problems, problem{"critical", n.Node, "connections", msg})
			case pct >= o.warnConnPct:
				res.Problems = append(res.Problems, problem{"warning", n.Node, "connections", msg})
			}
		}
		msg := fmt.Sprintf("%d slow consumers since start", n.SlowConsumers)
		switch {
		case n.SlowConsumers >= o.critSlow:
			res.Problems = append(res.Problems, problem{"critical", n.Node, "slow-consumers", msg})
		case n.SlowConsumers >= o.warnSlow:
			res.Problems = append(res.Problems, problem{"warning", n.Node, "slow-consumers", msg})
		}
	}
	if len(versions) > 1 && !o.allowVersions {
		var parts []string
		keys := make([]string, 0, len(versions))
		for v := range versions {
			keys = append(keys, v)
		}
		sort.Strings(keys)
		for _, v := range keys {
			parts = append(parts, v+" on "+strings.Join(versions[v], ","))
		}
		res.Problems = append(res.Problems, problem{"warning", "cluster", "version-skew", "nodes run different versions: " + strings.Join(parts, "; ")})
	}
	res.Code = checkOK
	for _, p := range res.Problems {
		if p.Severity == "critical" {
			res.Code = checkCritical
		} else if res.Code == checkOK {
			res.Code = checkWarning
		}
	}
	res.Status = verdictName(res.Code)
	res.Problems = nonNil(res.Problems)
	sort.SliceStable(res.Problems, func(i, j int) bool { return res.Problems[i].Severity < res.Problems[j].Severity })
	return res
}

// unknown reports that the check itself could not run.
func (o *checkOptions) unknown(err error) error {
	switch o.format {
	case "json":
		writeJSON(o.sys.stdout, checkResult{Status: "UNKNOWN", Code: checkUnknown, Problems: []problem{{Severity: "unknown", Node: "natsops", Code: "check-failed", Message: err.Error()}}})
	case "nagios":
		fmt.Fprintf(o.sys.stdout, "NATS UNKNOWN: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	default:
		fmt.Fprintf(o.sys.stderr, "natsops: %s\n", err)
	}
	return reported(checkUnknown)
}
