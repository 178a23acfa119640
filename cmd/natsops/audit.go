package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/rolloutaudit"
)

// auditRun is a mutating run's audit trail: who runs what, the steps as
// they happen (teed from the printer), written at the end on every node
// and here (pkg/audit).
type auditRun struct {
	g       *globals
	run     audit.Run
	trail   audit.Trail
	sink    audit.Sink
	secrets []string
	plan    []audit.Planned
}

// owner is user@host: the rollout lock's owner and the audit's who.
func owner(conn *connector) string {
	host, _ := os.Hostname()
	return conn.env.User + "@" + host
}

// startAudit begins the trail of a run that changes nodes (after its
// confirmation): inv's nodes are where the node records go.
func (g *globals) startAudit(command string, inv *cluster.Inventory, nodes []*cluster.Node, conn *connector) *auditRun {
	host, _ := os.Hostname()
	from := host
	if v, ok := g.sys.getenv("SSH_CONNECTION"); ok && v != "" {
		from += " (ssh from " + strings.Fields(v)[0] + ")"
	}
	v := buildVersion()
	version := v.Version
	if v.Commit != "" {
		version += " " + v.Commit[:min(12, len(v.Commit))]
	}
	digest, err := audit.Digest(inv.Path)
	if err != nil {
		digest = "(unreadable: " + err.Error() + ")"
	}
	byName := map[string]*cluster.Node{}
	for _, n := range inv.WithRemoved().Nodes {
		byName[n.Name] = n
	}
	a := &auditRun{g: g, run: audit.Run{
		ID: audit.NewID(), Command: command, Who: owner(conn), From: from, Version: version,
		Inventory: inv.Path, InventorySHA256: digest, Started: time.Now(), Nodes: nodeNames(nodes),
	}, secrets: audit.Secrets(inv, g.sys.getenv)}
	a.sink = audit.Sink{Nodes: byName, Connect: conn.connect, Local: audit.LocalPath(g.sys.getenv, conn.env.Home), Parallel: g.parallel}
	return a
}

// tee records every rollout event before printing it.
func (a *auditRun) tee(print func(rollout.Event)) func(rollout.Event) {
	if a == nil {
		return print
	}
	return func(e rollout.Event) {
		a.trail.Add(rolloutaudit.Step(e))
		print(e)
	}
}

// endRollout writes the records of a rollout (restart, deploy): its id
// is the run's.
func (a *auditRun) endRollout(ctx context.Context, rep *rollout.Report, err error) {
	if a == nil {
		return
	}
	if rep != nil && rep.ID != "" {
		a.run.ID = rep.ID
	}
	res := rolloutaudit.Result(rep, err)
	res.Plan = a.plan
	a.end(ctx, res, err)
}

// end writes the records; one warning per record not written, and the
// exit code stays the run's.
func (a *auditRun) end(ctx context.Context, res audit.Result, err error) {
	res.End = time.Now()
	res.Steps = a.trail.Steps()
	if res.Outcome == "" {
		res.Outcome = audit.Outcome(err)
	}
	res.ExitCode = exitCode(err)
	var ee *exitError
	switch {
	case res.ExitCode == ExitRestart:
		// tune applied and verified; the running server needs a restart.
		res.Outcome = audit.OK
	case errors.As(err, &ee) && ee.err == nil:
		// Already reported in full (-o json); the code says what ended it.
	case err != nil:
		res.Error = err.Error()
	}
	local, nodes := audit.Build(a.run, res, a.secrets)
	for _, w := range a.sink.Write(ctx, local, nodes) {
		fmt.Fprintf(a.g.sys.stderr, "natsops: warning: %s\n", w)
	}
}

// endHosts writes the records of a run over hosts (tune, provision:
// hostrun.Run.Audit): its plan and per host the steps that ran.
func (a *auditRun) endHosts(ctx context.Context, res audit.Result, err error) {
	a.trail.Add(res.Steps...)
	a.end(ctx, res, err)
}
