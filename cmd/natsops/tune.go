package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
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

Each host is read first and a plan is shown; --check stops there. After
applying, natsops verifies sysctl values, the unit's LimitNOFILE and the
running nats-server's /proc/<pid>/limits.

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

// hostRun is one host's tune, as reported (-o json: one object per host).
type hostRun struct {
	Node    string             `json:"node"`
	Host    string             `json:"host"`
	Plan    *tune.Plan         `json:"plan,omitempty"`
	Applied bool               `json:"applied"`
	Verify  *tune.Verification `json:"verify,omitempty"`
	Error   string             `json:"error,omitempty"`

	host     remote.Host
	desired  tune.Desired
	observed tune.Observed
}

func (o *tuneOptions) run(ctx context.Context) error {
	inv, nodes, err := o.loadSelected(o.limit)
	if err != nil {
		return err
	}
	runs := make([]*hostRun, len(nodes))
	for i, n := range nodes {
		runs[i] = &hostRun{Node: n.Name, Host: n.Host, desired: tune.DesiredFor(inv, n)}
	}
	defer func() {
		for _, r := range runs {
			if r.host != nil {
				r.host.Close()
			}
		}
	}()
	conn, err := o.connector(inv)
	if err != nil {
		return err
	}

	// Read and plan every host.
	o.each(ctx, nodes, runs, func(ctx context.Context, n *cluster.Node, r *hostRun) error {
		h, err := conn.connect(ctx, n)
		if err != nil {
			return err
		}
		r.host = h
		obs, err := tune.Observe(ctx, h, r.desired)
		if err != nil {
			return err
		}
		r.observed = obs
		r.Plan = tune.MakePlan(n.Name, r.desired, obs)
		if !r.Plan.Pending() && len(r.Plan.Problems) == 0 {
			// Nothing to write, but the running server may still lack the
			// limit (tuned earlier, never restarted).
			v := tune.Verify(n.Name, r.desired, obs)
			r.Verify = &v
		}
		return nil
	})
	pending, problems := 0, 0
	for _, r := range runs {
		if r.Plan != nil {
			pending += len(r.Plan.Changes)
			if len(r.Plan.Problems) > 0 {
				problems++
			}
		}
	}
	if !o.json() {
		o.printPlans(runs)
	}
	if o.check || pending == 0 {
		return o.finish(runs, pending > 0 && o.check)
	}

	if err := o.confirm(fmt.Sprintf("apply %s on %s", plural(pending, "change"), plural(len(runs)-failed(runs)-problems, "host"))); err != nil {
		return err
	}
	o.each(ctx, nodes, runs, func(ctx context.Context, n *cluster.Node, r *hostRun) error {
		if r.Plan == nil {
			return nil // failed while planning; already reported
		}
		if err := tune.Apply(ctx, r.host, r.desired, r.Plan); err != nil {
			return err
		}
		r.Applied = r.Plan.Pending()
		obs, err := tune.Observe(ctx, r.host, r.desired)
		if err != nil {
			return err
		}
		v := tune.Verify(n.Name, r.desired, obs)
		r.Verify = &v
		if len(v.Mismatches) > 0 {
			return fmt.Errorf("applied, but %s", strings.Join(v.Mismatches, "; "))
		}
		return nil
	})
	return o.finish(runs, false)
}

// each runs fn for every host still in the run, at most --parallel at
// once; a failure is recorded on that host and the others go on.
func (o *tuneOptions) each(ctx context.Context, nodes []*cluster.Node, runs []*hostRun, fn func(context.Context, *cluster.Node, *hostRun) error) {
	var todo []int
	for i, r := range runs {
		if r.Error == "" {
			todo = append(todo, i)
		}
	}
	rs := remote.Each(ctx, todo, o.parallel, func(i int) string { return nodes[i].Name }, func(ctx context.Context, i int) error {
		return fn(ctx, nodes[i], runs[i])
	})
	for k, res := range rs {
		if res.Err != nil {
			runs[todo[k]].Error = oneLine(res.Name, res.Err)
		}
	}
}

func oneLine(node string, err error) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ; ")), " ")
	msg = strings.ReplaceAll(msg, " ; ", "; ")
	if !strings.HasPrefix(msg, node) {
		msg = node + ": " + msg
	}
	return msg
}

func failed(runs []*hostRun) int {
	n := 0
	for _, r := range runs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

func (o *tuneOptions) printPlans(runs []*hostRun) {
	w := o.sys.stdout
	for _, r := range runs {
		switch {
		case r.Error != "" || len(r.Plan.Problems) > 0:
			continue // reported with the errors
		}
		for _, n := range r.Plan.Notes {
			fmt.Fprintf(w, "%s: %s\n", r.Node, n)
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

func prefixLines(w io.Writer, prefix, text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
}

// finish prints results and picks the exit code: host failures first,
// then pending (--check), then restart needed.
func (o *tuneOptions) finish(runs []*hostRun, pending bool) error {
	restart := 0
	for _, r := range runs {
		if r.Verify != nil && r.Verify.RestartNeeded {
			restart++
		}
		if r.Plan != nil && len(r.Plan.Problems) > 0 && r.Error == "" {
			r.Error = r.Node + ": not tuned: " + strings.Join(r.Plan.Problems, "; ")
		}
	}
	if o.json() {
		for _, r := range runs {
			writeJSONLine(o.sys.stdout, r)
		}
	} else {
		for _, r := range runs {
			switch {
			case r.Error != "":
				fmt.Fprintf(o.sys.stderr, "natsops: %s\n", r.Error)
			case r.Verify != nil && r.Verify.RestartNeeded:
				fmt.Fprintf(o.sys.stdout, "%s: tuned; running nats-server (pid %d) still has nofile %d: restart needed to take effect (natsops restart --node %s)\n", r.Node, r.Verify.Process.PID, r.Verify.Process.Hard, r.Node)
			case r.Verify != nil && r.Applied:
				fmt.Fprintf(o.sys.stdout, "%s: tuned and verified\n", r.Node)
			}
		}
	}
	if n := failed(runs); n > 0 {
		var names []string
		for _, r := range runs {
			if r.Error != "" {
				names = append(names, r.Node)
			}
		}
		return &exitError{code: ExitError, err: fmt.Errorf("%s failed: %s", plural(n, "host"), strings.Join(names, ", ")), silent: o.json()}
	}
	if pending {
		return reported(ExitPending)
	}
	if restart > 0 {
		return reported(ExitRestart)
	}
	return nil
}

// confirm asks before a disruptive step: --yes skips it; without a
// terminal there is nobody to ask, so natsops refuses.
func (g *globals) confirm(what string) error {
	if g.yes {
		return nil
	}
	if !g.sys.isTTY(g.sys.stdin) || !g.sys.isTTY(g.sys.stderr) {
		return withCode(ExitCancelled, errors.New(what+": no terminal to confirm on; rerun with --yes"))
	}
	fmt.Fprintf(g.sys.stderr, "%s? [y/N] ", what)
	line, _ := bufio.NewReader(g.sys.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return withCode(ExitCancelled, errors.New("cancelled; nothing was changed"))
}
