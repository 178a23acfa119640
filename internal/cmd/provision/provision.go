// Package provision is `natsops provision`: what a bare host needs before
// deploy (nats-server, its user, directories, systemd unit), planned,
// applied and verified over SSH (pkg/provision).
package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/provision"
)

// Options are provision's flags.
type Options struct {
	*cmdutil.Factory
	Ctx   context.Context
	Check bool
}

// NewCmd is `natsops provision`; runF, when set, gets the options instead
// of the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Install nats-server, its user, directories and systemd unit: what a bare host needs before deploy",
		Long: `Make every selected host ready for 'natsops deploy', idempotently:

  nats-server   service.install = "package" (default): the distribution's
                package, with apt-get or dnf, found on the host (the version
                its repositories offer now; the package index is read as it
                is, never refreshed). service.install = "binary": the file
                service.binary_source on this machine (relative to the
                inventory), whose SHA-256 must be service.binary_sha256, is
                uploaded to service.binary (absolute) and checked again on
                the host (digest, that it runs there, service.nats_version)
                before it replaces anything.
  user, group   service.user (default nats), a system account with no
                login shell (systemd mode).
  directories   jetstream.store_dir and the directory of server.log.file,
                owner service.user, mode 0750.
  systemd unit  where the distribution ships none (binary mode; package mode
                when the package has none): ExecStart service.binary -c
                service.config_path, reload by SIGHUP, stop by lame duck
                (SIGUSR2) with TimeoutStopSec lame_duck_duration + 30s,
                LimitNOFILE from [tune] nofile, Restart=on-failure; enabled.
                A unit natsops did not write is left as it is; one that runs
                something other than nats-server is refused.

pidfile mode: the binary and the directories only. provision does not start
nats-server: deploy installs the config and starts the cluster. A packaged
service that starts with the package's default config is left running.

Each host is read first and its plan shown (-v: the whole unit file);
--check stops there. Bad input found on any host (the package not in its
repositories, a nats-server older than service.nats_version, a unit that
runs something else, a running binary that would be replaced) refuses the
whole run with nothing changed on any host. Otherwise natsops confirms (or
--yes), applies, and verifies: the binary's --version, the user, the
directories' owner and mode, the unit loaded and enabled. A host that
cannot be reached or fails gets a one-line error; the others are done.

Exit codes: 0 nothing to do or provisioned, 2 --check found steps pending,
5 not confirmed (no terminal and no --yes), 65 the inventory is invalid (a
binary_source that does not match binary_sha256, a system directory as a
store or log directory), 1 a host failed or was refused.`,
		Example: `  natsops provision --check
  natsops provision --yes && natsops tune --yes && natsops deploy --yes
  natsops provision --check -o json --limit 'nats-*'`,
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
	cmd.Flags().BoolVar(&o.Check, "check", false, "show the plan and exit 2 if steps are pending; change nothing")
	return cmd
}

func run(o *Options) error {
	inv, nodes, err := o.LoadSelected(o.Global.Limit)
	if err != nil {
		return err
	}
	r, err := provision.New(inv, nodes, hostrun.Options{Parallel: o.Global.Parallel, Progress: o.Progress()})
	if err != nil {
		return err
	}
	conn, err := o.Connector(inv)
	if err != nil {
		return err
	}
	defer conn.Close()
	r.Connect = conn.Connect
	r.Plan(o.Ctx)
	if !o.JSON() {
		o.printPlans(r)
	}
	steps, hosts := r.Pending()
	if o.Check || steps == 0 || len(r.Refused()) > 0 {
		return o.finish(r, o.Check && steps > 0)
	}
	if err := o.Confirm(fmt.Sprintf("apply %s on %s", text.Plural(steps, "step"), text.Plural(hosts, "host"))); err != nil {
		return err
	}
	trail := o.StartAudit("provision", inv, nodes, conn)
	if err = r.Apply(o.Ctx); err == nil {
		err = o.finish(r, false)
	}
	trail.EndHosts(o.Ctx, r.Audit(), err)
	return err
}

func (o *Options) printPlans(r *provision.Run) {
	w := o.Sys.Stdout
	for _, h := range r.Hosts {
		if h.Plan == nil || len(h.Plan.Problems) > 0 {
			continue // reported with the errors
		}
		for _, n := range h.Plan.Notes {
			fmt.Fprintf(w, "%s: note: %s\n", h.Node, n)
		}
		if !h.Plan.Pending() {
			if !h.Failed() {
				fmt.Fprintf(w, "%s: up to date\n", h.Node)
			}
			continue
		}
		fmt.Fprintf(w, "%s: %s pending\n", h.Node, text.Plural(len(h.Plan.Steps), "step"))
		for _, s := range h.Plan.Steps {
			fmt.Fprintf(w, "  %s\n", s)
			// A new unit in full only with -v; a change to one always.
			if s.Diff != "" && (o.Global.Verbose > 0 || s.Old != "absent") {
				view.PrefixLines(w, "    ", s.Diff)
			}
		}
	}
}

// finish prints results (-o json: one "host" event per host) and picks
// the outcome: failed or refused hosts first, then pending (--check).
func (o *Options) finish(r *provision.Run, pending bool) error {
	for _, h := range r.Hosts {
		switch {
		case o.JSON():
			o.Event("host", h)
		case h.Failed():
			fmt.Fprintf(o.Sys.Stderr, "natsops: %s\n", h.Error)
		case h.Applied && h.Verify != nil:
			fmt.Fprintf(o.Sys.Stdout, "%s: provisioned and verified: nats-server %s (%s)\n", h.Node, h.Verify.Version, h.Verify.Binary)
		}
	}
	steps, _ := r.Pending()
	failed, refused := r.Failed(), r.Refused()
	o.Result(map[string]any{"hosts": len(r.Hosts), "pending": steps, "failed": text.NonNil(failed), "refused": text.NonNil(refused)})
	why := ""
	if len(refused) > 0 && !o.Check {
		why = fmt.Sprintf("%s (%s); fix what is named above and rerun", hostrun.ErrRefused, strings.Join(refused, ", "))
	}
	return cmdutil.HostsOutcome(failed, why, pending)
}
