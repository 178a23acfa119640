// Package rescue is `natsops rescue --lost A,B`: a JetStream meta group
// that lost its quorum for good is rescued ($JS.API.META.RESCUE, ADR-61,
// nats-server v2.15.2): the surviving servers lower their quorum for 5
// minutes, elect a leader, and the lost servers are removed from the
// group so that the survivors' quorum stands. Refused unless the
// operator names exactly the nodes that do not answer.
package rescue

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// Options are rescue's flags.
type Options struct {
	*cmdutil.Factory
	Ctx  context.Context
	Lost []string
	Op   rolloutcmd.OpFlags
}

// DefaultTimeout bounds the wait for a leader and for each removal.
const DefaultTimeout = time.Minute

// NewCmd is `natsops rescue`; runF, when set, gets the options instead
// of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "rescue",
		Short: "Rescue a JetStream meta group that lost its quorum, naming the nodes lost (--lost)",
		Long: `Rescue a JetStream meta group that lost its quorum for good (a majority of
its servers dead): the surviving servers lower the quorum they need
($JS.API.META.RESCUE, ADR-61; nats-server v2.15.2 holds it for 5
minutes), elect a leader among themselves, and natsops removes the lost
servers from the group ($JS.API.SERVER.REMOVE), after which the
survivors' own quorum stands. Replace the lost nodes afterwards as any
dead node (docs/incidents.md: natsops provision, natsops deploy).

Unsafe by nature: what only the lost servers had is gone (entries they
committed that the survivors did not have). So it is refused, nothing
changed, unless --lost names exactly the nodes whose monitoring port does
not answer, and while the survivors still have a meta leader (no quorum
lost: use natsops replace for one dead node). The new quorum is a
majority of the survivors.

It takes the cluster's rollout lock on the hosts that answer, confirms on
a terminal (--yes otherwise), speaks as the inventory's system account
user, and is recorded in natsops history.

Exit codes: 0 rescued (a leader, the lost servers removed), 3 refused
(--lost does not match, a leader exists) or no leader within --timeout,
1 any other failure (no system user, lock held, a server refused), 5
cancelled, 64 bad flags.`,
		Example: `  natsops rescue --lost n2,n3 --yes`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if len(o.Lost) == 0 {
				return cmdutil.Usage("--lost NODE[,NODE] is required: the nodes that are gone for good")
			}
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
	fl.StringSliceVar(&o.Lost, "lost", nil, "the nodes that are gone for good, comma-separated: must be exactly those that do not answer (required)")
	o.Op.Register(fl, DefaultTimeout, "")
	return cmd
}

// Result is rescue's -o json result.
type Result struct {
	*rolloutcmd.Result
	Lost      []string                `json:"lost"`
	Survivors []string                `json:"survivors"`
	Quorum    int                     `json:"quorum"`
	Replies   []natsadmin.RescueReply `json:"replies"`
	Leader    string                  `json:"leader"`
	Removed   []string                `json:"removed"`
}

func run(o *Options) error {
	inv, err := o.Load()
	if err != nil {
		return err
	}
	for _, l := range o.Lost {
		if _, err := rolloutcmd.NodeNamed(inv, "--lost", l); err != nil {
			return err
		}
	}
	admin, err := rolloutcmd.Admin(o.Factory, inv, "rescue")
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := o.Confirm("lower the JetStream meta quorum on the survivors and remove " + strings.Join(o.Lost, ", ") + " from the meta group (unsafe: what only they had is lost)"); err != nil {
		return err
	}
	res := &Result{Lost: o.Lost, Survivors: []string{}, Removed: []string{}, Replies: []natsadmin.RescueReply{}}
	var survivors []*cluster.Node
	for _, n := range inv.Nodes {
		if !slices.Contains(o.Lost, n.Name) {
			survivors = append(survivors, n)
		}
	}
	opts := o.Op.Options()
	rep, err := rolloutcmd.Operate(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "rescue", Inv: inv, Nodes: survivors, Conn: conn, Options: opts,
		Plan: []audit.Planned{{Node: strings.Join(o.Lost, ","), Change: "meta-rescue"}},
		Edit: func(cfg *rollout.Config) { cfg.Operation = "rescue " + strings.Join(o.Lost, ",") },
	}, rollout.GateNone, func(ctx context.Context, snaps fleet.Snapshots, event func(rollout.Event)) error {
		return o.rescue(ctx, inv, admin, snaps, event, res)
	})
	res.Result = rolloutcmd.NewResult(inv, rep, err)
	o.Result(res)
	if err == nil && !o.JSON() {
		fmt.Fprintf(o.Sys.Stdout, "the JetStream meta group runs on %s, led by %s; removed %s. Replace them: docs/incidents.md\n", strings.Join(res.Survivors, ", "), res.Leader, strings.Join(res.Removed, ", "))
	}
	return err
}

// Check is why a rescue of lost cannot go on from snaps (nil: it can):
// lost must be exactly the nodes that do not answer, and the others must
// have no meta leader. Pure.
func Check(inv *cluster.Inventory, lost []string, snaps fleet.Snapshots) (survivors []string, err error) {
	var silent []string
	for _, n := range inv.Nodes {
		if s := snaps[n.Name]; s == nil || s.Varz == nil {
			silent = append(silent, n.Name)
		} else {
			survivors = append(survivors, n.Name)
		}
	}
	want := slices.Clone(lost)
	slices.Sort(want)
	if !slices.Equal(want, silent) {
		return survivors, fmt.Errorf("--lost %s does not match the nodes that do not answer on their monitoring port (%s): name exactly those; nothing was changed", strings.Join(lost, ","), orNone(silent))
	}
	if len(survivors) == 0 {
		return survivors, fmt.Errorf("no node answers: there is nothing to rescue from; nothing was changed")
	}
	surv := fleet.Snapshots{}
	for _, s := range survivors {
		surv[s] = snaps[s]
	}
	if l := health.MetaLeader(surv); l != "" {
		return survivors, fmt.Errorf("the meta group has a leader (%s): its quorum is not lost, so there is nothing to rescue; replace a dead node with natsops replace --node NAME; nothing was changed", l)
	}
	return survivors, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// rescue lowers the survivors' quorum, waits for their leader, and
// removes the lost servers.
func (o *Options) rescue(ctx context.Context, inv *cluster.Inventory, admin *natsadmin.Client, snaps fleet.Snapshots, event func(rollout.Event), res *Result) error {
	clock := o.Sys.Clock
	t := clock.Now()
	survivors, err := Check(inv, o.Lost, snaps)
	res.Survivors = append(res.Survivors, survivors...)
	if err != nil {
		rolloutcmd.OpEvent(event, "", rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	res.Quorum = len(survivors)/2 + 1
	nc, err := rolloutcmd.Connect(admin, "rescue")
	if err != nil {
		return err
	}
	defer nc.Close()
	replies, err := natsadmin.Rescue(ctx, nc, res.Quorum, len(survivors), 5*time.Second)
	res.Replies = append(res.Replies, replies...)
	if err != nil {
		rolloutcmd.OpEvent(event, "", rollout.ResultFailed, t, clock.Now(), "%v", err)
		return err
	}
	var refused []string
	for _, r := range replies {
		if r.Error != nil {
			refused = append(refused, r.Server+": "+r.Error.Error())
			rolloutcmd.OpEvent(event, r.Server, rollout.ResultFailed, t, clock.Now(), "refused the rescue: %v", r.Error)
			continue
		}
		rolloutcmd.OpEvent(event, r.Server, rollout.ResultOK, t, clock.Now(), "meta quorum lowered %d -> %d for 5 minutes (%s)", r.PrevQuorum, r.NewQuorum, natsadmin.SubjectRescue)
	}
	if len(refused) > 0 {
		return fmt.Errorf("the rescue was refused by %s; the others lowered their quorum for 5 minutes and it restores itself then", strings.Join(refused, "; "))
	}
	t = clock.Now()
	read := o.FleetReader()
	var surv []*cluster.Node
	for _, n := range inv.Nodes {
		if slices.Contains(survivors, n.Name) {
			surv = append(surv, n)
		}
	}
	err = rolloutcmd.Wait(ctx, o.Factory, "", "a meta leader among "+strings.Join(survivors, ", "), o.Op.Poll, o.Op.Timeout, func() string {
		l := health.MetaLeader(read.Read(ctx, surv, nil))
		if l == "" {
			return "no leader agreed on"
		}
		res.Leader = l
		return ""
	})
	if err != nil {
		rolloutcmd.OpEvent(event, "", rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	rolloutcmd.OpEvent(event, res.Leader, rollout.ResultOK, t, clock.Now(), "leads the JetStream meta group")
	for _, l := range o.Lost {
		t = clock.Now()
		if err := natsadmin.Remove(ctx, nc, l); err != nil {
			rolloutcmd.OpEvent(event, l, rollout.ResultFailed, t, clock.Now(), "%v", err)
			return fmt.Errorf("the meta leader %s refused to remove %s: %w (the lowered quorum lasts 5 minutes: rerun natsops rescue --lost %s within them)", res.Leader, l, err, strings.Join(o.Lost, ","))
		}
		res.Removed = append(res.Removed, l)
		rolloutcmd.OpEvent(event, l, rollout.ResultOK, t, clock.Now(), "removed from the JetStream meta group (%s)", natsadmin.SubjectRemove)
	}
	return nil
}
