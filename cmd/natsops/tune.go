package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/tune"
)

type tuneOptions struct {
	*globals
	check bool
}

func newTuneCmd(g *globals) *cobra.Command {
	o := &tuneOptions{globals: g}
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "show the plan and exit 2 if changes are pending; change nothing")
	return cmd
}

func (o *tuneOptions) run(ctx context.Context) error {
	inv, nodes, err := o.loadSelected(o.limit)
	if err != nil {
		return err
	}
	conn, err := o.connector(inv)
	if err != nil {
		return err
	}
	defer conn.close()
	r := tune.New(inv, nodes, hostrun.Options{Connect: conn.connect, Parallel: o.parallel})
	r.Plan(ctx)
	if !o.json() {
		o.printPlans(r.Hosts)
	}
	pending, _ := r.Pending()
	if o.check || pending == 0 {
		return o.finish(r, pending > 0 && o.check)
	}
	if err := o.confirm(fmt.Sprintf("apply %s on %s", plural(pending, "change"), plural(r.Ready(), "host"))); err != nil {
		return err
	}
	trail := o.startAudit("tune", inv, nodes, conn)
	r.Apply(ctx)
	err = o.finish(r, false)
	trail.endHosts(ctx, r.Audit(), err)
	return err
}

func (o *tuneOptions) printPlans(runs []*tune.HostRun) {
	w := o.sys.stdout
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
			fmt.Fprintf(w, "%s: %s pending\n", r.Node, plural(len(r.Plan.Changes), "change"))
			for _, c := range r.Plan.Changes {
				if c.Kind == "sysctl" {
					fmt.Fprintf(w, "  sysctl %s: %s -> %s\n", c.What, c.Old, c.New)
				}
			}
			for _, c := range r.Plan.Changes {
				if c.Kind == "file" {
					prefixLines(w, "  ", c.Diff)
				}
			}
		}
	}
}

// finish prints results and picks the exit code: host failures first,
// then pending (--check), then restart needed.
func (o *tuneOptions) finish(r *tune.Run, pending bool) error {
	if o.json() {
		for _, h := range r.Hosts {
			writeJSONLine(o.sys.stdout, h)
		}
	} else {
		for _, h := range r.Hosts {
			switch {
			case h.Error != "":
				fmt.Fprintf(o.sys.stderr, "natsops: %s\n", h.Error)
			case len(h.Contract) > 0:
				for _, m := range h.Contract {
					fmt.Fprintf(o.sys.stderr, "natsops: %s: %s\n", h.Node, m)
				}
			case h.Verify != nil && h.Verify.RestartNeeded:
				fmt.Fprintf(o.sys.stdout, "%s: %s\n", h.Node, restartNeededLine(h))
			case h.Verify != nil && h.Applied:
				fmt.Fprintf(o.sys.stdout, "%s: tuned and verified\n", h.Node)
			}
		}
	}
	if failed := r.Failed(); len(failed) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("%s failed: %s", plural(len(failed), "host"), strings.Join(failed, ", ")), silent: o.json()}
	}
	if pending {
		return reported(ExitPending)
	}
	if r.RestartNeeded() > 0 {
		return reported(ExitRestart)
	}
	return nil
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
