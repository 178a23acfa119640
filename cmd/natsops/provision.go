package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/provision"
)

type provisionOptions struct {
	*globals
	check bool
}

func newProvisionCmd(g *globals) *cobra.Command {
	o := &provisionOptions{globals: g}
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "show the plan and exit 2 if steps are pending; change nothing")
	return cmd
}

func (o *provisionOptions) run(ctx context.Context) error {
	inv, nodes, err := o.loadSelected(o.limit)
	if err != nil {
		return err
	}
	r, err := provision.New(inv, nodes, hostrun.Options{Parallel: o.parallel})
	if err != nil {
		return o.inventoryError(err)
	}
	conn, err := o.connector(inv)
	if err != nil {
		return err
	}
	defer conn.close()
	r.Connect = conn.connect
	r.Plan(ctx)
	if !o.json() {
		o.printPlans(r)
	}
	steps, hosts := r.Pending()
	if o.check || steps == 0 || len(r.Refused()) > 0 {
		return o.finish(r, o.check && steps > 0)
	}
	if err := o.confirm(fmt.Sprintf("apply %s on %s", plural(steps, "step"), plural(hosts, "host"))); err != nil {
		return err
	}
	trail := o.startAudit("provision", inv, nodes, conn)
	if err = r.Apply(ctx); err == nil {
		err = o.finish(r, false)
	}
	trail.endHosts(ctx, r.Audit(), err)
	return err
}

func (o *provisionOptions) printPlans(r *provision.Run) {
	w := o.sys.stdout
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
		fmt.Fprintf(w, "%s: %s pending\n", h.Node, plural(len(h.Plan.Steps), "step"))
		for _, s := range h.Plan.Steps {
			fmt.Fprintf(w, "  %s\n", s)
			// A new unit in full only with -v; a change to one always.
			if s.Diff != "" && (o.verbose > 0 || s.Old != "absent") {
				prefixLines(w, "    ", s.Diff)
			}
		}
	}
}

// finish prints results and picks the exit code: failed or refused hosts
// first, then pending (--check).
func (o *provisionOptions) finish(r *provision.Run, pending bool) error {
	if o.json() {
		for _, h := range r.Hosts {
			writeJSONLine(o.sys.stdout, h)
		}
	} else {
		for _, h := range r.Hosts {
			switch {
			case h.Failed():
				fmt.Fprintf(o.sys.stderr, "natsops: %s\n", h.Error)
			case h.Applied && h.Verify != nil:
				fmt.Fprintf(o.sys.stdout, "%s: provisioned and verified: nats-server %s (%s)\n", h.Node, h.Verify.Version, h.Verify.Binary)
			}
		}
	}
	failed := r.Failed()
	if len(failed) == 0 {
		if pending {
			return reported(ExitPending)
		}
		return nil
	}
	msg := fmt.Sprintf("%s failed: %s", plural(len(failed), "host"), strings.Join(failed, ", "))
	if refused := r.Refused(); len(refused) > 0 && !o.check {
		msg = fmt.Sprintf("%s (%s); fix what is named above and rerun", hostrun.ErrRefused, strings.Join(refused, ", "))
	}
	return &exitError{code: ExitError, err: errors.New(msg), silent: o.json()}
}
