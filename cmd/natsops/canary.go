package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/natsops/natsops/pkg/rollout"
)

// canaryFlags are restart's and deploy's canary, soak and JetStream
// availability flags.
type canaryFlags struct {
	stopAfter        int
	allowUnavailable bool
	pause            time.Duration
	healthyFor       time.Duration
	startTimeout     time.Duration
	// upgrades: the command has --start-timeout (deploy).
	upgrades bool
}

func (c *canaryFlags) register(f *pflag.FlagSet, upgrades bool) {
	c.upgrades = upgrades
	f.IntVar(&c.stopAfter, "stop-after", 0, "stop cleanly after this many nodes are done and healthy (a canary); a rerun continues with the rest")
	f.DurationVar(&c.pause, "pause", 0, "soak this long between nodes (not after the last), with a countdown on a terminal; Ctrl-C during it stops cleanly")
	f.DurationVar(&c.healthyFor, "healthy-for", rollout.DefaultHealthyFor, "a restarted node must stay ready this long, every reading healthy, before the next node")
	f.BoolVar(&c.allowUnavailable, "allow-unavailable", false, "stop a node although streams or consumers with a replica on it lose availability while it is down (R1, or too few current peers); each is named")
	if upgrades {
		f.DurationVar(&c.startTimeout, "start-timeout", rollout.DefaultStartTimeout, "per node: how long the first start after a nats-server version change may take to be back (never less than --timeout)")
	}
}

// check refuses values that mean nothing: a canary of no node, a pause or
// window of no time. Unparsable durations are refused by the flag parser
// (exit 64 naming the flag).
func (c *canaryFlags) check(f *pflag.FlagSet) error {
	if f.Changed("stop-after") && c.stopAfter < 1 {
		return usageError("--stop-after must be at least 1 (the nodes to do before stopping), not %d", c.stopAfter)
	}
	durations := []struct {
		name string
		v    time.Duration
	}{{"pause", c.pause}, {"healthy-for", c.healthyFor}}
	if c.upgrades {
		durations = append(durations, struct {
			name string
			v    time.Duration
		}{"start-timeout", c.startTimeout})
	}
	for _, d := range durations {
		if f.Changed(d.name) && d.v <= 0 {
			return usageError("--%s must be a positive duration (like 30s or 5m), not %s", d.name, d.v)
		}
	}
	return nil
}

// apply puts the flags into the rollout's options.
func (c *canaryFlags) apply(o *rollout.Options) {
	o.StopAfter, o.Pause, o.HealthyFor, o.StartTimeout = c.stopAfter, c.pause, c.healthyFor, c.startTimeout
	o.AllowUnavailable = c.allowUnavailable
}

// stopped is the line that says a --stop-after run stopped as asked.
func (c *canaryFlags) stopped(rep *rollout.Report, command, notYet string) string {
	return fmt.Sprintf("stopped after %s as asked (--stop-after %d): %s not %s yet; rerun natsops %s to continue",
		plural(rep.StoppedAfter, "node"), c.stopAfter, strings.Join(rep.NotDone, ", "), notYet, command)
}

// countdown draws a --pause countdown in place on a terminal stderr (text
// output only); nil otherwise: the pause's events say it.
func (g *globals) countdown() func(rollout.PauseTick) {
	if g.json() || !g.sys.isTTY(g.sys.stderr) {
		return nil
	}
	return func(p rollout.PauseTick) {
		if p.Left <= 0 {
			fmt.Fprint(g.sys.stderr, "\r\x1b[K")
			return
		}
		fmt.Fprintf(g.sys.stderr, "\r\x1b[Kpausing before %s: %s left of %s (Ctrl-C stops here; a rerun continues)", p.Next, p.Left.Round(time.Second), p.Total)
	}
}
