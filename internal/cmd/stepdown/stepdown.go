// Package stepdown is `natsops step-down`: the JetStream meta leader
// steps down, to a named node when asked ($JS.API.META.LEADER.STEPDOWN
// with a preferred placement, nats-server v2.15.2), under the cluster's
// rollout lock, confirmed by every node's /jsz.
package stepdown

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/rollout"
)

// Options are step-down's flags.
type Options struct {
	*cmdutil.Factory
	Ctx context.Context
	// To is the node that should lead ("" : any other).
	To string
	Op rolloutcmd.OpFlags
}

// DefaultTimeout bounds the wait for the new leader.
const DefaultTimeout = 30 * time.Second

// NewCmd is `natsops step-down`; runF, when set, gets the options
// instead of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "step-down",
		Short: "Move the JetStream meta leader to another node (--to NODE), confirmed by /jsz",
		Long: `Ask the JetStream meta leader to step down ($JS.API.META.LEADER.STEPDOWN,
as natscli's "nats server cluster step-down"), to --to NODE when named
(the request's preferred placement), and wait until every node's /jsz
names the new leader.

It speaks to the cluster as the inventory's system account user
(server.auth.system_user). Like a restart it takes the cluster's rollout
lock (so no rollout runs meanwhile), confirms on a terminal (--yes
otherwise), refuses an unhealthy cluster (--force goes on), and is
recorded in natsops history. A --to that already leads changes nothing.

Exit codes: 0 the leader moved (or --to already led), 3 the cluster is not
healthy or the new leader was not confirmed within --timeout, 1 any other
failure (no system user, lock held, the server refused the node named),
5 cancelled, 64 bad flags (an unknown --to).`,
		Example: `  natsops step-down --yes
  natsops step-down --to n2 --yes
  natsops step-down --to n2 -o json --yes`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.Op.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	fl := cmd.Flags()
	fl.StringVar(&o.To, "to", "", "the node that should lead the JetStream meta group (default: any other)")
	o.Op.Register(fl, DefaultTimeout, "go on although the cluster is not healthy (the warning says what was skipped)")
	return cmd
}

// Result is step-down's -o json result.
type Result struct {
	*rolloutcmd.Result
	Previous string `json:"previous"`
	Leader   string `json:"leader"`
	To       string `json:"to,omitempty"`
}

func run(o *Options) error {
	inv, err := o.Load()
	if err != nil {
		return err
	}
	target := inv.Nodes
	if o.To != "" {
		n, err := rolloutcmd.NodeNamed(inv, "--to", o.To)
		if err != nil {
			return err
		}
		target = []*cluster.Node{n}
	}
	admin, err := rolloutcmd.Admin(o.Factory, inv, "step-down")
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	what := "move the JetStream meta leader to another node"
	if o.To != "" {
		what = "move the JetStream meta leader to " + o.To
	}
	if err := o.Confirm(what); err != nil {
		return err
	}
	res := &Result{To: o.To}
	rep, err := rolloutcmd.Operate(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "step-down", Inv: inv, Nodes: target, Conn: conn, Options: o.Op.Options(),
		Plan: []audit.Planned{{Node: o.To, Change: "step-down"}},
		Edit: func(cfg *rollout.Config) { cfg.Operation = "step-down " + o.To },
	}, rollout.GateHealthy, func(ctx context.Context, snaps fleet.Snapshots, event func(rollout.Event)) error {
		return o.stepDown(ctx, inv, admin, snaps, event, res)
	})
	res.Result = rolloutcmd.NewResult(inv, rep, err)
	o.Result(res)
	if err == nil && !o.JSON() {
		if res.Previous == res.Leader {
			fmt.Fprintf(o.Sys.Stdout, "%s already leads the JetStream meta group; nothing changed\n", res.Leader)
		} else {
			fmt.Fprintf(o.Sys.Stdout, "the JetStream meta leader moved from %s to %s\n", res.Previous, res.Leader)
		}
	}
	return err
}

// stepDown asks the leader to step down and waits until every node's
// /jsz names the new one (o.To when named).
func (o *Options) stepDown(ctx context.Context, inv *cluster.Inventory, admin *natsadmin.Client, snaps fleet.Snapshots, event func(rollout.Event), res *Result) error {
	clock := o.Sys.Clock
	t := clock.Now()
	prev := health.MetaLeader(snaps)
	res.Previous, res.Leader = prev, prev
	if prev == "" {
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, fmt.Errorf("the nodes do not agree on a JetStream meta leader (natsops status shows each node's view); nothing was changed"))
	}
	if o.To != "" && o.To == prev {
		rolloutcmd.OpEvent(event, o.To, rollout.ResultSkipped, t, clock.Now(), "%s already leads the JetStream meta group", prev)
		return nil
	}
	nc, err := rolloutcmd.Connect(admin, "step-down")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := natsadmin.StepDown(ctx, nc, o.To); err != nil {
		rolloutcmd.OpEvent(event, prev, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return fmt.Errorf("step-down of %s refused: %w%s; nothing was changed", prev, err, rolloutcmd.LeaderVersion(snaps))
	}
	rolloutcmd.OpEvent(event, prev, rollout.ResultOK, t, clock.Now(), "asked %s to step down (%s)", prev, natsadmin.SubjectStepDown)
	t = clock.Now()
	want := "a leader other than " + prev
	if o.To != "" {
		want = o.To + " leading"
	}
	read := o.FleetReader()
	err = rolloutcmd.Wait(ctx, o.Factory, "", "every node's /jsz showing "+want, o.Op.Poll, o.Op.Timeout, func() string {
		s := read.Read(ctx, inv.Nodes, nil)
		l := health.MetaLeader(s)
		for _, n := range inv.Nodes {
			if s[n.Name] == nil || s[n.Name].Jsz == nil || s[n.Name].Jsz.Meta == nil {
				return n.Name + ": no /jsz meta_cluster"
			}
		}
		switch {
		case l == "":
			return "the nodes do not agree on a leader yet"
		case l == prev || (o.To != "" && l != o.To):
			return "leader " + l
		}
		res.Leader = l
		return ""
	})
	if err != nil {
		rolloutcmd.OpEvent(event, o.To, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	rolloutcmd.OpEvent(event, res.Leader, rollout.ResultOK, t, clock.Now(), "%s leads the JetStream meta group (every node's /jsz meta_cluster.leader)", res.Leader)
	return nil
}
