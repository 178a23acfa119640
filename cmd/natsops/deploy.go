package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/deploy"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

type deployOptions struct {
	*globals
	build     buildFlags
	check     bool
	restart   string
	mode      string
	force     bool
	timeout   time.Duration
	reloadTTL time.Duration
	bootstrap bool
	canary    canaryFlags
}

func newDeployCmd(g *globals) *cobra.Command {
	o := &deployOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Install every node's rendered config and reload or restart it, one node at a time",
		Long: `Render and validate every selected node's config, read the deployed one,
and show a unified diff (secrets masked) and what applying it takes. Then,
under one lock on every node of the cluster (the rollout lock natsops
restart takes, so two deploys or a deploy and a restart never interleave),
one node at a time: upload next to the target, validate with the node's
own nats-server -t, swap atomically keeping a backup, and reload or
restart.

--restart auto (default) reloads (SIGHUP) when every changed option is
reloadable, confirmed by /varz config_load_time moving in the same process
and the node serving; changes a reload cannot apply (ports, cluster
listen, lame duck, JetStream store, websocket, log rotation, a new
nats-server version) restart the node through the same health-gated
rollout as natsops restart (preflight, the JetStream meta leader last,
never two nodes down). Restarts need a healthy cluster first (else nothing
is touched; --force overrides); reloads do not. A node whose reload or
restart does not take is rolled back: its previous files are put back and
reloaded or restarted again, and deploy says "rolled back" only once the
node was confirmed to run them. --restart never only installs; always
restarts every changed node. --check prints the diffs and exits 2 when
anything would change.

Under the lock, before any node is touched, every node's files are checked
against what was read for the diff: a deploy or an edit in between stops
this one with nothing installed.

A config installed but never loaded (--restart never, or an interrupted
deploy: the file is newer than /varz config_load_time) is still pending.

Upgrades: service.binary names the nats-server to run. When the version it
reports (--version) differs from the running one (/varz), the node needs
a restart; configs are validated with that binary. With systemd and an
absolute service.binary, natsops owns the unit's ExecStart through the
drop-in /etc/systemd/system/<unit>.d/` + service.ExecDropInName + `
(ExecStart=<binary> -c <config_path>), installed before the restart and
restored on rollback. Changing service.binary and running deploy is a
rolling upgrade, one node at a time, the meta leader last. The first
start of a node whose nats-server version changes is waited for up to
--start-timeout (default ` + rollout.DefaultStartTimeout.String() + `, never less than --timeout; an upgrade
can rebuild a store at its first start, nats-server#4914); a server that
dies at start is still noticed within about a second.

Canary and soak, as natsops restart: --stop-after N stops cleanly after N
nodes (lock released; a rerun deploys the rest: exit 0, -o json
"stopped_after"); --pause D waits D between nodes, with a countdown on a
terminal (Ctrl-C during it: exit 5, a rerun continues); --healthy-for D
(default ` + rollout.DefaultHealthyFor.String() + `): a restarted node must stay ready for D, every
reading healthy, before the next node; one that does not is rolled back
like a node that never came back. Neither --stop-after nor --pause goes
with a bootstrap (every node starts at once).

JetStream, as natsops restart: a node is not stopped while its stop would
make a stream or consumer unavailable (R1 on it, or too few current peers)
or while a meta peer lags, unless --allow-unavailable. For a version
change, also refused unless --force: streams or consumers that need a
higher JetStream API level (metadata ` + "`_nats.req.level`" + `) than the
target version has (a downgrade that would not load them), and a
minor-version jump larger than one (the server supports upgrades one
minor version at a time).

Ctrl-C stops between nodes (exit 5); a node being restarted is started
first, and a rollback under way finishes.

With an inventory of several clusters ([[clusters]]), the clusters go one at
a time, each its own rollout and lock: leaf clusters first, then the hubs,
the one whose node leads the JetStream meta group last; a node is left
only once its gateways (both ways) and leaf connections are back too. A
hub that never formed joins the JetStream meta group running in another
one, one node at a time. The first failure stops the run; the clusters
after it are not touched. --cluster NAME picks clusters; --stop-after
needs one.

Exit codes: 0 deployed (or nothing to do, or stopped as --stop-after
asked), 2 --check: changes pending,
3 the cluster is not healthy (restarts refused, the JetStream check
refused to stop a node, or a node did not come back and could not be
rolled back), 5 cancelled or interrupted, 1 any
other failure (a node rolled back, the node's nats-server refused the
config, a node not readable, the lock held by another run).`,
		Example: `  natsops deploy --check
  natsops deploy --yes
  natsops deploy --restart never --limit nats-1
  natsops deploy --stop-after 1 --yes      # upgrade one node; then: natsops deploy --yes`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.canary.check(cmd.Flags()); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "show the diffs and exit 2 if anything would change; change nothing")
	f.StringVar(&o.restart, "restart", deploy.RestartAuto, "auto (reload when possible, else restart), never (install only), always (restart)")
	f.StringVar(&o.mode, "mode", string(service.Graceful), "how restarts stop a node: graceful (lame duck) or fast")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long a restarted node may take to be back")
	f.BoolVar(&o.force, "force", false, "restart even when the cluster is not healthy before a node, and change the binary across a JetStream API level or a minor-version jump the check refuses (says what it skipped)")
	f.StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	f.DurationVar(&o.reloadTTL, "reload-timeout", rollout.DefaultReloadTimeout, "how long a reload may take to show in /varz")
	f.BoolVar(&o.bootstrap, "bootstrap", false, "form the cluster: every node installed, then all started together (automatic when no node is a member yet; refused on a formed cluster unless --force)")
	o.canary.register(f, true)
	_ = cmd.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions([]string{deploy.RestartAuto, deploy.RestartNever, deploy.RestartAlways}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{string(service.Graceful), string(service.Fast)}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

type diffOptions struct {
	*globals
	build buildFlags
}

func newDiffCmd(g *globals) *cobra.Command {
	o := &diffOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show rendered vs deployed configs, secrets masked",
		Long: `Render every selected node's config and show a unified diff against the
config deployed on the node (secrets masked on both sides; a changed secret
is said to differ without its value), and whether applying it would need a
reload or a restart. Changes nothing and takes no lock; deploy --check is
the same with exit code 2 when anything differs.

Exit codes: 0 shown (whatever differs), 1 a node could not be read (each
is named; the others are shown), 65 the inventory or a rendered config is
invalid.`,
		Example: `  natsops diff
  natsops diff --limit nats-1
  natsops diff -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, plan, err := o.globals.deployPlan(cmd.Context(), o.build, deploy.Options{Restart: deploy.RestartAuto})
			if err != nil {
				return err
			}
			o.printPlan(plan)
			return o.reportPlan(plan, o.planErrors(plan, ""))
		},
	}
	cmd.Flags().StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	return cmd
}

// deployed is a plan being applied: the connector its rollout reuses.
type deployed struct {
	inv  *cluster.Inventory
	conn *connector
}

// deployPlan renders and validates the selected nodes and reads each
// deployed config: the plan of a deploy, a deploy --check and a diff. The
// caller closes the returned connector.
func (g *globals) deployPlan(ctx context.Context, bf buildFlags, opts deploy.Options) (*deployed, *deploy.Plan, error) {
	b, err := g.build(bf)
	if err != nil {
		return nil, nil, err
	}
	if !b.res.OK(config.SevError) {
		printFindings(g.sys.stderr, style{on: g.color()}, b.res.Findings)
		return nil, nil, withCode(ExitInvalid, fmt.Errorf("nothing deployed: %s in %s", plural(config.Count(b.res.Findings, config.SevError), "error"), b.inv.Path))
	}
	conn, err := g.connector(b.inv)
	if err != nil {
		return nil, nil, err
	}
	ds := make([]deploy.Desired, 0, len(b.res.Configs)+len(b.inv.Removed))
	for _, r := range b.res.Configs {
		ds = append(ds, deploy.DesiredFor(r))
	}
	// Nodes marked remove = true leave in a deploy of the whole cluster.
	if len(g.limit) == 0 {
		for _, n := range b.inv.Removed {
			ds = append(ds, deploy.Desired{Node: n, Remove: true})
		}
	}
	plan := deploy.Read(ctx, deploy.Env{Inventory: b.inv, Getenv: g.sys.getenv, Connect: conn.connect, Reader: g.fleetReader(), Parallel: g.parallel, Observe: rollout.AcrossFor(b.inv).Observe}, ds, opts)
	return &deployed{inv: b.inv, conn: conn}, plan, nil
}

func (o *deployOptions) run(ctx context.Context) error {
	if o.restart != deploy.RestartAuto && o.restart != deploy.RestartNever && o.restart != deploy.RestartAlways {
		return usageError("--restart must be auto, never or always, not %q", o.restart)
	}
	mode, err := service.ParseMode(o.mode)
	if err != nil {
		return usageError("%v", err)
	}
	if o.timeout <= 0 || o.reloadTTL <= 0 {
		return usageError("--timeout and --reload-timeout must be positive")
	}
	if o.bootstrap && o.restart == deploy.RestartNever {
		return usageError("--bootstrap starts every node: it cannot go with --restart never")
	}
	return o.eachCluster(ctx, "deploy", o.limit, o.canary.stopAfter > 0, func(g *globals) error {
		oc := *o
		oc.globals = g
		return oc.runCluster(ctx, mode)
	})
}

// runCluster deploys the selected nodes of one cluster.
func (o *deployOptions) runCluster(ctx context.Context, mode service.Mode) error {
	d, plan, err := o.deployPlan(ctx, o.build, deploy.Options{Restart: o.restart, Bootstrap: o.bootstrap, Force: o.force})
	if err != nil {
		return err
	}
	defer d.conn.close()
	o.printPlan(plan)
	changed := plan.Changed()
	if len(plan.Failed()) > 0 {
		return o.reportPlan(plan, o.planErrors(plan, "nothing deployed: "))
	}
	if o.check {
		err := o.planErrors(plan, "")
		if err == nil && len(changed) > 0 {
			err = reported(ExitPending)
		}
		return o.reportPlan(plan, err)
	}
	if plan.Refusal != "" {
		return o.reportPlan(plan, withCode(ExitError, fmt.Errorf("nothing deployed: %s", plan.Refusal)))
	}
	if plan.Bootstrap && (o.canary.stopAfter > 0 || o.canary.pause > 0) {
		return o.reportPlan(plan, usageError("nothing deployed: this deploy bootstraps the cluster (every node starts at once), so --stop-after and --pause do not apply; rerun without them"))
	}
	if len(changed) == 0 {
		return o.reportPlan(plan, o.planErrors(plan, ""))
	}
	what := fmt.Sprintf("deploy to %s", plural(len(changed), "node"))
	switch k := plan.Restarts(); {
	case plan.Bootstrap:
		what = fmt.Sprintf("bootstrap the cluster (%s start together)", plural(len(changed), "node"))
	case k > 0:
		what += fmt.Sprintf(" (%s restarted one at a time)", plural(k, "node"))
	}
	if err := o.confirm(what); err != nil {
		return err
	}
	// Ctrl-C stops between nodes; a node being restarted is still
	// started, and a rollback under way finishes.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The rollout covers the nodes that leave, too (locked, checked,
	// taken out first).
	trail := o.startAudit("deploy", d.inv, plan.ChangedNodes(), d.conn)
	trail.plan = plan.Audit()
	opts := rollout.Options{Mode: mode, Force: o.force, NodeTimeout: o.timeout, ReloadTimeout: o.reloadTTL}
	o.canary.apply(&opts)
	cfg := o.rolloutConfig(d.inv.WithRemoved(), plan.ChangedNodes(), d.conn, opts, trail.tee(o.printEvent(time.Now())))
	cfg.Actions, cfg.Operation, cfg.Command, cfg.Pausing = plan.Actions(), plan.Operation(), "deploy", o.countdown()
	cfg.Bootstrap, cfg.Joining = plan.Bootstrap, plan.Joining
	trail.run.Operation = cfg.Operation
	rep, err := rollout.Run(ctx, cfg)
	trail.endRollout(ctx, rep, err)
	return o.finish(plan, rep, err)
}

// printPlan shows each node's diff and what applying it takes (text), or
// nothing (-o json: the plan comes with the result).
func (g *globals) printPlan(plan *deploy.Plan) {
	if g.json() {
		return
	}
	w := g.sys.stdout
	defer func() {
		names := make([]string, 0, len(plan.Nodes))
		for _, p := range plan.Nodes {
			names = append(names, p.Node)
		}
		switch {
		case len(plan.Failed()) > 0:
		case plan.JoinsMetaLeader != "":
			fmt.Fprintf(w, "%s do not form a cluster yet (%s), and the supercluster's JetStream meta group runs (led by %s): they join it one at a time\n", strings.Join(names, ", "), plan.Formation.Why(), plan.JoinsMetaLeader)
		case plan.Bootstrap:
			fmt.Fprintf(w, "%s do not form a cluster yet (%s): bootstrapping, all %d nodes restart together\n", strings.Join(names, ", "), plan.Formation.Why(), len(names))
		case len(plan.Joining) > 0:
			fmt.Fprintf(w, "%s %s the cluster of %s: the members take the new routes first, then the new nodes start\n", strings.Join(plan.Joining, ", "), joinVerb(len(plan.Joining)), strings.Join(plan.Formation.Members, ", "))
		}
	}()
	for _, p := range plan.Nodes {
		switch {
		case p.Error != "":
		case !p.Changed && p.Unknown != "":
			fmt.Fprintf(w, "%s: %s matches the inventory, but %s\n", p.Node, p.Path, p.Unknown)
		case !p.Changed:
			fmt.Fprintf(w, "%s: %s up to date\n", p.Node, p.Path)
		case p.Pending:
			fmt.Fprintf(w, "%s: %s is installed but not loaded by the running server: %s\n", p.Node, p.Path, p)
		default:
			fmt.Fprintf(w, "%s: %s: %s\n", p.Node, p.Path, p)
			prefixLines(w, "  ", p.Diff)
			for _, u := range p.Units {
				prefixLines(w, "  ", u.Diff)
			}
		}
	}
}

// planErrors reports the nodes that could not be read (exit 1) and, when
// nothing else failed, the nodes whose running state is unknown (exit 1:
// the plan cannot promise they are current).
func (g *globals) planErrors(plan *deploy.Plan, prefix string) error {
	var failed, unknown []string
	for _, p := range plan.Nodes {
		switch {
		case p.Error != "":
			failed = append(failed, p.Node)
			if !g.json() {
				fmt.Fprintf(g.sys.stderr, "natsops: %s\n", remote.OneLine(p.Node, errors.New(p.Error)))
			}
		case p.Unknown != "" && !p.Changed:
			unknown = append(unknown, p.Node)
		}
	}
	switch {
	case len(failed) > 0:
		return withCode(ExitError, fmt.Errorf("%scould not read %s", prefix, strings.Join(failed, ", ")))
	case len(unknown) > 0:
		return withCode(ExitError, fmt.Errorf("cannot tell whether the server on %s runs its config: natsops status shows why; natsops restart --node NAME --force starts a node that is down", strings.Join(unknown, ", ")))
	}
	return nil
}

// planResult is the last line of diff and deploy --check with -o json.
type planResult struct {
	Step    string   `json:"step"`
	OK      bool     `json:"ok"`
	Changed []string `json:"changed"`
	Error   string   `json:"error,omitempty"`
}

// reportPlan ends a diff or deploy --check: with -o json, one line per
// node and a result line (err included, so nothing else is printed).
func (g *globals) reportPlan(plan *deploy.Plan, err error) error {
	if !g.json() {
		return err
	}
	res := planResult{Step: "result", OK: exitCode(err) == ExitOK || exitCode(err) == ExitPending, Changed: []string{}}
	for _, p := range plan.Nodes {
		writeJSONLine(g.sys.stdout, p)
		if p.Changed {
			res.Changed = append(res.Changed, p.Node)
		}
	}
	var ee *exitError
	if err != nil && !(errors.As(err, &ee) && ee.silent) {
		res.Error = err.Error()
	}
	writeJSONLine(g.sys.stdout, res)
	if err != nil {
		return reported(exitCode(err))
	}
	return nil
}

// deployResult is the last line of -o json.
type deployResult struct {
	Step    string                  `json:"step"`
	OK      bool                    `json:"ok"`
	Rollout string                  `json:"rollout"`
	Applied map[string]rollout.Kind `json:"applied"`
	NotDone []string                `json:"not_done"`
	// StoppedAfter: --stop-after stopped the deploy after this many
	// nodes (ok, exit 0; not_done are left for a rerun).
	StoppedAfter int    `json:"stopped_after,omitempty"`
	Error        string `json:"error,omitempty"`
	Logs         string `json:"logs,omitempty"`
}

// finish reports what the rollout applied to each node and picks the exit
// code.
func (o *deployOptions) finish(plan *deploy.Plan, rep *rollout.Report, err error) error {
	byNode := map[string]*deploy.NodePlan{}
	for _, p := range plan.Nodes {
		byNode[p.Node] = p
	}
	if o.json() {
		for _, p := range plan.Nodes {
			writeJSONLine(o.sys.stdout, p)
		}
		res := deployResult{Step: "result", OK: err == nil, Rollout: rep.ID, Applied: rep.Applied, NotDone: nonNil(rep.NotDone), StoppedAfter: rep.StoppedAfter}
		var re *rollout.Error
		if errors.As(err, &re) {
			res.Logs = re.Logs
		}
		if err != nil {
			res.Error = err.Error()
		}
		writeJSONLine(o.sys.stdout, res)
	} else {
		for _, name := range rep.Done {
			fmt.Fprintf(o.sys.stdout, "%s: %s\n", name, applied(byNode[name], rep.Applied[name]))
		}
		if err == nil && rep.StoppedAfter > 0 {
			fmt.Fprintln(o.sys.stdout, o.canary.stopped(rep, "deploy", "deployed"))
		}
	}
	if err == nil {
		return nil
	}
	code := exitCode(err)
	if o.json() {
		return reported(code)
	}
	var re *rollout.Error
	if errors.As(err, &re) && re.Node != "" {
		return withCode(code, fmt.Errorf("%w\ndeploy stopped at %s; deployed: %s; nodes after it were not touched: %s", err, re.Node, orNone(rep.Done), orNone(without(rep.NotDone, re.Node))))
	}
	return withCode(code, deployError(err, plan.Restarts()))
}

// deployError words a refused rollout in deploy's terms.
func deployError(err error, restarts int) error {
	var re *rollout.Error
	if errors.As(err, &re) && re.Kind == rollout.KindPreflight {
		var rs []string
		for _, r := range re.Reasons {
			rs = append(rs, r.Node+": "+r.Msg)
		}
		need := "need"
		if restarts == 1 {
			need = "needs"
		}
		return fmt.Errorf("nothing deployed: %s %s a restart, and the cluster is not healthy:\n  %s\nfix the cluster first (natsops status), or pass --force", plural(restarts, "node"), need, strings.Join(rs, "\n  "))
	}
	return err
}

// applied is how a node took its change, in words.
func applied(p *deploy.NodePlan, k rollout.Kind) string {
	switch {
	case p != nil && p.Note == "unit updated":
		return "unit updated"
	case k == rollout.Reload:
		return "reloaded"
	case k == rollout.Restart:
		return "restarted"
	case k == rollout.Remove:
		return "removed from the cluster"
	}
	return "installed"
}

func without(s []string, x string) []string {
	var out []string
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func joinVerb(n int) string {
	if n == 1 {
		return "joins"
	}
	return "join"
}
