package cmdutil

import (
	"context"
	"strings"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/rollout"
)

// AuditRun is a mutating run's audit trail: who runs what, the steps as
// they happen (teed from the printer), written at the end on every node
// and here (pkg/audit). A nil AuditRun (a dry run) records nothing.
type AuditRun struct {
	f       *Factory
	Run     audit.Run
	trail   audit.Trail
	sink    audit.Sink
	secrets []string
	Plan    []audit.Planned
}

// StartAudit begins the trail of a run that changes nodes (after its
// confirmation): inv's nodes are where the node records go.
func (f *Factory) StartAudit(command string, inv *cluster.Inventory, nodes []*cluster.Node, conn *Connector) *AuditRun {
	from := f.Sys.Hostname()
	if v, ok := f.Sys.Getenv("SSH_CONNECTION"); ok && v != "" {
		from += " (ssh from " + strings.Fields(v)[0] + ")"
	}
	digest, err := audit.Digest(inv.Path)
	if err != nil {
		digest = "(unreadable: " + err.Error() + ")"
	}
	byName := map[string]*cluster.Node{}
	for _, n := range inv.WithRemoved().Nodes {
		byName[n.Name] = n
	}
	a := &AuditRun{f: f, Run: audit.Run{
		ID: audit.NewID(), Command: command, Who: f.Owner(conn), From: from, Version: f.Version().Short(),
		Inventory: inv.Path, InventorySHA256: digest, Started: f.Sys.Clock.Now(), Nodes: NodeNames(nodes),
	}, secrets: audit.Secrets(inv, f.Sys.Getenv)}
	a.sink = audit.Sink{Nodes: byName, Connect: conn.Connect, Local: audit.LocalPath(f.Sys.Getenv, conn.Home()), Parallel: f.Global.Parallel}
	return a
}

// Tee records every rollout event before printing it.
func (a *AuditRun) Tee(print func(rollout.Event)) func(rollout.Event) {
	if a == nil {
		return print
	}
	return func(e rollout.Event) {
		a.trail.Add(rollout.AuditStep(e))
		print(e)
	}
}

// EndRollout writes the records of a rollout (restart, deploy): its id
// is the run's.
func (a *AuditRun) EndRollout(ctx context.Context, rep *rollout.Report, err error) {
	if a == nil {
		return
	}
	if rep != nil && rep.ID != "" {
		a.Run.ID = rep.ID
	}
	res := rollout.AuditResult(rep, err)
	res.Plan = a.Plan
	a.end(ctx, res, err)
}

// EndHosts writes the records of a run over hosts (tune, provision:
// hostrun.Run.Audit): its plan and per host the steps that ran.
func (a *AuditRun) EndHosts(ctx context.Context, res audit.Result, err error) {
	a.trail.Add(res.Steps...)
	a.end(ctx, res, err)
}

// end writes the records; one warning per record not written, and the
// exit code stays the run's.
func (a *AuditRun) end(ctx context.Context, res audit.Result, err error) {
	res.End = a.f.Sys.Clock.Now()
	res.Steps = a.trail.Steps()
	if res.Outcome == "" {
		res.Outcome = audit.Outcome(err)
	}
	res.ExitCode = exitCode(err)
	switch {
	case res.ExitCode == ExitRestart:
		// tune applied and verified; the running server needs a restart.
		res.Outcome = audit.OK
	case err != nil:
		res.Error = message(err)
	}
	local, nodes := audit.Build(a.Run, res, a.secrets)
	for _, w := range a.sink.Write(ctx, local, nodes) {
		a.f.Warn("%s", w)
	}
}
