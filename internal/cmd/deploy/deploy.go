// Package deploy is `natsops deploy` and `natsops diff`: the rendered
// configs against the deployed ones (pkg/deploy plans), and the deploy's
// rollout one node at a time (pkg/rollout, through internal/cmd/rolloutcmd).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/deploy"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// Options are deploy's flags.
type Options struct {
	*cmdutil.Factory
	Ctx       context.Context
	Build     cmdutil.BuildFlags
	Check     bool
	Restart   string
	Mode      service.Mode
	Force     bool
	Timeout   time.Duration
	ReloadTTL time.Duration
	Bootstrap bool
	Canary    rolloutcmd.Flags
}

// NewCmd is `natsops deploy`; runF, when set, gets the options instead of
// the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	var mode string
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

Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or a closed output pipe
(SIGPIPE, as ` + "`| head`" + ` does) stops between nodes (exit 5): the node being
changed is finished first (installed, reloaded or restarted and confirmed
back, or rolled back; never left stopped), then the lock is released and
the run recorded as interrupted with the nodes done; a rerun continues.
A second Ctrl-C stops waiting for the node (its stop and start still run
to their end).

The lock is the one natsops restart takes (` + rollout.LockPath + `; a local
node's next to its config). A lock whose holder ran on this machine and is
gone (its pid runs no more, or runs another process) is said to be; ` + "`--break-lock`" + `
removes it (only when that rollout is dead).

With an inventory of several clusters ([[clusters]]), the clusters go one at
a time, each its own rollout and lock: leaf clusters first, then the hubs,
the one whose node leads the JetStream meta group last; a node is left
only once its gateways (both ways) and leaf connections are back too. A
hub that never formed joins the JetStream meta group running in another
one, one node at a time. The first failure stops the run; the clusters
after it are not touched. --cluster NAME picks clusters; --stop-after
needs one.

A member of the cluster that is down (a peer of the JetStream meta group,
or a replica of a stream the live members hold, whose server does not
answer) is never a node that joins: deploy refuses (exit 3) naming it and
the command that brings it back, natsops restart --node NAME --force
--yes; --force starts it with the new config instead. JetStream data on a
new node's disk is refused as orphaned only for streams no live member
holds. A change nats-server refuses between old and new nodes (a cluster
rename: server/route.go:3109 in v2.15.2) cannot roll one node at a time:
refused before any node is touched (exit 1), with the procedure, a planned
outage: --bootstrap --force.

--rebalance: once every node is done, the client connections are evened
across the cluster's nodes as natsops rebalance does (its own lock, health
gate and history record; needs the system account user). The spread before
and after is shown (-o json: "rebalance"); a rebalance that does not reach
±20 % exits 3.

Exit codes: 0 deployed (or nothing to do, or stopped as --stop-after
asked), 2 --check: changes pending,
3 the cluster is not healthy (a member of the cluster is down,
restarts refused, the JetStream check
refused to stop a node, or a node did not come back and could not be
rolled back), 5 cancelled or interrupted, 1 any
other failure (a node rolled back, the node's nats-server refused the
config, a node not readable, the lock held by another run).`,
		Example: `  natsops deploy --check
  natsops deploy --yes
  natsops deploy --restart never --limit nats-1
  natsops deploy --stop-after 1 --yes      # upgrade one node; then: natsops deploy --yes`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.Canary.Validate(cmd.Flags(), o.Sys.Getenv); err != nil {
				return err
			}
			if o.Restart != deploy.RestartAuto && o.Restart != deploy.RestartNever && o.Restart != deploy.RestartAlways {
				return cmdutil.Usage("--restart must be auto, never or always, not %q", o.Restart)
			}
			m, err := service.ParseMode(mode)
			if err != nil {
				return cmdutil.Usage("%v", err)
			}
			o.Mode = m
			if o.Timeout <= 0 || o.ReloadTTL <= 0 {
				return cmdutil.Usage("--timeout and --reload-timeout must be positive")
			}
			if o.Bootstrap && o.Restart == deploy.RestartNever {
				return cmdutil.Usage("--bootstrap starts every node: it cannot go with --restart never")
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	fl := cmd.Flags()
	fl.BoolVar(&o.Check, "check", false, "show the diffs and exit 2 if anything would change; change nothing")
	fl.StringVar(&o.Restart, "restart", deploy.RestartAuto, "auto (reload when possible, else restart), never (install only), always (restart)")
	fl.StringVar(&mode, "mode", string(service.Graceful), "how restarts stop a node: graceful (lame duck) or fast")
	fl.DurationVar(&o.Timeout, "timeout", rollout.DefaultNodeTimeout, "how long a restarted node may take to be back")
	fl.BoolVar(&o.Force, "force", false, "restart even when the cluster is not healthy before a node, and change the binary across a JetStream API level or a minor-version jump the check refuses (says what it skipped)")
	o.Build.Register(fl)
	fl.DurationVar(&o.ReloadTTL, "reload-timeout", rollout.DefaultReloadTimeout, "how long a reload may take to show in /varz")
	fl.BoolVar(&o.Bootstrap, "bootstrap", false, "form the cluster: every node installed, then all started together (automatic when no node is a member yet; refused on a formed cluster unless --force)")
	o.Canary.Register(fl, true)
	_ = cmd.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions([]string{deploy.RestartAuto, deploy.RestartNever, deploy.RestartAlways}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{string(service.Graceful), string(service.Fast)}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func run(o *Options) error {
	return rolloutcmd.EachCluster(o.Ctx, o.Factory, "deploy", o.Global.Limit, o.Canary.StopAfter > 0, func(f *cmdutil.Factory) (any, error) {
		oc := *o
		oc.Factory = f
		return oc.runCluster()
	})
}

// result is one cluster's deploy in the -o json result: the nodes whose
// config changes and, once a rollout ran, what it did.
type result struct {
	*rolloutcmd.Result
	Cluster string   `json:"cluster,omitempty"`
	Changed []string `json:"changed"`
	// Refusal is why this deploy does not go on (--check: would not),
	// with the fix; MembersDown and Unrollable are two of its causes, as
	// data: the members the cluster knows that do not answer, and the
	// changes old and new servers cannot run side by side.
	Refusal     string   `json:"refusal,omitempty"`
	MembersDown []string `json:"members_down,omitempty"`
	Unrollable  []string `json:"unrollable,omitempty"`
}

// runCluster deploys the selected nodes of one cluster.
func (o *Options) runCluster() (any, error) {
	pl, err := readPlan(o.Ctx, o.Factory, o.Build, deploy.Options{Restart: o.Restart, Bootstrap: o.Bootstrap, Force: o.Force})
	if err != nil {
		return nil, err
	}
	defer pl.conn.Close()
	plan := pl.plan
	res := &result{Changed: changedNames(plan), Refusal: plan.Refusal, MembersDown: plan.MembersDown, Unrollable: plan.Unrollable}
	if pl.inv.Estate != nil && pl.inv.Estate.Multi {
		res.Cluster = pl.inv.ClusterName()
	}
	printPlan(o.Factory, plan, true)
	changed := plan.Changed()
	switch {
	case len(plan.Failed()) > 0:
		return res, planErrors(o.Factory, plan, "nothing deployed: ")
	case o.Check:
		if plan.Refusal != "" && !o.Factory.JSON() {
			// What --yes would answer, said before anyone types it.
			fmt.Fprintf(o.Factory.Sys.Stderr, "natsops: deploy --yes would refuse: %s\n", plan.Refusal)
		}
		err := planErrors(o.Factory, plan, "")
		if err == nil && len(changed) > 0 {
			err = cmdutil.Outcome(cmdutil.ExitPending)
		}
		return res, err
	case plan.Refusal != "" && len(plan.MembersDown) > 0 && !o.Force:
		// A member down is an unhealthy cluster, as a restart's preflight
		// would find it.
		return res, cmdutil.WithCode(cmdutil.ExitUnhealthy, fmt.Errorf("nothing deployed: %s", plan.Refusal))
	case plan.Refusal != "":
		return res, cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("nothing deployed: %s", plan.Refusal))
	case plan.Bootstrap && (o.Canary.StopAfter > 0 || o.Canary.Pause > 0):
		return res, cmdutil.Usage("nothing deployed: this deploy bootstraps the cluster (every node starts at once), so --stop-after and --pause do not apply; rerun without them")
	case len(changed) == 0:
		return res, planErrors(o.Factory, plan, "")
	}
	what := fmt.Sprintf("deploy to %s", text.Plural(len(changed), "node"))
	switch k := plan.Restarts(); {
	case plan.Bootstrap:
		what = fmt.Sprintf("bootstrap the cluster (%s start together)", text.Plural(len(changed), "node"))
	case k > 0:
		what += fmt.Sprintf(" (%s restarted one at a time)", text.Plural(k, "node"))
	}
	if err := o.Confirm(what); err != nil {
		return res, err
	}
	opts := rollout.Options{Mode: o.Mode, Force: o.Force, NodeTimeout: o.Timeout, ReloadTimeout: o.ReloadTTL}
	o.Canary.Apply(&opts)
	// The rollout covers the nodes that leave, too (locked, checked,
	// taken out first).
	rep, err := rolloutcmd.Run(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "deploy", Inv: pl.inv.WithRemoved(), Nodes: plan.ChangedNodes(), Conn: pl.conn, Options: opts,
		Plan: plan.Audit(),
		Edit: func(cfg *rollout.Config) {
			cfg.Actions, cfg.Operation = plan.Actions(), plan.Operation()
			cfg.Bootstrap, cfg.Joining = plan.Bootstrap, plan.Joining
		},
	})
	res.Result = rolloutcmd.NewResult(pl.inv, rep, err)
	err = o.finish(plan, rep, err)
	return res, o.Canary.AfterRollout(o.Ctx, o.Factory, pl.inv, pl.conn, rep, res.Result, false, err)
}

// planned is a deploy's plan with the inventory and connector its
// rollout reuses.
type planned struct {
	inv  *cluster.Inventory
	conn *cmdutil.Connector
	plan *deploy.Plan
}

// readPlan renders and validates the selected nodes and reads each
// deployed config: the plan of a deploy, a deploy --check and a diff. The
// caller closes the connector.
func readPlan(ctx context.Context, f *cmdutil.Factory, bf cmdutil.BuildFlags, opts deploy.Options) (*planned, error) {
	b, err := f.Build(bf)
	if err != nil {
		return nil, err
	}
	if !b.Res.OK(config.SevError) {
		view.PrintFindings(f.Sys.Stderr, f.Style(), b.Res.Findings)
		return nil, cmdutil.Printed(cmdutil.ExitInvalid, cmdutil.InvalidConfigs("nothing deployed: ", b.Res.Findings, b.Inv.Path))
	}
	conn, err := f.Connector(b.Inv)
	if err != nil {
		return nil, err
	}
	ds := make([]deploy.Desired, 0, len(b.Res.Configs)+len(b.Inv.Removed))
	for _, r := range b.Res.Configs {
		ds = append(ds, deploy.DesiredFor(r))
	}
	// Nodes marked remove = true leave in a deploy of the whole cluster.
	if len(f.Global.Limit) == 0 {
		for _, n := range b.Inv.Removed {
			ds = append(ds, deploy.Desired{Node: n, Remove: true})
		}
	}
	plan := deploy.Read(ctx, deploy.Env{Inventory: b.Inv, Getenv: f.Sys.Getenv, Connect: conn.Connect, Reader: f.FleetReader(), Parallel: f.Global.Parallel, Observe: rollout.AcrossFor(b.Inv).Observe}, ds, opts)
	return &planned{inv: b.Inv, conn: conn, plan: plan}, nil
}

// printPlan shows each node's diff and what applying it takes (text), or
// with -o json one "plan" event per node when events is set (a deploy;
// a diff puts the nodes in its document).
func printPlan(f *cmdutil.Factory, plan *deploy.Plan, events bool) {
	if f.JSON() {
		if events {
			for _, p := range plan.Nodes {
				f.Event("plan", p)
			}
		}
		return
	}
	w := f.Sys.Stdout
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
			view.PrefixLines(w, "  ", p.Diff)
			for _, u := range p.Units {
				view.PrefixLines(w, "  ", u.Diff)
			}
		}
	}
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
	case len(plan.MembersDown) > 0 && len(plan.Joining) == 0:
		fmt.Fprintf(w, "%s down: the cluster (%s up) knows it as a member, not a new node\n", strings.Join(plan.MembersDown, ", "), strings.Join(plan.Formation.Members, ", "))
	case len(plan.Joining) > 0:
		verb := "join"
		if len(plan.Joining) == 1 {
			verb = "joins"
		}
		fmt.Fprintf(w, "%s %s the cluster of %s: the members take the new routes first, then the new nodes start\n", strings.Join(plan.Joining, ", "), verb, strings.Join(plan.Formation.Members, ", "))
	}
}

// planErrors reports the nodes that could not be read (exit 1) and, when
// nothing else failed, the nodes whose running state is unknown (exit 1:
// the plan cannot promise they are current).
func planErrors(f *cmdutil.Factory, plan *deploy.Plan, prefix string) error {
	var failed, unknown []string
	for _, p := range plan.Nodes {
		switch {
		case p.Error != "":
			failed = append(failed, p.Node)
			if !f.JSON() {
				fmt.Fprintf(f.Sys.Stderr, "natsops: %s\n", remote.OneLine(p.Node, errors.New(p.Error)))
			}
		case p.Unknown != "" && !p.Changed:
			unknown = append(unknown, p.Node)
		}
	}
	switch {
	case len(failed) > 0:
		return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("%scould not read %s", prefix, strings.Join(failed, ", ")))
	case len(unknown) > 0:
		return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("cannot tell whether the server on %s runs its config: natsops status shows why; natsops restart --node NAME --force starts a node that is down", strings.Join(unknown, ", ")))
	}
	return nil
}

// finish says what the rollout applied to each node (text) and words a
// failure in deploy's terms.
func (o *Options) finish(plan *deploy.Plan, rep *rollout.Report, err error) error {
	if !o.JSON() {
		byNode := map[string]*deploy.NodePlan{}
		for _, p := range plan.Nodes {
			byNode[p.Node] = p
		}
		for _, name := range rep.Done {
			fmt.Fprintf(o.Sys.Stdout, "%s: %s\n", name, applied(byNode[name], rep.Applied[name]))
		}
		if err == nil && rep.StoppedAfter > 0 {
			fmt.Fprintln(o.Sys.Stdout, o.Canary.Stopped(rep, "deploy", "deployed"))
		}
	}
	if err == nil {
		return nil
	}
	var re *rollout.Error
	if errors.As(err, &re) && re.Node != "" {
		return fmt.Errorf("%w\ndeploy stopped at %s; deployed: %s; nodes after it were not touched: %s", err, re.Node, text.OrNone(rep.Done), text.OrNone(without(rep.NotDone, re.Node)))
	}
	if errors.As(err, &re) && re.Kind == rollout.KindPreflight {
		var rs []string
		for _, r := range re.Reasons {
			rs = append(rs, r.Node+": "+r.Msg)
		}
		restarts := plan.Restarts()
		need := "need"
		if restarts == 1 {
			need = "needs"
		}
		return &worded{err: err, msg: fmt.Sprintf("nothing deployed: %s %s a restart, and the cluster is not healthy:\n  %s\nfix the cluster first (natsops status), or pass --force", text.Plural(restarts, "node"), need, strings.Join(rs, "\n  "))}
	}
	return err
}

// worded is a rollout error in deploy's words; it unwraps to the
// rollout's error (which gives the exit code).
type worded struct {
	msg string
	err error
}

func (w *worded) Error() string { return w.msg }
func (w *worded) Unwrap() error { return w.err }

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

// changedNames are the nodes whose config changes.
func changedNames(plan *deploy.Plan) []string {
	out := []string{}
	for _, p := range plan.Nodes {
		if p.Changed {
			out = append(out, p.Node)
		}
	}
	return out
}
