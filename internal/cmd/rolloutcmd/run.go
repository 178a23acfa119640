package rolloutcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/rebalance"
	"github.com/natsops/natsops/pkg/rollout"
)

// Config is the engine's input for this process: the lock's owner
// (user@host, pid), the real monitor, clock and hosts, the estate's view,
// progress reports; the options' zero values are the engine's defaults.
func Config(f *cmdutil.Factory, inv *cluster.Inventory, nodes []*cluster.Node, conn *cmdutil.Connector, opts rollout.Options, events func(rollout.Event)) rollout.Config {
	opts.Owner, opts.PID, opts.ProcessAlive, opts.ProcessStart = f.Owner(conn), f.Sys.PID, f.Sys.ProcessAlive, f.Sys.ProcessStart
	return rollout.Config{
		Inventory: inv,
		Nodes:     nodes,
		Connect:   conn.Connect,
		Monitor:   &monitor.Client{},
		Clock:     f.Sys.Clock,
		Events:    events,
		Progress:  f.Progress(),
		Pausing:   Countdown(f),
		Across:    rollout.AcrossFor(inv),
		Options:   opts,
	}
}

// Printer writes one line per node and step, timed from start: text on
// stdout, or a "step" event.
func Printer(f *cmdutil.Factory, start time.Time) func(rollout.Event) {
	return func(e rollout.Event) {
		if f.JSON() {
			f.Event("step", e)
			return
		}
		if e.Step == rollout.StepLogs {
			fmt.Fprintf(f.Sys.Stderr, "%s: last log lines:\n", e.Node)
			view.PrefixLines(f.Sys.Stderr, "  | ", e.Detail)
			return
		}
		st := f.Style()
		res := e.Result
		switch res {
		case rollout.ResultOK:
			res = st.Green(res)
		case rollout.ResultFailed, rollout.ResultInterrupted:
			res = st.Red(res)
		case rollout.ResultWarning:
			res = st.Yellow(res)
		}
		node := e.Node
		if node == "" {
			node = "-"
		}
		detail := e.Detail
		if e.Result == rollout.ResultPlanned {
			detail = strings.ReplaceAll(detail, "\n", "; ")
		}
		fmt.Fprintf(f.Sys.Stdout, "%7.2fs  %-6s %-9s %-7s %6dms  %s\n", f.Sys.Clock.Now().Sub(start).Seconds(), node, e.Step, res, e.ElapsedMS, detail)
	}
}

// Spec is one cluster's rollout as a command asks for it.
type Spec struct {
	// Command is "restart" or "deploy" (the lock's and the audit's).
	Command string
	// Inv is the inventory the rollout reads (deploy: with the nodes
	// that leave); Nodes those it changes.
	Inv   *cluster.Inventory
	Nodes []*cluster.Node
	Conn  *cmdutil.Connector
	// Config is finished by the command (actions, operation, ...).
	Options rollout.Options
	Edit    func(*rollout.Config)
	// Plan is what the audit records as planned.
	Plan []audit.Planned
}

// Run runs one cluster's rollout, every event printed and, unless a dry
// run, recorded in the audit trail. The first Ctrl-C, SIGTERM, SIGHUP (a
// closed terminal) or SIGPIPE (the reader of the output gone: `| head`)
// stops it before its next node: the node it is on is finished (never
// left stopped), the lock released, the run recorded as interrupted with
// the nodes done (exit 5). A second Ctrl-C or SIGTERM also stops waiting
// for the node it is on (its stop and start still run to their end).
func Run(ctx context.Context, f *cmdutil.Factory, s Spec) (*rollout.Report, error) {
	finish, ctx, stop := f.Sys.Stoppable(ctx)
	defer stop()
	told := context.AfterFunc(finish, func() {
		if c := context.Cause(finish); c != nil && !errors.Is(c, context.Canceled) {
			f.Warn("%v: the node being changed is finished (never left stopped), then the rollout stops before the next one, releases its lock and records the run; Ctrl-C again stops waiting for that node", c)
		}
	})
	defer told()
	var trail *cmdutil.AuditRun
	if !s.Options.DryRun {
		trail = f.StartAudit(s.Command, s.Inv, s.Nodes, s.Conn)
		trail.Plan = s.Plan
	}
	cfg := Config(f, s.Inv, s.Nodes, s.Conn, s.Options, trail.Tee(Printer(f, f.Sys.Clock.Now())))
	cfg.Command = s.Command
	cfg.Stop = finish
	if s.Edit != nil {
		s.Edit(&cfg)
	}
	if trail != nil {
		trail.Run.Operation = cfg.Operation
	}
	rep, err := rollout.Run(ctx, cfg)
	trail.EndRollout(ctx, rep, err)
	return rep, err
}

// Result is one cluster's rollout in the -o json result.
type Result struct {
	Cluster string   `json:"cluster,omitempty"`
	Rollout string   `json:"rollout"`
	Order   []string `json:"order"`
	Done    []string `json:"done"`
	Skipped []string `json:"skipped"`
	NotDone []string `json:"not_done"`
	// Applied is how each done node took its change (deploy).
	Applied map[string]rollout.Kind `json:"applied,omitempty"`
	// StoppedAfter: --stop-after stopped the rollout after this many
	// nodes (ok, exit 0; not_done are left for a rerun).
	StoppedAfter int `json:"stopped_after,omitempty"`
	// Failed is the node the rollout stopped at (neither done nor in
	// not_done: the nodes after it, not reached).
	Failed string `json:"failed,omitempty"`
	Logs   string `json:"logs,omitempty"`
	// Rebalance is what --rebalance did once the rollout was done.
	Rebalance *rebalance.Result `json:"rebalance,omitempty"`
}

// FailedNode is the node a rollout that ended with err failed at: a
// node it worked on, neither done nor left untouched ("" when it
// stopped before or between nodes).
func FailedNode(rep *rollout.Report, err error) string {
	var re *rollout.Error
	if rep == nil || !errors.As(err, &re) || re.Node == "" {
		return ""
	}
	for _, n := range append(append([]string{}, rep.Done...), rep.NotDone...) {
		if n == re.Node {
			return ""
		}
	}
	return re.Node
}

// Summary is what a rollout that ended with err did, for a person: the
// nodes done, the node it failed at (and at which step) and the nodes
// it did not reach.
func Summary(rep *rollout.Report, err error) string {
	s := "done: " + text.OrNone(rep.Done)
	if n := FailedNode(rep, err); n != "" {
		s += "; failed: " + n
		var re *rollout.Error
		if errors.As(err, &re) && re.Step != "" {
			s += " (" + re.Step + ")"
		}
	}
	return s + "; not reached: " + text.OrNone(rep.NotDone)
}

// NewResult is rep (and the node's logs of a rollout that stopped at a
// node) as a Result.
func NewResult(inv *cluster.Inventory, rep *rollout.Report, err error) *Result {
	res := &Result{Rollout: rep.ID, Order: text.NonNil(rep.Order), Done: text.NonNil(rep.Done), Skipped: text.NonNil(rep.Skipped), NotDone: text.NonNil(rep.NotDone), Applied: rep.Applied, StoppedAfter: rep.StoppedAfter}
	if inv.Estate != nil && inv.Estate.Multi {
		res.Cluster = inv.ClusterName()
	}
	var re *rollout.Error
	if errors.As(err, &re) {
		res.Logs = re.Logs
	}
	res.Failed = FailedNode(rep, err)
	return res
}

// ClusterFunc runs a command on one cluster (f narrowed to it) and
// returns its part of the result.
type ClusterFunc func(f *cmdutil.Factory) (any, error)

// EachCluster runs one for every cluster of the estate that the flags
// select nodes of (--cluster, and --limit or the node patterns sel), one
// cluster at a time in rollout.EstateOrder, each with --cluster and
// --limit narrowed to it: the cluster's own rollout, its own lock. The
// first failure stops it; the clusters after it are not touched, and it
// says which. The result is the cluster's own (one cluster) or
// {"clusters": [...], "not_started": [...]}.
//
// A canary (--stop-after) is a number of nodes of one cluster: with
// several clusters selected it is a usage error.
func EachCluster(ctx context.Context, f *cmdutil.Factory, verb string, sel []string, canary bool, one ClusterFunc) error {
	est, err := f.LoadEstate()
	if err != nil {
		return err
	}
	if !est.Multi {
		return single(f, one)
	}
	picked, err := f.Scope(est, sel)
	if err != nil {
		return err
	}
	if len(picked) == 1 {
		return single(f.Narrow(picked[0]), one)
	}
	if canary {
		return cmdutil.Usage("--stop-after counts the nodes of one cluster, and this %s covers %d clusters: pick one with --cluster NAME", verb, len(picked))
	}
	byInv := map[*cluster.Inventory]cmdutil.Scoped{}
	var cs []*cluster.Inventory
	for _, sc := range picked {
		byInv[sc.Inv] = sc
		cs = append(cs, sc.Inv)
	}
	order := rollout.EstateOrder(cs, metaLeader(ctx, f, cs))
	names := make([]string, len(order))
	for i, c := range order {
		names[i] = c.ClusterName()
	}
	var results []any
	defer func() {
		f.Result(map[string]any{"clusters": text.NonNil(results), "not_started": text.NonNil(names[len(results):])})
	}()
	for i, c := range order {
		if f.JSON() {
			f.Event("cluster", map[string]any{"cluster": c.ClusterName(), "index": i + 1, "of": len(order), "order": names})
		} else {
			fmt.Fprintf(f.Sys.Stdout, "== cluster %s (%d of %d: %s) ==\n", c.ClusterName(), i+1, len(order), strings.Join(names, " -> "))
		}
		res, err := one(f.Narrow(byInv[c]))
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			if res == nil {
				results = append(results, map[string]any{"cluster": c.ClusterName()})
			}
			if rest := names[i+1:]; len(rest) > 0 && !f.JSON() {
				fmt.Fprintf(f.Sys.Stderr, "natsops: %s stopped in cluster %s; not touched: %s\n", verb, c.ClusterName(), strings.Join(rest, ", "))
			}
			return err
		}
	}
	return nil
}

func single(f *cmdutil.Factory, one ClusterFunc) error {
	res, err := one(f)
	if res != nil {
		f.Result(res)
	}
	return err
}

// metaLeader is the JetStream meta leader the clusters' nodes agree on,
// or "" (one reading; a cluster that does not answer only loses the
// ordering, never the gates).
func metaLeader(ctx context.Context, f *cmdutil.Factory, cs []*cluster.Inventory) string {
	var nodes []*cluster.Node
	for _, c := range cs {
		if !c.IsLeaf() {
			nodes = append(nodes, c.Nodes...)
		}
	}
	return health.MetaLeader(f.FleetReader().Read(ctx, nodes, nil))
}

// Operate runs an incident operation (evacuate, step-down, replace,
// rescue) under the cluster's rollout lock, judged by gate first
// (rollout.Operate): Ctrl-C reaches op through ctx, every event is
// printed and, unless a dry run, recorded in the audit trail as the
// command's run (natsops history shows it).
func Operate(ctx context.Context, f *cmdutil.Factory, s Spec, gate rollout.Gate, op rollout.Op) (*rollout.Report, error) {
	ctx, stop := f.Sys.Interruptible(ctx)
	defer stop()
	var trail *cmdutil.AuditRun
	if !s.Options.DryRun {
		trail = f.StartAudit(s.Command, s.Inv, s.Nodes, s.Conn)
		trail.Plan = s.Plan
	}
	cfg := Config(f, s.Inv, s.Nodes, s.Conn, s.Options, trail.Tee(Printer(f, f.Sys.Clock.Now())))
	cfg.Command = s.Command
	if s.Edit != nil {
		s.Edit(&cfg)
	}
	if trail != nil {
		trail.Run.Operation = cfg.Operation
	}
	rep, err := rollout.Operate(ctx, cfg, gate, op)
	trail.EndRollout(ctx, rep, err)
	return rep, err
}
