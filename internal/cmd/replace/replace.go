// Package replace is `natsops replace --node N`: the JetStream meta
// group forgets a dead member, so that a new host under the same name
// can join it ($JS.API.SERVER.REMOVE), under the cluster's rollout lock,
// refused while N still serves or the others have no meta quorum. The
// incident runbook (docs/incidents.md) puts it between provisioning the
// new host and the deploy that starts it.
package replace

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
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/rollout"
)

// Options are replace's flags.
type Options struct {
	*cmdutil.Factory
	Ctx  context.Context
	Node string
	Op   rolloutcmd.OpFlags
}

// DefaultTimeout bounds the wait for the meta group to drop the peer.
const DefaultTimeout = time.Minute

// NewCmd is `natsops replace`; runF, when set, gets the options instead
// of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "replace",
		Short: "Take a dead node out of the JetStream meta group so a new host can take its name",
		Long: `Replace a dead node by a new host under the same name: with the inventory's
node pointing at the new host (provisioned: natsops provision --limit N),
replace removes the dead server from the JetStream meta group
($JS.API.SERVER.REMOVE, what "nats server raft peer-remove" sends) and
waits until the meta leader no longer lists it; then natsops deploy
starts the new host, which joins as a new member, and the meta leader
places the replicas the dead node held on it.

nats-server v2.15.2 re-admits a removed name to the meta group only 5
minutes after its removal (server/raft.go peerRemoveTimeoutDefault): the
deploy after it waits that long for the new node (give it --timeout 10m).

Refused (nothing changed) while the node's monitoring port answers as a
running nats-server (it is not dead: use natsops restart --node N), and
when the other nodes have no JetStream meta leader (no quorum, so no
peer can be removed: see "Rescue a meta group that lost quorum" in
docs/incidents.md). The other nodes are gated like a restart's (the node
itself judged absent; --force goes on). It takes the cluster's rollout
lock, confirms on a terminal (--yes otherwise), speaks as the
inventory's system account user, and is recorded in natsops history.

Exit codes: 0 the dead peer is out (or was already), 3 the cluster is not
healthy without it or the meta group has no leader, 1 any other failure
(the node still serves, no system user, lock held, the meta leader
refused), 5 cancelled, 64 bad flags.`,
		Example: `  natsops provision --limit n3 --yes
  natsops replace --node n3 --yes
  natsops deploy --timeout 10m --yes`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if o.Node == "" {
				return cmdutil.Usage("--node NAME is required: the dead node whose new host takes its name")
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
	fl.StringVar(&o.Node, "node", "", "the dead node (the inventory's entry points at its new host) (required)")
	o.Op.Register(fl, DefaultTimeout, "go on although the other nodes are not healthy (the warning says what was skipped)")
	return cmd
}

// Result is replace's -o json result.
type Result struct {
	*rolloutcmd.Result
	Node string `json:"node"`
	// Removed: the meta group dropped the peer (false: it was not a
	// member).
	Removed bool `json:"removed"`
	// Next is the command that starts the new host.
	Next string `json:"next"`
}

// next is the command that starts the new host after the removal.
const next = "natsops deploy --timeout 10m --yes"

func run(o *Options) error {
	inv, err := o.Load()
	if err != nil {
		return err
	}
	n, err := rolloutcmd.NodeNamed(inv, "--node", o.Node)
	if err != nil {
		return err
	}
	if !n.JetStreamEnabled() {
		return cmdutil.Usage("--node %s: JetStream is not enabled on it in %s: there is no meta group membership to remove; natsops deploy starts the new host", o.Node, inv.Path)
	}
	admin, err := rolloutcmd.Admin(o.Factory, inv, "replace")
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := o.Confirm("remove the dead " + o.Node + " from the JetStream meta group"); err != nil {
		return err
	}
	res := &Result{Node: o.Node, Next: next}
	rep, err := rolloutcmd.Operate(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "replace", Inv: inv, Nodes: []*cluster.Node{n}, Conn: conn, Options: o.Op.Options(),
		Plan: []audit.Planned{{Node: o.Node, Change: "peer-remove"}},
		Edit: func(cfg *rollout.Config) {
			cfg.Operation = "replace " + o.Node
			// Judged absent: the gate is the other nodes'.
			cfg.Dead = []string{o.Node}
		},
	}, rollout.GateHealthy, func(ctx context.Context, snaps fleet.Snapshots, event func(rollout.Event)) error {
		return o.replace(ctx, inv, admin, snaps, event, res)
	})
	res.Result = rolloutcmd.NewResult(inv, rep, err)
	o.Result(res)
	if err == nil && !o.JSON() {
		if res.Removed {
			fmt.Fprintf(o.Sys.Stdout, "%s is out of the JetStream meta group; start its new host with: %s\n", o.Node, next)
		} else {
			fmt.Fprintf(o.Sys.Stdout, "%s was not in the JetStream meta group; start its new host with: %s\n", o.Node, next)
		}
	}
	return err
}

// Dead is why node n cannot be replaced from its snapshot s: "" when
// nothing answers as a running nats-server on its monitoring port.
func Dead(name string, s *monitor.Snapshot) string {
	if s == nil || s.Varz == nil {
		return ""
	}
	return fmt.Sprintf("%s answers on its monitoring port as a running nats-server (%s, version %s): it is not dead; restart it with natsops restart --node %s, or stop it first", name, s.Varz.ServerName, s.Varz.Version, name)
}

// replace removes the dead peer and waits until the meta leader no
// longer lists it.
func (o *Options) replace(ctx context.Context, inv *cluster.Inventory, admin *natsadmin.Client, snaps fleet.Snapshots, event func(rollout.Event), res *Result) error {
	clock := o.Sys.Clock
	t := clock.Now()
	if why := Dead(o.Node, snaps[o.Node]); why != "" {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%s", why)
		return fmt.Errorf("%s; nothing was changed", why)
	}
	others := withoutNode(snaps, o.Node)
	leader := health.MetaLeader(others)
	if leader == "" || others[leader] == nil || others[leader].Jsz == nil || others[leader].Jsz.Meta == nil {
		err := fmt.Errorf("the nodes other than %s have no JetStream meta leader (no quorum): a peer removal needs one; see \"Rescue a meta group that lost quorum\" in docs/incidents.md (natsops rescue --lost ...); nothing was changed", o.Node)
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	if !listed(others[leader], o.Node) {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultSkipped, t, clock.Now(), "not in the JetStream meta group (its leader %s does not list it)", leader)
		return nil
	}
	nc, err := rolloutcmd.Connect(admin, "replace")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := natsadmin.Remove(ctx, nc, o.Node); err != nil {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return fmt.Errorf("the meta leader %s refused to remove %s: %w%s", leader, o.Node, err, rolloutcmd.LeaderVersion(others))
	}
	rolloutcmd.OpEvent(event, o.Node, rollout.ResultOK, t, clock.Now(), "asked the meta leader %s to remove %s (%s)", leader, o.Node, natsadmin.SubjectRemove)
	t = clock.Now()
	read := o.FleetReader()
	var rest []*cluster.Node
	for _, m := range inv.Nodes {
		if m.Name != o.Node {
			rest = append(rest, m)
		}
	}
	err = rolloutcmd.Wait(ctx, o.Factory, o.Node, "the meta leader no longer listing "+o.Node, o.Op.Poll, o.Op.Timeout, func() string {
		s := read.Read(ctx, rest, nil)
		l := health.MetaLeader(s)
		switch {
		case l == "" || s[l] == nil || s[l].Jsz == nil || s[l].Jsz.Meta == nil:
			return "no meta leader agreed on"
		case listed(s[l], o.Node):
			return "leader " + l + " still lists " + o.Node
		}
		return ""
	})
	if err != nil {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, err)
	}
	res.Removed = true
	rolloutcmd.OpEvent(event, o.Node, rollout.ResultOK, t, clock.Now(), "out of the JetStream meta group; next: %s", next)
	return nil
}

// withoutNode is snaps less name's.
func withoutNode(snaps fleet.Snapshots, name string) fleet.Snapshots {
	out := fleet.Snapshots{}
	for k, v := range snaps {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// listed: the meta leader's snapshot s lists name as a meta peer.
func listed(s *monitor.Snapshot, name string) bool {
	for _, r := range s.Jsz.Meta.Replicas {
		if r.Name == name {
			return true
		}
	}
	return false
}
