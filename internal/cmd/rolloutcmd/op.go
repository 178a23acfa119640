package rolloutcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/rollout"
)

// OpFlags are the flags every incident operation (evacuate, step-down,
// replace, rescue) shares with restart: the gate's --force, the lock's
// --break-lock, and the bound and poll of its wait.
type OpFlags struct {
	Force     bool
	BreakLock bool
	Timeout   time.Duration
	Poll      time.Duration
}

// Register adds the flags; timeout is --timeout's default, force
// --force's help ("": the operation has no --force).
func (o *OpFlags) Register(fl *pflag.FlagSet, timeout time.Duration, force string) {
	if force != "" {
		fl.BoolVar(&o.Force, "force", false, force)
	}
	fl.BoolVar(&o.BreakLock, "break-lock", false, "remove another rollout's lock first (only when that rollout is dead)")
	fl.DurationVar(&o.Timeout, "timeout", timeout, "how long the operation may take to be confirmed")
	fl.DurationVar(&o.Poll, "poll", 250*time.Millisecond, "how often the cluster is read while waiting")
}

// Validate refuses a bound that is not positive.
func (o *OpFlags) Validate() error {
	if o.Timeout <= 0 || o.Poll <= 0 {
		return cmdutil.Usage("--timeout and --poll must be positive")
	}
	return nil
}

// Options are the rollout options of an operation with these flags.
func (o *OpFlags) Options() rollout.Options {
	return rollout.Options{Force: o.Force, BreakLock: o.BreakLock, Poll: o.Poll}
}

// Admin is the inventory's system account client for the nodes of inv,
// or an error that names the keys to set.
func Admin(f *cmdutil.Factory, inv *cluster.Inventory, command string) (*natsadmin.Client, error) {
	c, err := natsadmin.New(inv, inv.Nodes, f.Sys.Getenv)
	if errors.Is(err, natsadmin.ErrNoSystemUser) {
		return nil, fmt.Errorf("natsops %s speaks to the cluster as its system account user, and %s names none: set server.auth.system_user and server.auth.system_password (or a user of the [accounts] table server.auth.system_account names), deploy, then rerun", command, inv.Path)
	}
	return c, err
}

// OpEvent reports one step of an operation.
func OpEvent(event func(rollout.Event), node, result string, since time.Time, now time.Time, format string, args ...any) {
	event(rollout.Event{Node: node, Step: rollout.StepOperate, Result: result, ElapsedMS: now.Sub(since).Milliseconds(), Detail: fmt.Sprintf(format, args...)})
}

// Wait polls check every poll for at most limit, telling the progress
// what it waits for and what check last saw ("" once done). It returns
// fleet.ErrTimeout with what was last seen.
func Wait(ctx context.Context, f *cmdutil.Factory, node, what string, poll, limit time.Duration, check func() string) error {
	clock := f.Sys.Clock
	w := progress.Start(f.Progress(), clock.Now(), progress.Report{Subject: node, Waiting: what, Limit: limit})
	last := ""
	err := fleet.Until(ctx, clock, poll, limit, func() (bool, error) {
		last = check()
		w.Tick(clock.Now(), last)
		return last == "", nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return fmt.Errorf("%s: not within %s (raise --timeout); last seen: %s", what, limit, last)
	}
	return err
}

// Connect opens the system account connection of an operation.
func Connect(c *natsadmin.Client, command string) (*nats.Conn, error) {
	return c.Connect("natsops " + command)
}

// NodeNamed is the node of inv that flag (--node, --to, --lost) names,
// or a usage error naming the flag, the inventory and its nodes.
func NodeNamed(inv *cluster.Inventory, flag, name string) (*cluster.Node, error) {
	for _, n := range inv.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, cmdutil.Usage("%s %s: no such node in %s (nodes: %s)", flag, name, inv.Path, strings.Join(inv.NodeNames(), ", "))
}

// LeaderVersion is " (the meta leader N runs nats-server V)" from snaps,
// or "" when unknown: what an unanswered or refused request is judged
// against.
func LeaderVersion(snaps fleet.Snapshots) string {
	l := health.MetaLeader(snaps)
	if l == "" || snaps[l] == nil || snaps[l].Varz == nil {
		return ""
	}
	return fmt.Sprintf(" (the meta leader %s runs nats-server %s)", l, snaps[l].Varz.Version)
}
