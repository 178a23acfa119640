// Package rebalance is `natsops rebalance`: even the client connections
// across a cluster's nodes (pkg/rebalance does the work; the shared run
// with the lock, the health gate and the audit is rolloutcmd.Rebalance,
// which restart and deploy --rebalance use too).
package rebalance

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/rolloutcmd"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/rebalance"
)

// Options are rebalance's flags.
type Options struct {
	*cmdutil.Factory
	Ctx         context.Context
	Within      float64
	Rounds      int
	MaxPerRound int
	Timeout     time.Duration
	DryRun      bool
	BreakLock   bool
}

// NewCmd is `natsops rebalance`; runF, when set, gets the options instead
// of the run (tests of flag parsing).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	within := "20%"
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Even the client connections across a cluster's nodes",
		Long: `Even the client connections across the cluster's nodes, as natscli's
nats server cluster balance does: after a rolling restart clients pile onto
the nodes restarted first (nats-server#1556: 24/24/24 became 45/27/0).

natsops lists every node's client connections as the inventory's system
account user ($SYS.REQ.SERVER.PING.CONNZ: clients only, never routes, leaf
nodes or the system account's own), closes the excess on the nodes above
even ($SYS.REQ.SERVER.<id>.KICK, the most recent connections first), waits
until the closed clients are back (they reconnect to another URL of their
list, or one the cluster advertised), reads again, and goes another round
until every node holds even ±--within, or --rounds are used. The spread is
shown before and after.

Clients move only when it is safe: under the cluster lock a rollout takes
(a restart or deploy waits for it; --break-lock removes a dead run's
lock), and only while every node is healthy (a node down or not ready:
refused, exit 3, nothing closed). A cluster of one node, or without
clients, has nothing to do. Clients that come back to the node they were
closed on know no other URL: natsops stops and says so. Closing a client
on request needs nats-server 2.10.0 or later (nats-server#4298): older
nodes are refused up front, naming their version. The inventory
needs server.auth.system_user and system_password (or
server.auth.system_account naming an [accounts] table with a user).

Exit codes: 0 within the tolerance (or nothing to do), 3 not within it
after the rounds (or the clients came back to the same node), a node not
healthy or not answering, 1 any other failure
(no system user, a node older than 2.10.0, lock held, connection), 5 cancelled or interrupted,
64 a bad flag.`,
		Example: `  natsops rebalance --dry-run
  natsops rebalance --yes
  natsops rebalance --within 10% --rounds 8 --yes
  natsops restart --rebalance --yes      # the same at the end of a rolling restart`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			w, err := rolloutcmd.ParsePercent("within", within)
			if err != nil {
				return err
			}
			o.Within = w
			if len(o.Global.Limit) > 0 {
				return cmdutil.Usage("rebalance evens a whole cluster: pick it with --cluster NAME, not --limit")
			}
			if o.Rounds < 1 {
				return cmdutil.Usage("--rounds must be at least 1, not %d", o.Rounds)
			}
			if o.MaxPerRound < 1 {
				return cmdutil.Usage("--max-per-round must be at least 1, not %d", o.MaxPerRound)
			}
			if o.Timeout <= 0 {
				return cmdutil.Usage("--timeout must be a positive duration (like 30s), not %s", o.Timeout)
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	fl := cmd.Flags()
	fl.StringVar(&within, "within", within, "the tolerance: every node's clients within this percentage of even")
	fl.IntVar(&o.Rounds, "rounds", rebalance.DefaultRounds, "at most this many rounds of closing and reading again")
	fl.IntVar(&o.MaxPerRound, "max-per-round", rebalance.DefaultMaxPerRound, "close at most this many connections in one round (the reconnect burst the other nodes take)")
	fl.DurationVar(&o.Timeout, "timeout", rebalance.DefaultTimeout, "per round: how long the closed clients may take to be back")
	fl.BoolVar(&o.DryRun, "dry-run", false, "read the spread and say what the first round would close; close nothing")
	fl.BoolVar(&o.BreakLock, "break-lock", false, "remove another run's cluster lock first (only when that run is dead)")
	return cmd
}

func run(o *Options) error {
	return rolloutcmd.EachCluster(o.Ctx, o.Factory, "rebalance", o.Global.Limit, false, func(f *cmdutil.Factory) (any, error) {
		inv, err := f.Load()
		if err != nil {
			return nil, err
		}
		conn, err := f.Connector(inv)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if !o.DryRun {
			if err := f.Confirm("close client connections on the busiest nodes of cluster " + inv.ClusterName() + " so they reconnect to the others"); err != nil {
				return nil, err
			}
		}
		res, err := rolloutcmd.Rebalance(o.Ctx, f, rolloutcmd.RebalanceSpec{
			Command: "rebalance", Inv: inv, Conn: conn, BreakLock: o.BreakLock, Audit: true,
			Options: rebalance.Options{Within: o.Within, Rounds: o.Rounds, MaxPerRound: o.MaxPerRound, Timeout: o.Timeout, DryRun: o.DryRun},
		})
		if res == nil {
			return nil, err
		}
		return res, err
	})
}
