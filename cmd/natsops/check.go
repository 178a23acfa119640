package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
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
	warnFDsPct    float64
	critFDsPct    float64
	allowVersions bool
	monitorOnly   bool
}

func newCheckCmd(g *globals) *cobra.Command {
	o := &checkOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "One verdict on the fleet for CI and monitoring (Nagios exit codes)",
		Long: `Read every selected node's monitoring endpoint and give one verdict.

Each selected node's host is read too, like natsops status does (the
running server's open descriptors and open-files limits; --monitor-only
reads no host). A node's capacity is min(max_connections, fd soft limit -
the descriptors the server needs for itself); connections are graded
against it.

CRITICAL: a node unreachable or not healthy (out-of-fds, not-running,
stopped, wrong-port when its host says why), a missing route, no JetStream
meta leader, leaders disagreeing, a meta replica not current, connections
at or above --crit-connections percent of the capacity, open descriptors
at or above --crit-fds percent of the soft limit, slow consumers at or
above --crit-slow.
WARNING: connections at or above --warn-connections percent, descriptors
at or above --warn-fds percent, slow consumers at or above --warn-slow,
nodes running different versions.

--format nagios prints perfdata: nodes, max_connections_used (the highest
share of a node's capacity) and fds_used (the highest share of a node's
soft limit; U when no host was read, e.g. --monitor-only), each with its
warning and critical thresholds.

With an inventory of several clusters ([[clusters]]), every cluster (or the
--cluster ones) is judged, and a cluster is healthy only when each
node has its outbound gateway to every other cluster, the cluster inbound
ones from all their servers, and its leaf connections are up
(gateway-outbound-missing, gateway-inbound-missing, leaf-missing).

Exit codes (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the check
itself could not run, e.g. a broken inventory).`,
		Example: `  natsops check
  natsops check --format nagios
  natsops check --format prometheus > /var/lib/node_exporter/textfile/natsops.prom.tmp; mv /var/lib/node_exporter/textfile/natsops.prom.tmp /var/lib/node_exporter/textfile/natsops.prom
  natsops check -o json --warn-connections 70`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "text, nagios, json or prometheus (default: text, or json with -o json)")
	f.Float64Var(&o.warnConnPct, "warn-connections", 80, "warn at this percent of the capacity (min of max_connections and fd soft limit - reserve)")
	f.Float64Var(&o.critConnPct, "crit-connections", 95, "critical at this percent of the capacity")
	f.Float64Var(&o.warnFDsPct, "warn-fds", 80, "warn at this percent of the server's open-files soft limit in use")
	f.Float64Var(&o.critFDsPct, "crit-fds", 90, "critical at this percent of the open-files soft limit")
	f.Int64Var(&o.warnSlow, "warn-slow", 1, "warn at this many slow consumers (since each server started)")
	f.Int64Var(&o.critSlow, "crit-slow", 100, "critical at this many slow consumers")
	f.BoolVar(&o.allowVersions, "allow-version-skew", false, "do not warn when nodes run different versions (during an upgrade)")
	f.BoolVar(&o.monitorOnly, "monitor-only", false, "read only the monitoring endpoints: no SSH, no host readings, no fds grading")
	return cmd
}

type checkResult struct {
	Status string `json:"status"`
	Code   int    `json:"code"`
	health.Verdict
}

func (o *checkOptions) run(ctx context.Context) error {
	if o.format == "" {
		o.format = "text"
		if o.json() {
			o.format = "json"
		}
	}
	switch o.format {
	case "text", "nagios", "json", "prometheus":
	default:
		return usageError("--format must be text, nagios, json or prometheus, not %q", o.format)
	}
	// Not g.selectScope: with -o json its inventory error is a JSON
	// document of its own, and check prints exactly one (UNKNOWN).
	est, err := cluster.LoadEstate(o.inventory)
	if err != nil {
		return o.unknown(err)
	}
	scope, err := o.scope(est, o.limit)
	if err != nil {
		return o.unknown(err)
	}
	var fs []*health.Fleet
	var named []health.NamedFleet
	for _, sc := range scope {
		conn, closeConn, err := o.hostConnector(sc.inv, o.monitorOnly)
		if err != nil {
			return o.unknown(err)
		}
		f := o.readFleet(ctx, sc.inv, sc.nodes, conn)
		fs = append(fs, f)
		named = append(named, health.NamedFleet{Cluster: sc.inv.ClusterName(), Fleet: f})
		closeConn()
	}
	inv := scope[0].inv
	th := o.thresholds()
	v := health.Check(health.Merge(fs), th)
	res := checkResult{Verdict: v, Code: checkOK}
	switch v.Worst() {
	case health.Critical:
		res.Code = checkCritical
	case health.Warning:
		res.Code = checkWarning
	}
	res.Status = verdictName(res.Code)
	switch o.format {
	case "json":
		writeJSON(o.sys.stdout, res)
	case "prometheus":
		if err := health.WriteMetrics(o.sys.stdout, health.MetricsInput{Verdict: v, Code: res.Code, Thresholds: th, Fleets: named}); err != nil {
			return reported(checkUnknown)
		}
	case "nagios":
		var msgs []string
		for _, p := range res.Problems {
			msgs = append(msgs, p.Node+" "+p.Message)
		}
		summary := fmt.Sprintf("%d nodes healthy", res.Nodes)
		if len(msgs) > 0 {
			summary = strings.Join(msgs, "; ")
		}
		// No node's descriptors read (--monitor-only, no host reached):
		// the value is unknown, Nagios's "U", not 0%.
		fds := "U"
		if res.FDsRead > 0 {
			fds = fmt.Sprintf("%.1f%%", res.FDsP)
		}
		fmt.Fprintf(o.sys.stdout, "NATS %s: %s | nodes=%d max_connections_used=%.1f%%;%.0f;%.0f fds_used=%s;%.0f;%.0f\n", res.Status, summary, res.Nodes, res.MaxConnP, o.warnConnPct, o.critConnPct, fds, o.warnFDsPct, o.critFDsPct)
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

// thresholds are the flags' limits.
func (o *checkOptions) thresholds() health.Thresholds {
	return health.Thresholds{
		WarnConnPct: o.warnConnPct, CritConnPct: o.critConnPct,
		WarnFDsPct: o.warnFDsPct, CritFDsPct: o.critFDsPct,
		WarnSlow: o.warnSlow, CritSlow: o.critSlow, AllowVersionSkew: o.allowVersions,
	}
}

// unknownProblem is the one problem of a check that could not run.
func unknownProblem(err error) health.Problem {
	return health.Problem{Severity: "unknown", Node: "natsops", Code: "check-failed", Message: err.Error()}
}

// unknown reports that the check itself could not run.
func (o *checkOptions) unknown(err error) error {
	switch o.format {
	case "prometheus":
		// A textfile collector keeps the last file it read: say UNKNOWN
		// in the format it reads, so an alert fires instead of stale OK
		// figures staying in place.
		_ = health.WriteMetrics(o.sys.stdout, health.MetricsInput{Code: checkUnknown, Verdict: health.Verdict{Problems: []health.Problem{unknownProblem(err)}}})
		fmt.Fprintf(o.sys.stderr, "natsops: %s\n", err)
	case "json":
		writeJSON(o.sys.stdout, checkResult{Status: "UNKNOWN", Code: checkUnknown, Verdict: health.Verdict{Problems: []health.Problem{unknownProblem(err)}}})
	case "nagios":
		fmt.Fprintf(o.sys.stdout, "NATS UNKNOWN: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	default:
		fmt.Fprintf(o.sys.stderr, "natsops: %s\n", err)
	}
	return reported(checkUnknown)
}
