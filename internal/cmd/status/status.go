// Package status is `natsops status`: the fleet table from every node's
// monitoring endpoint and host (pkg/probe reads, pkg/health judges).
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/health"
)

// Options are status's flags.
type Options struct {
	*cmdutil.Factory
	Ctx         context.Context
	Watch       bool
	Interval    time.Duration
	MonitorOnly bool
}

// NewCmd is `natsops status`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Fleet table from every node's monitoring endpoint (:8222)",
		Long: `Read /healthz, /varz, /routez and /jsz of every selected node and show one
line per node: reachable, version, uptime, connections / capacity, open
file descriptors / the server's soft limit (FDS), slow consumers, routes
seen / expected (distinct peers, not pooled connections), JetStream role,
memory and CPU. Below the table, every reason the cluster is not healthy,
with the node it concerns.

At the same time each selected node's host is read (over SSH, or locally
for connection = "local"; at most 5s per host, one round trip): the
running nats-server's pid and state, its open descriptors (/proc/<pid>/fd)
and "Max open files" (/proc/<pid>/limits), and the ports it listens on.
The capacity is min(max_connections, fd soft limit - reserve), the reserve
being the descriptors the server needs for itself (listeners, routes,
JetStream, monitoring; the larger of an estimate from the inventory and
what it holds beyond its clients now, plus a margin). When :8222 does not
answer, the host says why: out-of-fds, not-running, stopped (SIGSTOP) or
wrong-port, with the fix. A host that cannot be read shows why in FDS,
e.g. -(ssh: ...), -(no pid); --monitor-only reads no host at all.

With an inventory of several clusters ([[clusters]]), every cluster (or the
--cluster ones) is shown in turn, and a cluster is healthy only when each
node has its outbound gateway to every other cluster, the cluster inbound
ones from all their servers, and its leaf connections are up
(gateway-outbound-missing, gateway-inbound-missing, leaf-missing).

Exit codes: 0 healthy, 3 not healthy.`,
		Example: `  natsops status
  natsops status --watch
  natsops status -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if o.Watch && (o.JSON() || !o.Sys.IsTTY(o.Sys.Stdout)) {
				return cmdutil.Usage("--watch needs a terminal and text output")
			}
			if o.Watch && o.Interval <= 0 {
				return cmdutil.Usage("--interval must be positive, not %s", o.Interval)
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().BoolVar(&o.Watch, "watch", false, "refresh in place until interrupted (terminal only)")
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "refresh interval for --watch")
	cmd.Flags().BoolVar(&o.MonitorOnly, "monitor-only", false, "read only the monitoring endpoints: no SSH, no host readings (FDS shows -(monitor-only))")
	return cmd
}

func run(o *Options) error {
	scope, err := o.SelectScope()
	if err != nil {
		return err
	}
	ctx := o.Ctx
	if o.Watch {
		// Ctrl-C ends the watch, exit 0.
		var stop context.CancelFunc
		ctx, stop = o.Sys.Interruptible(ctx)
		defer stop()
	}
	conns := make([]*cmdutil.Connector, len(scope))
	for i, s := range scope {
		conn, closeConn, err := o.HostConnector(s.Inv, o.MonitorOnly)
		if err != nil {
			return err
		}
		defer closeConn()
		conns[i] = conn
	}
	for {
		fs := make([]*health.Fleet, len(scope))
		healthy := true
		for i, s := range scope {
			fs[i] = o.ReadFleet(ctx, s.Inv, s.Nodes, conns[i])
			healthy = healthy && fs[i].Healthy
		}
		if o.Watch {
			fmt.Fprint(o.Sys.Stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(o.Sys.Stdout, "natsops status — %s — every %s (Ctrl-C to stop)\n\n", o.Sys.Clock.Now().Format("15:04:05"), o.Interval)
		}
		switch {
		case o.JSON() && len(fs) == 1:
			o.Result(fs[0])
		case o.JSON():
			o.Result(map[string]any{"inventory": fs[0].Inventory, "healthy": healthy, "clusters": fs})
		default:
			view.PrintClusters(o.Sys.Stdout, o.Style(), fs)
		}
		if !o.Watch {
			if !healthy {
				return cmdutil.Outcome(cmdutil.ExitUnhealthy)
			}
			return nil
		}
		if o.Sys.Clock.Sleep(ctx, o.Interval) != nil {
			return nil
		}
	}
}
