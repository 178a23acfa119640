// Package tune is `natsops tune`: sysctl, nofile limits and the systemd
// LimitNOFILE drop-in, planned, applied and verified over SSH (pkg/tune).
package tune

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/tune"
)

// Options are tune's flags.
type Options struct {
	*cmdutil.Factory
	Ctx   context.Context
	Check bool
}

// NewCmd is `natsops tune`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Apply sysctl, nofile limits and the systemd LimitNOFILE drop-in over SSH",
		Long: `Bring every selected host's kernel and open-files limits to the inventory's
[tune]: /etc/sysctl.d/90-natsops.conf (loaded at once), limits.d nofile for
the server's user, and a systemd drop-in with LimitNOFILE (then
daemon-reload). Built-in sysctl defaults only raise a host's value; values
in [tune.sysctl] are set exactly.

Each host is read first and a plan is shown; --check stops there. For each
host the running nats-server's open-files limit (/proc/<pid>/limits) is
shown next to the desired [tune] nofile, with the client connections each
allows: min(max_connections, nofile - the descriptors the server needs
for itself, estimated from the inventory). After applying, natsops
verifies sysctl values, the unit's LimitNOFILE and the running
nats-server's /proc/<pid>/limits.

Exit codes: 0 nothing to do or applied, 2 --check found pending changes,
4 the running nats-server still has its old open-files limit and needs a
restart (natsops restart), 1 a host failed (the others are still done).`,
		Example: `  natsops tune --check
  natsops tune --yes --limit 'nats-*'
  natsops tune -o json --check`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
	cmd.Flags().BoolVar(&o.Check, "check", false, "show the plan and exit 2 if changes are pending; change nothing")
	return cmd
}

func run(o *Options) error {
	inv, nodes, err := o.LoadSelected(o.Global.Limit)
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := tune.New(inv, nodes, hostrun.Options{Connect: conn.Connect, Parallel: o.Global.Parallel, Progress: o.Progress()})
	r.Plan(o.Ctx)
	if !o.JSON() {
		o.printPlans(r.Hosts)
	}
	pending, _ := r.Pending()
	if o.Check || pending == 0 {
		return o.finish(r, pending > 0 && o.Check)
	}
	if err := o.Confirm(fmt.Sprintf("apply %s on %s", text.Plural(pending, "change"), text.Plural(r.Ready(), "host"))); err != nil {
		return err
	}
	trail := o.StartAudit("tune", inv, nodes, conn)
	r.Apply(o.Ctx)
	err = o.finish(r, false)
	trail.EndHosts(o.Ctx, r.Audit(), err)
	return err
}

func (o *Options) printPlans(runs []*tune.HostRun) {
	w := o.Sys.Stdout
	for _, r := range runs {
		if r.Error != "" {
			continue // reported with the errors
		}
		for _, n := range append(r.Plan.Notes, r.Notes...) {
			fmt.Fprintf(w, "%s: %s\n", r.Node, n)
		}
		if l := r.Limits; l != nil {
			fmt.Fprintf(w, "%s: %s\n", r.Node, limitsLine(l))
		}
		switch {
		case !r.Plan.Pending():
			fmt.Fprintf(w, "%s: up to date\n", r.Node)
		default:
			fmt.Fprintf(w, "%s: %s pending\n", r.Node, text.Plural(len(r.Plan.Changes), "change"))
			for _, c := range r.Plan.Changes {
				if c.Kind == "sysctl" {
					fmt.Fprintf(w, "  sysctl %s: %s -> %s\n", c.What, c.Old, c.New)
				}
			}
			for _, c := range r.Plan.Changes {
				if c.Kind == "file" {
					view.PrefixLines(w, "  ", c.Diff)
				}
			}
		}
	}
}

// finish prints results (-o json: one "host" event per host) and picks
// the outcome: host failures first, then pending (--check), then restart
// needed.
func (o *Options) finish(r *tune.Run, pending bool) error {
	var restart []string
	for _, h := range r.Hosts {
		if h.Verify != nil && h.Verify.RestartNeeded {
			restart = append(restart, h.Node)
		}
		if o.JSON() {
			o.Event("host", h)
			continue
		}
		switch {
		case h.Error != "":
			fmt.Fprintf(o.Sys.Stderr, "natsops: %s\n", h.Error)
		case len(h.Contract) > 0:
			for _, m := range h.Contract {
				fmt.Fprintf(o.Sys.Stderr, "natsops: %s: %s\n", h.Node, m)
			}
		case h.Verify != nil && h.Verify.RestartNeeded:
			fmt.Fprintf(o.Sys.Stdout, "%s: %s\n", h.Node, restartNeededLine(h))
		case h.Verify != nil && h.Applied:
			fmt.Fprintf(o.Sys.Stdout, "%s: tuned and verified\n", h.Node)
		}
	}
	failed := r.Failed()
	changes, _ := r.Pending()
	o.Result(map[string]any{"hosts": len(r.Hosts), "pending": changes, "failed": text.NonNil(failed), "restart_needed": text.NonNil(restart)})
	if err := cmdutil.HostsOutcome(failed, "", pending); err != nil || r.RestartNeeded() == 0 {
		return err
	}
	return cmdutil.Outcome(cmdutil.ExitRestart)
}

// limitsLine is a host's running open-files limit next to the desired
// one, with the connection capacity each gives.
func limitsLine(l *tune.Limits) string {
	want := fmt.Sprintf("desired nofile %d (capacity %d connections)", l.Desired, l.DesiredCapacity)
	if l.PID == 0 {
		return "nats-server is not running; " + want
	}
	return fmt.Sprintf("running nats-server (pid %d) has nofile %s (capacity %d connections); %s; max_connections %d, reserve %d",
		l.PID, limitString(l.RunningSoft), l.RunningCapacity, want, l.MaxConnections, l.Reserve)
}

func limitString(n int64) string {
	if n >= health.UnlimitedFDs {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

// restartNeededLine says a tuned host's server still runs with its old
// limit, and the connections a restart would give it.
func restartNeededLine(h *tune.HostRun) string {
	s := fmt.Sprintf("tuned; running nats-server (pid %d) still has nofile %d", h.Verify.Process.PID, h.Verify.Process.Hard)
	if l := h.Limits; l != nil && l.PID > 0 {
		s += fmt.Sprintf(" (capacity %d connections; %d after a restart)", l.RunningCapacity, l.DesiredCapacity)
	}
	return s + fmt.Sprintf(": restart needed to take effect (natsops restart --node %s)", h.Node)
}
