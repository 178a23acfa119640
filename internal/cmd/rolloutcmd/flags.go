// Package rolloutcmd is what the commands that roll a cluster share
// (restart, deploy, and the demo's printing): the canary and soak flags,
// the rollout's configuration for this process with its defaults in one
// place, the event printer, the audit tee, the run of one cluster's
// rollout and the run over an estate's clusters, and the result.
//
// It decides nothing about a rollout (pkg/rollout does) and prints only
// through the factory's output contract.
package rolloutcmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/rollout"
)

// Flags are restart's and deploy's canary, soak, JetStream availability
// and lock flags.
type Flags struct {
	// BreakLock removes a dead rollout's lock first (--break-lock: the
	// one implementation both commands share, so every lock message's
	// advice names a flag the command has).
	BreakLock        bool
	StopAfter        int
	AllowUnavailable bool
	Pause            time.Duration
	HealthyFor       time.Duration
	StartTimeout     time.Duration
	// Rebalance evens the client connections once the rollout is done.
	Rebalance bool
	// upgrades: the command has --start-timeout (deploy).
	upgrades bool
}

// Register adds the flags; upgrades adds --start-timeout.
func (c *Flags) Register(f *pflag.FlagSet, upgrades bool) {
	c.upgrades = upgrades
	f.IntVar(&c.StopAfter, "stop-after", 0, "stop cleanly after this many nodes are done and healthy (a canary); a rerun continues with the rest")
	f.DurationVar(&c.Pause, "pause", 0, "soak this long between nodes (not after the last), with a countdown on a terminal; Ctrl-C during it stops cleanly")
	f.DurationVar(&c.HealthyFor, "healthy-for", rollout.DefaultHealthyFor, "a restarted node must stay ready this long, every reading healthy, before the next node (env "+EnvHealthyFor+" sets another default)")
	f.BoolVar(&c.BreakLock, "break-lock", false, "remove another rollout's lock first (only when that rollout is dead: the lock error says when its process is gone)")
	f.BoolVar(&c.AllowUnavailable, "allow-unavailable", false, "stop a node although streams or consumers with a replica on it lose availability while it is down (R1, or too few current peers); each is named")
	f.BoolVar(&c.Rebalance, "rebalance", false, "once every node is done, even the client connections across the cluster's nodes (natsops rebalance with its defaults; needs the system account user)")
	if upgrades {
		f.DurationVar(&c.StartTimeout, "start-timeout", rollout.DefaultStartTimeout, "per node: how long the first start after a nats-server version change may take to be back (never less than --timeout)")
	}
}

// EnvHealthyFor, when set, is --healthy-for's default instead of
// rollout.DefaultHealthyFor: an estate (or a test bed) whose nodes are
// known to crash, if at all, within a shorter or longer time after their
// start sets it once rather than on every command line.
const EnvHealthyFor = "NATSOPS_HEALTHY_FOR"

// Validate refuses values that mean nothing: a canary of no node, a
// pause or window of no time. Unparsable durations are refused by the
// flag parser (exit 64 naming the flag). Without --healthy-for, getenv's
// NATSOPS_HEALTHY_FOR (when set) is the soak.
func (c *Flags) Validate(f *pflag.FlagSet, getenv func(string) (string, bool)) error {
	if v, ok := getenv(EnvHealthyFor); ok && v != "" && !f.Changed("healthy-for") {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cmdutil.Usage("%s=%q is not a positive duration (like 10s): fix or unset it, or pass --healthy-for", EnvHealthyFor, v)
		}
		c.HealthyFor = d
	}
	if f.Changed("stop-after") && c.StopAfter < 1 {
		return cmdutil.Usage("--stop-after must be at least 1 (the nodes to do before stopping), not %d", c.StopAfter)
	}
	durations := map[string]time.Duration{"pause": c.Pause, "healthy-for": c.HealthyFor}
	if c.upgrades {
		durations["start-timeout"] = c.StartTimeout
	}
	for _, name := range text.SortedKeys(durations) {
		if f.Changed(name) && durations[name] <= 0 {
			return cmdutil.Usage("--%s must be a positive duration (like 30s or 5m), not %s", name, durations[name])
		}
	}
	return nil
}

// Apply puts the flags into the rollout's options.
func (c *Flags) Apply(o *rollout.Options) {
	o.StopAfter, o.Pause, o.HealthyFor, o.StartTimeout = c.StopAfter, c.Pause, c.HealthyFor, c.StartTimeout
	o.AllowUnavailable, o.BreakLock = c.AllowUnavailable, c.BreakLock
}

// Stopped is the line that says a --stop-after run stopped as asked.
func (c *Flags) Stopped(rep *rollout.Report, command, notYet string) string {
	return fmt.Sprintf("stopped after %s as asked (--stop-after %d): %s not %s yet; rerun natsops %s to continue",
		text.Plural(rep.StoppedAfter, "node"), c.StopAfter, strings.Join(rep.NotDone, ", "), notYet, command)
}

// Countdown draws a --pause countdown in place on a terminal stderr (text
// output only); nil otherwise: the pause's progress reports say it.
func Countdown(f *cmdutil.Factory) func(rollout.PauseTick) {
	if f.JSON() || !f.Sys.IsTTY(f.Sys.Stderr) {
		return nil
	}
	return func(p rollout.PauseTick) {
		if p.Left <= 0 {
			fmt.Fprint(f.Sys.Stderr, "\r\x1b[K")
			return
		}
		fmt.Fprintf(f.Sys.Stderr, "\r\x1b[Kpausing before %s: %s left of %s (Ctrl-C stops here; a rerun continues)", p.Next, p.Left.Round(time.Second), p.Total)
	}
}
