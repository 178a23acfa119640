// Package evacuate is `natsops evacuate --node N`: every JetStream
// replica N holds moves to the other nodes before maintenance
// ($JS.API.SERVER.EVACUATE, nats-server v2.15.2), under the cluster's
// rollout lock, refused when the others have no room, and confirmed by
// every node's /jsz: N holds no replica and every stream it held is led
// elsewhere with its replicas current.
package evacuate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/rollout"
)

// Options are evacuate's flags.
type Options struct {
	*cmdutil.Factory
	Ctx  context.Context
	Node string
	Op   rolloutcmd.OpFlags
}

// DefaultTimeout bounds the wait for the streams to move (an R1 stream's
// data is copied to its new server first).
const DefaultTimeout = 10 * time.Minute

// NewCmd is `natsops evacuate`; runF, when set, gets the options instead
// of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "evacuate",
		Short: "Move every JetStream replica off a node before maintenance",
		Long: `Move every stream and consumer replica the node holds to the other nodes
($JS.API.SERVER.EVACUATE, what natscli's "nats server raft peer-evacuate"
asks), and wait until every node's /jsz shows the node holding no
replica and every stream it held led elsewhere, as many replicas as it
asks for, each current. An R1 stream's messages are copied to its new
server before the node lets it go: no acknowledged message is lost.

Refused before anything moves when the other JetStream nodes serving
cannot hold a stream's replicas (one per server): add a node first, or
lower the stream's replicas. The node keeps serving clients (restart it
with natsops restart --node N, whose lame duck moves them); the streams
stay where they moved after it is back.

It speaks to the cluster as the inventory's system account user
(server.auth.system_user). Like a restart it takes the cluster's rollout
lock, confirms on a terminal (--yes otherwise), refuses an unhealthy
cluster (--force goes on), and is recorded in natsops history. A
nats-server that does not know the request (older than the v2.15.2
natsops pins) is said so and nothing moves.

Exit codes: 0 the node holds no replica, 3 the cluster is not healthy,
there is no room, or the streams did not settle within --timeout, 1 any
other failure (no system user, lock held, the server refused), 5
cancelled, 64 bad flags.`,
		Example: `  natsops evacuate --node n2 --yes
  natsops evacuate --node n2 --yes && natsops restart --node n2 --allow-unavailable --yes`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if o.Node == "" {
				return cmdutil.Usage("--node NAME is required: the node to evacuate")
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
	fl.StringVar(&o.Node, "node", "", "the node whose JetStream replicas move away (required)")
	o.Op.Register(fl, DefaultTimeout, "go on although the cluster is not healthy (the warning says what was skipped)")
	return cmd
}

// Result is evacuate's -o json result.
type Result struct {
	*rolloutcmd.Result
	Node string `json:"node"`
	// Moved are the streams (account/stream) the node held.
	Moved []string `json:"moved"`
}

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
		return cmdutil.Usage("--node %s: JetStream is not enabled on it in %s: it holds no replica to move", o.Node, inv.Path)
	}
	admin, err := rolloutcmd.Admin(o.Factory, inv, "evacuate")
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := o.Confirm("move every JetStream replica off " + o.Node); err != nil {
		return err
	}
	res := &Result{Node: o.Node, Moved: []string{}}
	rep, err := rolloutcmd.Operate(o.Ctx, o.Factory, rolloutcmd.Spec{
		Command: "evacuate", Inv: inv, Nodes: []*cluster.Node{n}, Conn: conn, Options: o.Op.Options(),
		Plan: []audit.Planned{{Node: o.Node, Change: "evacuate"}},
		Edit: func(cfg *rollout.Config) { cfg.Operation = "evacuate " + o.Node },
	}, rollout.GateHealthy, func(ctx context.Context, snaps fleet.Snapshots, event func(rollout.Event)) error {
		return o.evacuate(ctx, inv, admin, snaps, event, res)
	})
	res.Result = rolloutcmd.NewResult(inv, rep, err)
	o.Result(res)
	if err == nil && !o.JSON() {
		if len(res.Moved) == 0 {
			fmt.Fprintf(o.Sys.Stdout, "%s holds no JetStream replica; nothing moved\n", o.Node)
		} else {
			fmt.Fprintf(o.Sys.Stdout, "%s holds no JetStream replica: moved %s\n", o.Node, strings.Join(res.Moved, ", "))
		}
	}
	return err
}

// evacuate judges the room, asks the meta leader, and waits until the
// node is empty and the streams it held are current elsewhere.
func (o *Options) evacuate(ctx context.Context, inv *cluster.Inventory, admin *natsadmin.Client, snaps fleet.Snapshots, event func(rollout.Event), res *Result) error {
	clock := o.Sys.Clock
	t := clock.Now()
	read := o.FleetReader()
	streams, errs := readStreams(ctx, read, inv)
	if err := errs[o.Node]; err != nil {
		return fmt.Errorf("%s: its streams could not be read (/jsz): %w; nothing was moved", o.Node, err)
	}
	held := health.HeldBy(streams[o.Node])
	for _, h := range held {
		res.Moved = append(res.Moved, h.Asset())
	}
	if len(held) == 0 {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultSkipped, t, clock.Now(), "holds no JetStream replica")
		return nil
	}
	var others []string
	for _, m := range inv.Nodes {
		if m.Name != o.Node && m.JetStreamEnabled() && snaps[m.Name] != nil && snaps[m.Name].Varz != nil {
			others = append(others, m.Name)
		}
	}
	if rs := health.EvacuateRoom(o.Node, others, held); len(rs) > 0 {
		for _, r := range rs {
			rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%s (%s)", r.Msg, r.Code)
		}
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, fmt.Errorf("%s cannot be evacuated, nothing was moved:\n  %s", o.Node, reasons(rs)))
	}
	nc, err := rolloutcmd.Connect(admin, "evacuate")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := natsadmin.Evacuate(ctx, nc, o.Node); err != nil {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%v", err)
		if errors.Is(err, natsadmin.ErrUnsupported) {
			return fmt.Errorf("%s: %w%s; nothing was moved", o.Node, err, rolloutcmd.LeaderVersion(snaps))
		}
		return fmt.Errorf("the meta leader refused to evacuate %s: %w%s", o.Node, err, rolloutcmd.LeaderVersion(snaps))
	}
	rolloutcmd.OpEvent(event, o.Node, rollout.ResultOK, t, clock.Now(), "asked the meta leader to move %s off %s (%s)", text.Plural(len(held), "stream"), o.Node, natsadmin.SubjectEvacuate)
	t = clock.Now()
	err = rolloutcmd.Wait(ctx, o.Factory, o.Node, "no replica on "+o.Node+", every stream it held current elsewhere", o.Op.Poll, o.Op.Timeout, func() string {
		streams, errs := readStreams(ctx, read, inv)
		rs := health.Evacuated(health.EvacuateInput{Node: o.Node, Held: held, Streams: streams, Errs: errs})
		if len(rs) == 0 {
			return ""
		}
		return health.Brief(o.Node, rs)
	})
	if err != nil {
		rolloutcmd.OpEvent(event, o.Node, rollout.ResultFailed, t, clock.Now(), "%v", err)
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, fmt.Errorf("%w; the moves the meta leader started go on (natsops status shows the streams)", err))
	}
	rolloutcmd.OpEvent(event, o.Node, rollout.ResultOK, t, clock.Now(), "holds no replica; %s led elsewhere, every replica current", strings.Join(res.Moved, ", "))
	return nil
}

func readStreams(ctx context.Context, read fleet.Reader, inv *cluster.Inventory) (map[string]*monitor.JSDetail, map[string]error) {
	streams, errs := map[string]*monitor.JSDetail{}, map[string]error{}
	for name, x := range read.Streams(ctx, inv.Nodes) {
		if x.Err != nil {
			errs[name] = x.Err
			continue
		}
		streams[name] = x.Detail
	}
	return streams, errs
}

func reasons(rs []health.Reason) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Msg
	}
	return strings.Join(out, "\n  ")
}
