package rolloutcmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/rebalance"
	"github.com/natsops/natsops/pkg/rollout"
)

// StepRebalance is the audit's and the step events' name of a rebalance
// round.
const StepRebalance = "rebalance"

// ParsePercent reads a tolerance like "20%" or "20" as a fraction (0.2):
// above 0, below 100.
func ParsePercent(flag, s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v <= 0 || v >= 100 {
		return 0, cmdutil.Usage("--%s must be a percentage above 0 and below 100 (like 20%%), not %q", flag, s)
	}
	return v / 100, nil
}

// RebalanceSpec is one cluster's rebalance as a command asks for it.
type RebalanceSpec struct {
	// Command is the natsops command that runs it (the audit's).
	Command   string
	Inv       *cluster.Inventory
	Conn      *cmdutil.Connector
	Options   rebalance.Options
	BreakLock bool
	// Audit: record the run (rebalance itself; a rollout's --rebalance
	// is in its rollout's record).
	Audit bool
}

// Rebalance evens one cluster's client connections (pkg/rebalance) under
// the cluster lock, refused while a node is not healthy, as the
// inventory's system account user; the spread before and after, each
// round, and the progress of every wait are printed. A dry run takes no
// lock and closes nothing. The result is returned on every path that read
// the cluster.
func Rebalance(ctx context.Context, f *cmdutil.Factory, s RebalanceSpec) (*rebalance.Result, error) {
	ctx, stop := f.Sys.Interruptible(ctx)
	defer stop()
	inv := s.Inv
	admin, err := Admin(f, inv, s.Command)
	if err != nil {
		return nil, err
	}
	var trail *cmdutil.AuditRun
	var steps []audit.Step
	if !s.Options.DryRun && s.Audit {
		trail = f.StartAudit(s.Command, inv, inv.Nodes, s.Conn)
		trail.Plan = []audit.Planned{{Change: StepRebalance, Items: []string{fmt.Sprintf("within %g%%", withinPercent(s.Options))}}}
	}
	start := f.Sys.Clock.Now()
	var res *rebalance.Result
	defer func() {
		if trail != nil {
			trail.EndHosts(ctx, audit.Result{Order: cmdutil.NodeNames(inv.Nodes), Steps: steps}, err)
		}
	}()
	step := func(result, format string, args ...any) {
		e := rollout.Event{Step: StepRebalance, Result: result, ElapsedMS: f.Sys.Clock.Now().Sub(start).Milliseconds(), Detail: fmt.Sprintf(format, args...)}
		steps = append(steps, rollout.AuditStep(e))
	}
	if !s.Options.DryRun {
		var held *rollout.Holding
		held, err = rollout.Hold(ctx, rollout.HoldConfig{
			Inventory: inv, Connect: s.Conn.Connect, Clock: f.Sys.Clock, ID: lockID(trail, f),
			Owner: f.Owner(s.Conn), PID: f.Sys.PID, ProcessAlive: f.Sys.ProcessAlive, ProcessStart: f.Sys.ProcessStart,
			Command: s.Command, BreakLock: s.BreakLock,
		})
		if err != nil {
			step(rollout.ResultFailed, "lock: %v", err)
			return nil, err
		}
		defer held.Release()
		step(rollout.ResultOK, "lock: %s", held.Where())
	}
	check := func(ctx context.Context) error {
		fl := f.ReadFleet(ctx, inv, inv.Nodes, nil)
		if fl.Healthy {
			return nil
		}
		var b strings.Builder
		b.WriteString("the cluster is not healthy, so no client was moved (a closed client could land on a node that is not serving):")
		for _, r := range fl.Reasons {
			b.WriteString("\n  " + r.String())
		}
		b.WriteString("\nfix these first (natsops status shows the cluster), then rerun natsops rebalance")
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, errors.New(b.String()))
	}
	if err = check(ctx); err != nil {
		step(rollout.ResultFailed, "%v", err)
		return nil, err
	}
	nc, cerr := admin.Connect("natsops " + s.Command)
	if cerr != nil {
		err = cerr
		return nil, err
	}
	defer nc.Close()
	conns := &natsadmin.Conns{NC: nc, Cluster: inv.ClusterName(), Expect: len(inv.Nodes), Wait: 2 * time.Second}
	res, err = rebalance.Run(ctx, rebalance.Config{
		Nodes: cmdutil.NodeNames(inv.Nodes), Admin: conns, System: systemAccount(inv), Check: check, Clock: f.Sys.Clock, Progress: f.Progress(),
		Options: s.Options,
		Events: func(r rebalance.Round) {
			step(rollout.ResultOK, "round %d: %s", r.Round, roundLine(r))
			if f.JSON() {
				f.Event("round", r)
				return
			}
			fmt.Fprintf(f.Sys.Stdout, "round %d: %s\n", r.Round, roundLine(r))
		},
	})
	if res != nil {
		step(outcome(err), "before %s; after %s", rebalance.Counts(res.Before), rebalance.Counts(res.After))
		if !f.JSON() {
			printSpread(f, res, s.Options.DryRun)
		}
	}
	var nr *rebalance.NotReachedError
	var me *rebalance.MissingError
	var nm *rebalance.NoMoveError
	var ve *rebalance.VersionError
	switch {
	case errors.As(err, &ve):
		err = cmdutil.WithCode(cmdutil.ExitError, err)
	case errors.As(err, &nr), errors.As(err, &me), errors.As(err, &nm):
		err = cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	return res, err
}

func outcome(err error) string {
	if err != nil {
		return rollout.ResultFailed
	}
	return rollout.ResultOK
}

func withinPercent(o rebalance.Options) float64 {
	if o.Within <= 0 {
		return rebalance.DefaultWithin * 100
	}
	return o.Within * 100
}

// lockID is the audit run's id (the lock names the run history shows),
// or a pid-based one.
func lockID(trail *cmdutil.AuditRun, f *cmdutil.Factory) string {
	if trail != nil {
		return trail.Run.ID
	}
	return fmt.Sprintf("rebalance-%d", f.Sys.PID)
}

// roundLine is "closed 15 on n1, 15 on n2; back after 1.2s: n1 37, ...".
func roundLine(r rebalance.Round) string {
	var closed []string
	for _, n := range text.SortedKeys(r.Closed) {
		closed = append(closed, fmt.Sprintf("%d on %s", r.Closed[n], n))
	}
	if r.Planned {
		return "would close " + text.OrNone(closed) + " (dry run: nothing closed)"
	}
	line := "closed " + text.OrNone(closed)
	if r.Failed > 0 {
		line += fmt.Sprintf(" (%d already gone)", r.Failed)
	}
	switch {
	case r.Back:
		line += fmt.Sprintf("; back after %s", (time.Duration(r.WaitedMS) * time.Millisecond).Round(100*time.Millisecond))
	default:
		line += fmt.Sprintf("; %d not back after %s", r.Missing, (time.Duration(r.WaitedMS) * time.Millisecond).Round(100*time.Millisecond))
	}
	return line + ": " + rebalance.Counts(r.After)
}

// printSpread is the text summary: the spread before and after.
func printSpread(f *cmdutil.Factory, r *rebalance.Result, dry bool) {
	w := f.Sys.Stdout
	if r.Nothing != "" {
		fmt.Fprintf(w, "rebalance: nothing to do: %s\n", r.Nothing)
		return
	}
	fmt.Fprintf(w, "clients before: %s\n", rebalance.Counts(r.Before))
	if dry {
		fmt.Fprintf(w, "dry run: target %d–%d clients per node (±%g%%); nothing was closed\n", r.Low, r.High, r.Within)
		return
	}
	if len(r.Rounds) == 0 {
		return // refused before any round: nothing changed
	}
	fmt.Fprintf(w, "clients after:  %s\n", rebalance.Counts(r.After))
	if r.Reached {
		fmt.Fprintf(w, "every node within ±%g%% of even (%d–%d); closed %s in %s\n", r.Within, r.Low, r.High, text.Plural(r.Closed, "connection"), text.Plural(len(r.Rounds), "round"))
	}
}

// AfterRollout is --rebalance: once a rollout of inv's nodes is done (no
// error, not a dry run, not stopped by --stop-after), the clients are
// evened across the cluster (its own lock, health gate and audit record)
// and res says how; otherwise nothing happens and err is returned as it
// came. A rebalance that fails says the rollout itself is done.
func (c *Flags) AfterRollout(ctx context.Context, f *cmdutil.Factory, inv *cluster.Inventory, conn *cmdutil.Connector, rep *rollout.Report, res *Result, dry bool, err error) error {
	if !c.Rebalance || err != nil || dry || rep == nil || rep.StoppedAfter > 0 {
		return err
	}
	if !f.JSON() {
		fmt.Fprintln(f.Sys.Stdout, "rebalancing the clients (--rebalance)")
	}
	rb, err := Rebalance(ctx, f, RebalanceSpec{Command: "rebalance", Inv: inv, Conn: conn, Audit: true})
	if res != nil {
		res.Rebalance = rb
	}
	if err != nil {
		return cmdutil.WithCode(cmdutil.ExitCode(nil, err), fmt.Errorf("the rollout is done, but --rebalance did not finish: %w", err))
	}
	return nil
}

// systemAccount is the cluster's server.auth.system_account ("" when the
// default $SYS).
func systemAccount(inv *cluster.Inventory) string {
	if a := inv.Nodes[0].Server.Auth.SystemAccount; a != nil {
		return *a
	}
	return ""
}
