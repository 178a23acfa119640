package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
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
	diffOnly  bool
	reloadTTL time.Duration
	// interrupted: Ctrl-C stopped the deploy (exit 5).
	interrupted bool

	inv  *cluster.Inventory
	conn *connector
}

func newDeployCmd(g *globals) *cobra.Command {
	o := &deployOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Install every node's rendered config and reload it, one node at a time",
		Long: `Render and validate every selected node's config, fetch the deployed one,
and show a unified diff (secrets masked). Then, one node at a time: upload
next to the target, validate with the node's own nats-server -t, swap
atomically keeping a backup, and reload (SIGHUP) when every changed option
is reloadable. A reload is confirmed by /varz config_load_time moving and
the node healthy; if not, the backup is restored and reloaded, and deploy
stops there.

--restart auto (default) reloads what can be reloaded and restarts the
nodes whose change a reload cannot apply (ports, cluster listen, lame duck,
JetStream store, websocket, log rotation), one at a time through the same
health-gated rollout as natsops restart (the JetStream meta leader last).
A node that does not come back with its new config gets its previous one
back and is restarted with it, and the deploy stops there. --restart never
only installs; always restarts every changed node. --check prints the diffs
and exits 2 when anything would change.

A config installed but never loaded (--restart never, or an interrupted
deploy: the file is newer than /varz config_load_time) is still pending.

Upgrades: service.binary names the nats-server to run. When the version it
reports (--version) differs from the running one (/varz), the node needs
a restart; configs are validated with that binary. With systemd and an
absolute service.binary, natsops owns the unit's ExecStart through the
drop-in /etc/systemd/system/<unit>.d/91-natsops-exec.conf
(ExecStart=<binary> -c <config_path>), installed before the restart and
restored on rollback. Changing service.binary and running deploy is a
rolling upgrade, one node at a time, the meta leader last.

Ctrl-C stops between nodes (exit 5); a node being restarted is brought back
first.`,
		Example: `  natsops deploy --check
  natsops deploy --yes
  natsops deploy --restart never --limit nats-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "show the diffs and exit 2 if anything would change; change nothing")
	f.StringVar(&o.restart, "restart", "auto", "auto (reload when possible, else restart), never (install only), always (restart)")
	f.StringVar(&o.mode, "mode", "graceful", "how restarts stop a node: graceful (lame duck) or fast")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long a restarted node may take to be back")
	f.BoolVar(&o.force, "force", false, "restart even when the cluster is not healthy before a node (says what it skipped)")
	f.StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	f.DurationVar(&o.reloadTTL, "reload-timeout", 15*time.Second, "how long a reload may take to show in /varz")
	return cmd
}

func newDiffCmd(g *globals) *cobra.Command {
	o := &deployOptions{globals: g, diffOnly: true, restart: "never"}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show rendered vs deployed configs, secrets masked",
		Long: `Render every selected node's config and show a unified diff against the
config deployed on the node (secrets masked on both sides; a changed secret
is said to differ without its value), and whether applying it would need a
reload or a restart. Changes nothing; deploy --check is the same with exit
code 2 when anything differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	return cmd
}

// nodeDeploy is one node's deploy, as reported (-o json: one per line).
type nodeDeploy struct {
	Node    string `json:"node"`
	Path    string `json:"path"`
	Changed bool   `json:"changed"`
	Diff    string `json:"diff,omitempty"`
	// Pending: the file is current but the running server has not loaded
	// it (installed after its last load).
	Pending bool          `json:"pending,omitempty"`
	Change  config.Change `json:"change"`
	Applied string        `json:"applied,omitempty"` // installed, reloaded
	Error   string        `json:"error,omitempty"`
	// Unit is the systemd drop-in that sets the unit's ExecStart
	// (service.binary set to an absolute path), when it differs.
	Unit *unitDropIn `json:"unit,omitempty"`
	// Binary: the version service.binary reports on the node, and the
	// one running (/varz); a difference needs a restart (an upgrade).
	Binary   binaryVersions `json:"binary"`
	rendered *config.Rendered
	host     remote.Host
	// restorable: the backup next to Path is what ran before this deploy.
	restorable bool
}

type unitDropIn struct {
	Path    string `json:"path"`
	Diff    string `json:"diff"`
	existed bool
	data    []byte
}

type binaryVersions struct {
	Path      string `json:"path"`
	Installed string `json:"installed"`
	Running   string `json:"running,omitempty"`
}

// upgrade reports whether the running server is another version than the
// one service.binary would start.
func (b binaryVersions) upgrade() bool {
	return b.Running != "" && b.Installed != b.Running
}

func (o *deployOptions) run(ctx context.Context) error {
	if o.restart != "auto" && o.restart != "never" && o.restart != "always" {
		return usageError("--restart must be auto, never or always")
	}
	if _, err := service.ParseMode(o.mode); err != nil {
		return usageError("%v", err)
	}
	b, err := o.globals.build(o.build)
	if err != nil {
		return err
	}
	if !b.res.OK(config.SevError) {
		printFindings(o.sys.stderr, style{on: o.color()}, b.res.Findings)
		return withCode(ExitInvalid, fmt.Errorf("nothing deployed: %s in %s", plural(config.Count(b.res.Findings, config.SevError), "error"), b.inv.Path))
	}
	conn, err := o.connector(b.inv)
	if err != nil {
		return err
	}
	o.inv, o.conn = b.inv, conn
	ds := make([]*nodeDeploy, len(b.res.Configs))
	for i, r := range b.res.Configs {
		ds[i] = &nodeDeploy{Node: r.Node.Name, Path: r.Node.Service.ConfigPath, rendered: r}
	}
	defer func() {
		for _, d := range ds {
			if d.host != nil {
				d.host.Close()
			}
		}
	}()
	rs := remote.Each(ctx, ds, o.parallel, func(d *nodeDeploy) string { return d.Node }, func(ctx context.Context, d *nodeDeploy) error {
		h, err := conn.connect(ctx, d.rendered.Node)
		if err != nil {
			return err
		}
		d.host = h
		deployed, exists, err := remote.ReadFile(ctx, h, d.Path, true)
		if err != nil {
			return err
		}
		d.Diff = config.Diff(d.Node, d.Path, deployed, exists, d.rendered.Config)
		d.Changed = d.Diff != ""
		if d.Changed {
			d.Change = config.Classify(deployed, d.rendered.Config)
		}
		return o.readService(ctx, d)
	})
	for i, r := range rs {
		if r.Err != nil {
			ds[i].Error = oneLine(r.Name, r.Err)
		}
	}
	o.printPlan(ds)
	if failedDeploys(ds) > 0 {
		return o.finish(ds)
	}
	pending, restarts := 0, 0
	for _, d := range ds {
		if d.Changed {
			pending++
			if o.needsRestart(d) {
				restarts++
			}
		}
	}
	if o.diffOnly {
		return o.finish(ds)
	}
	if o.check {
		if err := o.finish(ds); err != nil {
			return err
		}
		if pending > 0 {
			return reported(ExitPending)
		}
		return nil
	}
	if pending == 0 {
		return o.finish(ds)
	}
	if restarts > 0 && !o.force {
		// Restarts are gated on a healthy cluster: check before anything
		// is installed, so a refusal leaves every node as it was.
		if f := settledFleet(ctx, b.inv, o.parallel); !f.Healthy {
			var rs []string
			for _, r := range f.Reasons {
				rs = append(rs, r.Node+": "+r.Msg)
			}
			return withCode(ExitUnhealthy, fmt.Errorf("nothing deployed: %s need a restart, and the cluster is not healthy:\n  %s\nfix the cluster first (natsops status), or pass --force", plural(restarts, "node"), strings.Join(rs, "\n  ")))
		}
	}
	what := fmt.Sprintf("deploy to %s", plural(pending, "node"))
	if restarts > 0 {
		what += fmt.Sprintf(" (%s restarted one at a time)", plural(restarts, "node"))
		// The JetStream meta leader goes last, as in natsops restart.
		ds = leaderLast(ctx, b.inv, ds, o.parallel)
	}
	if err := o.confirm(what); err != nil {
		return err
	}
	// Ctrl-C stops between nodes; a node being restarted is still
	// started (the rollout finishes its stop -> start).
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// One node at a time: a bad config stops the rollout at that node.
	for _, d := range ds {
		if !d.Changed {
			continue
		}
		if ctx.Err() != nil {
			d.Error = d.Node + ": interrupted before this node: nothing changed on it; rerun natsops deploy to continue"
			o.interrupted = true
			break
		}
		if err := o.apply(ctx, d); err != nil {
			d.Error = oneLine(d.Node, err)
			o.interrupted = ctx.Err() != nil
			break
		}
	}
	return o.finish(ds)
}

// readService reads what runs the server on the node: the version
// service.binary reports (and the running one from /varz), and the
// ExecStart drop-in when natsops manages it. A binary or drop-in change
// joins the node's change: a new version needs a restart, a drop-in alone
// a daemon-reload.
func (o *deployOptions) readService(ctx context.Context, d *nodeDeploy) error {
	n := d.rendered.Node
	res, err := d.host.Run(ctx, remote.Command(n.Service.Binary, "--version")+" 2>&1", remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	d.Binary = binaryVersions{Path: n.Service.Binary, Installed: service.ParseServerVersion(string(res.Stdout))}
	if !res.OK() || d.Binary.Installed == "" {
		return fmt.Errorf("service.binary %s does not run on the node (%s --version: exit %d: %s): set service.binary to the nats-server installed there", n.Service.Binary, n.Service.Binary, res.ExitCode, strings.TrimSpace(string(res.Stdout)))
	}
	v, err := (&monitor.Client{}).Varz(ctx, monitorURL(n))
	if err == nil {
		d.Binary.Running = v.Version
		if !d.Changed {
			if err := o.readPending(ctx, d, v); err != nil {
				return err
			}
		}
	}
	if d.Binary.upgrade() {
		d.Changed = true
		d.Change.Keys = append(d.Change.Keys, "service.binary")
		d.Change.NeedsRestart = true
		d.Change.RestartReason = append(d.Change.RestartReason, fmt.Sprintf("nats-server %s runs, %s is %s", d.Binary.Running, n.Service.Binary, d.Binary.Installed))
	}
	file, data, ok := service.ExecDropIn(n)
	if !ok {
		return nil
	}
	old, exists, err := remote.ReadFile(ctx, d.host, file, true)
	if err != nil {
		return err
	}
	if exists && bytes.Equal(old, data) {
		return nil
	}
	d.Unit = &unitDropIn{Path: file, Diff: config.Diff(d.Node, file, old, exists, data), existed: exists, data: data}
	d.Changed = true
	d.Change.Keys = append(d.Change.Keys, "ExecStart")
	return nil
}

// readPending finds a config that is installed but not loaded: written
// (by deploy --restart never, or a deploy interrupted before its restart)
// after the running server last loaded its config. Both times are the
// node's clock. The change is what differs from the backup deploy kept.
func (o *deployOptions) readPending(ctx context.Context, d *nodeDeploy, v *monitor.Varz) error {
	res, err := d.host.Run(ctx, remote.Command("stat", "-c", "%Y", d.Path), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	secs, perr := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64)
	if !res.OK() || perr != nil || !time.Unix(secs, 0).After(v.ConfigLoadTime.Add(time.Second)) {
		return nil
	}
	prev, exists, err := remote.ReadFile(ctx, d.host, d.Path+remote.BackupSuffix, true)
	if err != nil {
		return err
	}
	if exists {
		d.Change = config.Classify(prev, d.rendered.Config)
	}
	if !exists || len(d.Change.Keys) == 0 {
		d.Change = config.Change{Keys: []string{"(whole file)"}, NeedsRestart: true, RestartReason: []string{"the running server never loaded this config"}}
	}
	d.Changed, d.Pending = true, true
	return nil
}

// installUnit writes the ExecStart drop-in and reloads systemd's units.
func (o *deployOptions) installUnit(ctx context.Context, d *nodeDeploy) error {
	if d.Unit == nil {
		return nil
	}
	if _, err := remote.Install(ctx, d.host, remote.File{Path: d.Unit.Path, Data: d.Unit.data, Mode: 0o644}, true); err != nil {
		return err
	}
	return o.daemonReload(ctx, d)
}

// restoreConfig puts the previous config back, when this deploy replaced
// it; an unchanged file stays (its backup may be older than what runs).
func (o *deployOptions) restoreConfig(ctx context.Context, d *nodeDeploy) error {
	if !d.restorable {
		return nil
	}
	return remote.RestoreBackup(ctx, d.host, d.Path, true)
}

// restoreUnit puts the previous drop-in back (or removes a new one).
func (o *deployOptions) restoreUnit(ctx context.Context, d *nodeDeploy) error {
	if d.Unit == nil {
		return nil
	}
	if d.Unit.existed {
		if err := remote.RestoreBackup(ctx, d.host, d.Unit.Path, true); err != nil {
			return err
		}
	} else if res, err := d.host.Run(ctx, remote.Command("rm", "-f", d.Unit.Path), remote.RunOptions{Sudo: true}); err != nil {
		return err
	} else if err := res.Err(d.host, "remove "+d.Unit.Path); err != nil {
		return err
	}
	return o.daemonReload(ctx, d)
}

func (o *deployOptions) daemonReload(ctx context.Context, d *nodeDeploy) error {
	res, err := d.host.Run(ctx, "systemctl daemon-reload", remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	return res.Err(d.host, "systemctl daemon-reload")
}

// apply installs one node's config (validated by the node's own binary)
// and reloads it when asked; a reload that does not take is rolled back.
func (o *deployOptions) apply(ctx context.Context, d *nodeDeploy) error {
	n := d.rendered.Node
	mc := &monitor.Client{}
	before, err := mc.Varz(ctx, monitorURL(n))
	if err != nil && o.restart != "never" {
		// Without a reading before, a reload cannot be confirmed: touch
		// nothing.
		return fmt.Errorf("monitoring endpoint does not answer (%v); nothing installed: check the node with natsops status, or install only with --restart never", err)
	}
	owner := ""
	if n.Connection == "ssh" {
		owner = "root:" + n.Service.User
	}
	f := remote.File{Path: d.Path, Data: d.rendered.Config, Mode: 0o640, Owner: owner,
		Validate: remote.Quote(n.Service.Binary) + " -t -c {} >/dev/null"}
	wrote, err := remote.Install(ctx, d.host, f, true)
	if err != nil {
		return fmt.Errorf("%w (the config on the node is unchanged)", err)
	}
	// The backup is this deploy's previous config only if it wrote the
	// file (or, pending, the one the server was running).
	d.restorable = wrote || d.Pending
	if !wrote && d.Binary.upgrade() {
		// Install validates only a file it replaces: the config as it
		// stands must pass the new binary's -t before that binary starts.
		res, err := d.host.Run(ctx, remote.Command(n.Service.Binary, "-t", "-c", d.Path)+" >/dev/null", remote.RunOptions{Sudo: true})
		if err != nil {
			return err
		}
		if err := res.Err(d.host, "validate "+d.Path+" with "+n.Service.Binary); err != nil {
			return fmt.Errorf("%w (nothing changed on the node)", err)
		}
	}
	if err := o.installUnit(ctx, d); err != nil {
		if rerr := o.restoreConfig(ctx, d); rerr != nil {
			return fmt.Errorf("%w; restoring the previous config failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the previous config was restored)", err)
	}
	d.Applied = "installed"
	if o.restart == "never" {
		return nil
	}
	if d.Diff == "" && !d.Pending && !o.needsRestart(d) {
		// Only the drop-in changed, to what the running server already
		// is: systemd's units were reloaded, nothing else to apply.
		d.Applied = "unit updated"
		return nil
	}
	if o.needsRestart(d) {
		return o.restartNode(ctx, d)
	}
	if err := o.reload(ctx, d, mc, before); err != nil {
		// Put the previous config back and reload it: the node keeps
		// serving what it had.
		rerr := o.restoreConfig(ctx, d)
		if rerr == nil {
			rerr = o.restoreUnit(ctx, d)
		}
		if rerr == nil {
			_, _ = d.host.Run(ctx, reloadCommand(n), remote.RunOptions{Sudo: true})
			return fmt.Errorf("%w; the previous config was restored%s", err, lastLog(ctx, d.host, n))
		}
		return fmt.Errorf("%w; restoring the previous config failed too: %v", err, rerr)
	}
	d.Applied = "reloaded"
	return nil
}

func (o *deployOptions) needsRestart(d *nodeDeploy) bool {
	return o.restart == "always" || (o.restart == "auto" && d.Change.NeedsRestart)
}

// restartNode restarts one node through the rollout engine (lock,
// preflight, stop, start, wait until it is back and its peers see it). If
// it does not come back, its previous config is restored and it is
// restarted with that, so the cluster keeps what it had.
func (o *deployOptions) restartNode(ctx context.Context, d *nodeDeploy) error {
	n := d.rendered.Node
	mode, _ := service.ParseMode(o.mode)
	events := (&restartOptions{globals: o.globals}).printEvent(time.Now())
	_, err := rollout.Run(ctx, o.rolloutConfig(o.inv, []*cluster.Node{n}, o.conn, rollout.Options{Mode: mode, Force: o.force, NodeTimeout: o.timeout}, events))
	if err == nil {
		d.Applied = "restarted"
		return nil
	}
	var re *rollout.Error
	if errors.As(err, &re) && re.Kind == rollout.KindPreflight {
		return fmt.Errorf("%w; the new config is installed but not running: fix the cluster and rerun, or deploy --force", err)
	}
	if re != nil && re.Kind == rollout.KindInterrupted {
		// Not a failure of the new config: keep it, say where it stands.
		return fmt.Errorf("interrupted: %s was started with its new config but not confirmed back; check it with natsops status, then rerun natsops deploy", n.Name)
	}
	if rerr := o.restoreConfig(ctx, d); rerr != nil {
		return fmt.Errorf("%w; restoring the previous config failed too: %v", err, rerr)
	}
	if rerr := o.restoreUnit(ctx, d); rerr != nil {
		return fmt.Errorf("%w; restoring the previous unit drop-in failed: %v", err, rerr)
	}
	if _, rerr := rollout.Run(ctx, o.rolloutConfig(o.inv, []*cluster.Node{n}, o.conn, rollout.Options{Mode: service.Fast, Force: true, NodeTimeout: o.timeout}, events)); rerr != nil {
		return fmt.Errorf("%w; the previous config was restored but the node did not come back with it either: %v", err, rerr)
	}
	d.Applied = "rolled back"
	// The rollout's own advice (rerun natsops restart) does not apply: the
	// node runs its previous config and the fix is in the inventory.
	what := err.Error()
	if re != nil && re.Kind == rollout.KindNode {
		what = re.Summary()
	}
	return fmt.Errorf("%s\nrolled back: %s runs its previous config again and serves; the nodes after it were not touched. Fix the inventory (the server's own error is in the log lines above), check it with natsops deploy --check, then rerun natsops deploy", what, n.Name)
}

// settledFleet reads the cluster until it is healthy, for at most
// rollout.DefaultSettle: a replica a moment behind under traffic is no
// reason to refuse, one that stays behind is.
func settledFleet(ctx context.Context, inv *cluster.Inventory, parallel int) *fleet {
	deadline := time.Now().Add(rollout.DefaultSettle)
	f := readFleet(ctx, inv, inv.Nodes, parallel)
	for !f.Healthy && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return f
		case <-time.After(250 * time.Millisecond):
		}
		f = readFleet(ctx, inv, inv.Nodes, parallel)
	}
	return f
}

// leaderLast moves the node the cluster reports as JetStream meta leader to
// the end, so it is restarted last.
func leaderLast(ctx context.Context, inv *cluster.Inventory, ds []*nodeDeploy, parallel int) []*nodeDeploy {
	leader := health.MetaLeader(readFleet(ctx, inv, inv.Nodes, parallel).snaps)
	out := make([]*nodeDeploy, 0, len(ds))
	var last *nodeDeploy
	for _, d := range ds {
		if d.Node == leader {
			last = d
			continue
		}
		out = append(out, d)
	}
	if last != nil {
		out = append(out, last)
	}
	return out
}

func reloadCommand(n *cluster.Node) string {
	if n.Service.Manager == "systemd" {
		return remote.Command("systemctl", "kill", "-s", "HUP", "--kill-whom=main", n.Service.Unit)
	}
	return remote.Command(n.Service.Binary, "--signal", "reload="+*n.Server.PidFile)
}

// reload signals the node and waits until /varz shows the new config load
// time and the node is healthy again.
func (o *deployOptions) reload(ctx context.Context, d *nodeDeploy, mc *monitor.Client, before *monitor.Varz) error {
	n := d.rendered.Node
	res, err := d.host.Run(ctx, reloadCommand(n), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	if err := res.Err(d.host, "reload"); err != nil {
		return err
	}
	deadline := time.Now().Add(o.reloadTTL)
	last := "no answer"
	for time.Now().Before(deadline) {
		s := mc.Snapshot(ctx, monitorURL(n))
		switch {
		case s.Varz == nil:
			last = fmt.Sprint(s.Err())
		case !s.Varz.ConfigLoadTime.After(before.ConfigLoadTime):
			last = "config_load_time did not move: nats-server refused the new config (\"Failed to reload server configuration\")"
		case s.Varz.Start != before.Start:
			return errors.New("the server restarted instead of reloading")
		default:
			rs := health.NodeReady(n.Name, s, health.Expect{})
			if len(rs) == 0 {
				return nil
			}
			last = rs[0].Msg
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("reload not confirmed within %s: %s", o.reloadTTL, last)
}

// lastLog returns the node's last server log lines, for failure messages,
// read the way the rollout reads them (journal, or the log file in pidfile
// mode).
func lastLog(ctx context.Context, h remote.Host, n *cluster.Node) string {
	res, err := h.Run(ctx, service.CommandsFor(n, service.Fast).Logs, remote.RunOptions{Sudo: true})
	if err != nil || !res.OK() {
		return ""
	}
	return "\n  last log lines on " + n.Name + ":\n    " + strings.ReplaceAll(strings.TrimSpace(string(res.Stdout)), "\n", "\n    ")
}

func failedDeploys(ds []*nodeDeploy) int {
	n := 0
	for _, d := range ds {
		if d.Error != "" {
			n++
		}
	}
	return n
}

func (o *deployOptions) printPlan(ds []*nodeDeploy) {
	if o.json() {
		return
	}
	w := o.sys.stdout
	for _, d := range ds {
		switch {
		case d.Error != "":
		case !d.Changed:
			fmt.Fprintf(w, "%s: %s up to date\n", d.Node, d.Path)
		case d.Pending:
			fmt.Fprintf(w, "%s: %s is installed but not loaded by the running server: %s\n", d.Node, d.Path, d.Change)
		default:
			fmt.Fprintf(w, "%s: %s: %s\n", d.Node, d.Path, d.Change)
			prefixLines(w, "  ", d.Diff)
			if d.Unit != nil {
				prefixLines(w, "  ", d.Unit.Diff)
			}
		}
	}
}

func (o *deployOptions) finish(ds []*nodeDeploy) error {
	if o.json() {
		for _, d := range ds {
			writeJSONLine(o.sys.stdout, d)
		}
	} else {
		for _, d := range ds {
			switch {
			case d.Error != "":
				fmt.Fprintf(o.sys.stderr, "natsops: %s\n", d.Error)
			case d.Applied != "":
				fmt.Fprintf(o.sys.stdout, "%s: %s\n", d.Node, d.Applied)
			}
		}
	}
	if n := failedDeploys(ds); n > 0 {
		var names []string
		for _, d := range ds {
			if d.Error != "" {
				names = append(names, d.Node)
			}
		}
		what := "nothing deployed"
		for _, d := range ds {
			if d.Applied != "" || (d.Error != "" && d.Changed) {
				what = "nodes after it were not touched"
			}
		}
		if o.interrupted {
			return &exitError{code: ExitCancelled, err: fmt.Errorf("interrupted at %s; %s", strings.Join(names, ", "), what), silent: o.json()}
		}
		return &exitError{code: ExitError, err: fmt.Errorf("%s failed: %s; %s", plural(n, "node"), strings.Join(names, ", "), what), silent: o.json()}
	}
	return nil
}
