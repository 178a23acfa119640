// Package check is `natsops check`: one verdict on the fleet for CI and
// monitoring, in text, Nagios, JSON or Prometheus form, with Nagios exit
// codes whatever fails.
package check

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/rollout"
)

// Options are check's flags.
type Options struct {
	*cmdutil.Factory
	Ctx           context.Context
	Format        string
	WarnConnPct   float64
	CritConnPct   float64
	WarnSlow      int64
	CritSlow      int64
	WarnFDsPct    float64
	CritFDsPct    float64
	WarnJSPct     float64
	CritJSPct     float64
	AllowVersions bool
	MonitorOnly   bool
}

// NewCmd is `natsops check`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
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
at or above --crit-fds percent of the soft limit, JetStream memory or
storage at or above --crit-js percent of the node's max_memory or
max_storage (/jsz), slow consumers at or above --crit-slow.
WARNING: connections at or above --warn-connections percent, descriptors
at or above --warn-fds percent, JetStream use at or above --warn-js
percent, slow consumers at or above --warn-slow, nodes running different
versions. A warning threshold above its critical one is refused.

A rollout in progress (natsops restart or deploy holding the cluster's
lock, read on the nodes' hosts like the descriptors; not with
--monitor-only) is a WARNING naming its holder, since when, and the node
it is working on. That node is down on purpose: its critical problems
(and the other nodes' missing route to it alone, their replicas catching
up) are maintenance, reported as WARNING, not CRITICAL. Any other
problem still pages. A stale lock (over an hour old, or not natsops's)
excuses nothing and is a WARNING of its own.

--format nagios prints perfdata: nodes, max_connections_used (the highest
share of a node's capacity), fds_used (the highest share of a node's
soft limit; U when no host was read, e.g. --monitor-only),
js_memory_used and js_storage_used (the highest share of a node's
JetStream limits; U when no /jsz was read), each with its warning and
critical thresholds, and rollout_in_progress (clusters whose lock a live
rollout holds; U with --monitor-only).

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
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	// Nagios exit codes whatever fails: a usage error is UNKNOWN (3).
	cmd.Annotations = map[string]string{cmdutil.AnnotationExit: "nagios"}
	fl := cmd.Flags()
	fl.StringVar(&o.Format, "format", "", "text, nagios, json or prometheus (default: text, or json with -o json)")
	fl.Float64Var(&o.WarnConnPct, "warn-connections", 80, "warn at this percent of the capacity (min of max_connections and fd soft limit - reserve)")
	fl.Float64Var(&o.CritConnPct, "crit-connections", 95, "critical at this percent of the capacity")
	fl.Float64Var(&o.WarnFDsPct, "warn-fds", 80, "warn at this percent of the server's open-files soft limit in use")
	fl.Float64Var(&o.CritFDsPct, "crit-fds", 90, "critical at this percent of the open-files soft limit")
	fl.Float64Var(&o.WarnJSPct, "warn-js", 75, "warn at this percent of a node's JetStream max_memory or max_storage in use")
	fl.Float64Var(&o.CritJSPct, "crit-js", 90, "critical at this percent of a node's JetStream max_memory or max_storage in use")
	fl.Int64Var(&o.WarnSlow, "warn-slow", 1, "warn at this many slow consumers (since each server started)")
	fl.Int64Var(&o.CritSlow, "crit-slow", 100, "critical at this many slow consumers")
	fl.BoolVar(&o.AllowVersions, "allow-version-skew", false, "do not warn when nodes run different versions (during an upgrade)")
	fl.BoolVar(&o.MonitorOnly, "monitor-only", false, "read only the monitoring endpoints: no SSH, no host readings, no fds grading")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "nagios", "json", "prometheus"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// complete settles the format: --format json is -o json (one document on
// stdout, the one output contract), and -o json with another format
// would print two things at once: refused.
func (o *Options) complete() error {
	if err := o.completeFormat(); err != nil {
		return err
	}
	// A warning above its critical threshold would never be seen.
	for _, p := range []struct {
		warn, crit string
		w, c       float64
	}{
		{"--warn-connections", "--crit-connections", o.WarnConnPct, o.CritConnPct},
		{"--warn-fds", "--crit-fds", o.WarnFDsPct, o.CritFDsPct},
		{"--warn-js", "--crit-js", o.WarnJSPct, o.CritJSPct},
		{"--warn-slow", "--crit-slow", float64(o.WarnSlow), float64(o.CritSlow)},
	} {
		if p.w > p.c {
			return cmdutil.Usage("%s %g is above %s %g: the warning must be at or below the critical threshold (swap them)", p.warn, p.w, p.crit, p.c)
		}
	}
	return nil
}

// completeFormat settles --format against -o json.
func (o *Options) completeFormat() error {
	switch o.Format {
	case "":
		o.Format = "text"
		if o.JSON() {
			o.Format = "json"
		}
	case "json":
		o.Global.Output = "json"
	case "text", "nagios", "prometheus":
		if o.JSON() {
			return cmdutil.Usage("-o json prints the verdict as JSON: it does not go with --format %s (drop one of them)", o.Format)
		}
	default:
		return cmdutil.Usage("--format must be text, nagios, json or prometheus, not %q", o.Format)
	}
	return nil
}

// result is check's -o json document beside ok and exit_code.
type result struct {
	Status string `json:"status"`
	Code   int    `json:"code"`
	health.Verdict
}

func verdictName(code int) string {
	switch code {
	case cmdutil.CheckOK:
		return "OK"
	case cmdutil.CheckWarning:
		return "WARNING"
	case cmdutil.CheckCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

func run(o *Options) error {
	// One document whatever fails: an inventory error is the UNKNOWN
	// verdict, not the inventory's problems.
	scope, err := o.SelectScope()
	if err != nil {
		return o.unknown(err)
	}
	var fs []*health.Fleet
	var named []health.NamedFleet
	rollouts := []health.Rollout{}
	for _, sc := range scope {
		conn, closeConn, err := o.HostConnector(sc.Inv, o.MonitorOnly)
		if err != nil {
			return o.unknown(err)
		}
		f := o.ReadFleet(o.Ctx, sc.Inv, sc.Nodes, conn)
		fs = append(fs, f)
		named = append(named, health.NamedFleet{Cluster: sc.Inv.ClusterName(), Fleet: f})
		if conn != nil {
			// The lock is on every node of the cluster: read it on all
			// of them, whatever --limit selects.
			if h := rollout.ReadHeld(o.Ctx, sc.Inv.Nodes, conn.Connect, o.Sys.Clock.Now()); h != nil {
				rollouts = append(rollouts, heldRollout(f.Cluster, h))
			}
		}
		closeConn()
	}
	inv := scope[0].Inv
	th := o.thresholds()
	v := health.Maintenance(health.Check(health.Merge(fs), th), rollouts)
	res := result{Verdict: v, Code: cmdutil.CheckOK}
	switch v.Worst() {
	case health.Critical:
		res.Code = cmdutil.CheckCritical
	case health.Warning:
		res.Code = cmdutil.CheckWarning
	}
	res.Status = verdictName(res.Code)
	w := o.Sys.Stdout
	switch o.Format {
	case "json":
		o.Result(res)
	case "prometheus":
		if err := health.WriteMetrics(w, health.MetricsInput{Verdict: v, Code: res.Code, Thresholds: th, Fleets: named, LocksRead: !o.MonitorOnly}); err != nil {
			return cmdutil.WithCode(cmdutil.CheckUnknown, err)
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
		js := func(p float64) string {
			if res.JSRead == 0 {
				return "U"
			}
			return fmt.Sprintf("%.1f%%", p)
		}
		// --monitor-only reads no lock: whether a rollout runs is unknown.
		inProgress := "U"
		if !o.MonitorOnly {
			n := 0
			for _, r := range res.Rollouts {
				if !r.Stale {
					n++
				}
			}
			inProgress = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "NATS %s: %s | nodes=%d max_connections_used=%.1f%%;%.0f;%.0f fds_used=%s;%.0f;%.0f js_memory_used=%s;%.0f;%.0f js_storage_used=%s;%.0f;%.0f rollout_in_progress=%s\n",
			res.Status, summary, res.Nodes, res.MaxConnP, o.WarnConnPct, o.CritConnPct, fds, o.WarnFDsPct, o.CritFDsPct,
			js(res.JSMemP), o.WarnJSPct, o.CritJSPct, js(res.JSStoreP), o.WarnJSPct, o.CritJSPct, inProgress)
	default:
		fmt.Fprintf(w, "%s: %s (%s)\n", inv.Path, res.Status, text.Plural(res.Nodes, "node"))
		for _, p := range res.Problems {
			fmt.Fprintf(w, "  %s %s: %s [%s]\n", p.Severity, p.Node, p.Message, p.Code)
		}
	}
	return cmdutil.Outcome(res.Code)
}

// thresholds are the flags' limits.
func (o *Options) thresholds() health.Thresholds {
	return health.Thresholds{
		WarnConnPct: o.WarnConnPct, CritConnPct: o.CritConnPct,
		WarnFDsPct: o.WarnFDsPct, CritFDsPct: o.CritFDsPct,
		WarnJSPct: o.WarnJSPct, CritJSPct: o.CritJSPct,
		WarnSlow: o.WarnSlow, CritSlow: o.CritSlow, AllowVersionSkew: o.AllowVersions,
	}
}

// heldRollout is what check reports of a held lock h of cluster c.
func heldRollout(c string, h *rollout.Held) health.Rollout {
	r := health.Rollout{Cluster: c, ID: h.Lock.ID, Holder: h.Lock.Owner, PID: h.Lock.PID, Since: h.Lock.Started, Stale: h.Stale, ReadOn: h.From, Done: []string{}}
	if r.Holder == "" {
		r.Holder = fmt.Sprintf("%q", h.Raw)
	}
	if st := h.State; st != nil {
		r.Operation = st.Operation
		// A node named before this lock was taken is an older run's
		// (one that failed on it), not this rollout's.
		if !st.CurrentSince.Before(h.Lock.Started) {
			r.Node, r.NodeSince = st.Current, st.CurrentSince
		}
		r.Done = text.SortedKeys(st.Done)
	}
	return r
}

// unknownProblem is the one problem of a check that could not run.
func unknownProblem(err error) health.Problem {
	return health.Problem{Severity: "unknown", Node: "natsops", Code: "check-failed", Message: err.Error()}
}

// unknown reports that the check itself could not run, in the format
// asked for (UNKNOWN, exit 3).
func (o *Options) unknown(err error) error {
	problems := health.Verdict{Problems: []health.Problem{unknownProblem(err)}}
	switch o.Format {
	case "prometheus":
		// A textfile collector keeps the last file it read: say UNKNOWN
		// in the format it reads, so an alert fires instead of stale OK
		// figures staying in place.
		_ = health.WriteMetrics(o.Sys.Stdout, health.MetricsInput{Code: cmdutil.CheckUnknown, Verdict: problems})
	case "json":
		o.Result(result{Status: "UNKNOWN", Code: cmdutil.CheckUnknown, Verdict: problems})
	case "nagios":
		fmt.Fprintf(o.Sys.Stdout, "NATS UNKNOWN: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cmdutil.WithCode(cmdutil.CheckUnknown, err)
}
