package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// waitReady polls until the gate holds, at most timeout. The node
// alone is read until it answers ready (cheap); then the whole cluster.
// While the node's (or a peer's) monitoring endpoint does not answer, its
// process is checked on its host every aliveEvery: a server that died at
// start, or a peer that went down meanwhile, stops the wait at once
// instead of at the timeout.
func (nr *nodeRun) waitReady(ctx context.Context, e health.Expect, alive string, timeout time.Duration) ([]health.Reason, error) {
	n := nr.n
	e, peers := nr.expect(e)
	lv := newLiveness(nr.env)
	w := nr.waiting(n.Name, "ready", timeout)
	var swept time.Time
	var reasons []health.Reason
	err := fleet.Until(ctx, nr.clock, nr.opts.Poll, timeout, func() (bool, error) {
		s := nr.read.Node(ctx, n)
		nr.snaps[n.Name] = s
		monitor.NameRoutes(nr.snaps)
		reasons = health.NodeReady(n.Name, s, e)
		peersRead := false
		if len(reasons) == 0 {
			nr.readAll(ctx, peers, nr.snaps)
			peersRead = true
			if reasons = nr.gate(); len(reasons) == 0 {
				return true, nil
			}
		}
		w.Tick(nr.clock.Now(), health.Brief(n.Name, reasons))
		if !up(s) {
			if why := lv.gone(ctx, n, alive); why != "" {
				return false, fmt.Errorf("nats-server on %s exited after it was started: %s", n.Name, why)
			}
		} else if now := nr.clock.Now(); peersRead || now.Sub(swept) >= aliveEvery {
			// The node serves but is not back: is a peer gone?
			if !peersRead {
				swept = now
				nr.readAll(ctx, peers, nr.snaps)
			}
			return false, nr.peerGone(ctx, peers, lv)
		}
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return reasons, fmt.Errorf("not back within %s", timeout)
	}
	return reasons, err
}

// gate is the cluster's verdict on the node back, from the latest
// readings: health.Gate and the estate's, less the problems gone on with
// at preflight, and every peer serving then routing to it again.
func (nr *nodeRun) gate() []health.Reason {
	cur := nr.cur()
	rs := nr.baseline.Without(nr.n.Name, append(health.Gate(cur, nr.n.Name, nr.snaps), nr.estate(cur, nr.snaps)...))
	return append(rs, peersSee(cur, nr.n.Name, nr.up, nr.snaps)...)
}

// peerGone is why the wait for the node stops for another node: a peer
// serving at preflight whose process is gone, or a node of another
// cluster read along that stopped answering (nil: none).
func (nr *nodeRun) peerGone(ctx context.Context, peers []*cluster.Node, lv *liveness) error {
	for _, p := range peers {
		if nr.up[p.Name] && !up(nr.snaps[p.Name]) {
			if why := lv.gone(ctx, p, service.CommandsFor(p, nr.opts.Mode).Alive); why != "" {
				return fmt.Errorf("%s went down while %s was coming back: %s; the rollout stopped so that no second node is taken down", p.Name, nr.n.Name, why)
			}
		}
	}
	if o := lv.silentObserved(nr.across.Observe, nr.up, nr.snaps); o != "" {
		return fmt.Errorf("%s, of another cluster of the estate (read along, its host not reached), has not answered at :8222 for %s while %s was coming back: its supercluster lost a server, so the rollout stopped; see `natsops status` for that cluster", o, observedSilence, nr.n.Name)
	}
	return nil
}

// expect completes e for the node: the peers it must have routes to
// (under --force, those serving at preflight) and whether JetStream is
// clustered; it returns the peers to read.
func (nr *nodeRun) expect(e health.Expect) (health.Expect, []*cluster.Node) {
	var peers []*cluster.Node
	e.Peers = nil
	for _, p := range nr.cur().Nodes {
		if p != nr.n {
			peers = append(peers, p)
			if nr.up[p.Name] || !nr.opts.Force {
				e.Peers = append(e.Peers, p.Name)
			}
		}
	}
	e.JetStream = health.ClusteredJetStream(nr.inv, nr.n)
	return e, peers
}

// peersSee requires every node of cur serving at preflight (up) to list a
// route to node again (also under --force, where other problems may be
// excused). Pure.
func peersSee(cur *cluster.Inventory, node string, up map[string]bool, snaps fleet.Snapshots) []health.Reason {
	var out []health.Reason
	for _, p := range cur.Nodes {
		if p.Name == node || !up[p.Name] {
			continue
		}
		s := snaps[p.Name]
		if s == nil || s.Routez == nil {
			out = append(out, health.Reason{Node: p.Name, Code: health.ReasonUnreachable, Msg: "no /routez reading"})
			continue
		}
		if !slices.Contains(s.Routez.Peers(), node) {
			out = append(out, health.Reason{Node: p.Name, Code: health.ReasonRoutes, Msg: "no route back to " + node + " yet"})
		}
	}
	return out
}

// holdReady reads the node and the cluster every Poll until HealthyFor
// has passed since the node was found back: every reading must pass the
// gate waitReady waited for, from the same process. It restarts nothing:
// a failing reading (a new process, /healthz failing, a route or the
// meta leader lost) is the error, with its reasons. A stream or consumer
// replica catching up (health.CatchingUp, on the node or a peer) is not a
// flap: under traffic a follower falls a few entries behind for a moment
// (seen on the testbed 630 ms after a node was back). Such a reading
// counts, but the window ends only on a reading with every replica
// current, and one still catching up Settle after the window fails
// (nats-server#4875, #5976: /healthz ok while it was still behind). It
// returns the readings and how many of them saw a replica catching up.
func (nr *nodeRun) holdReady(ctx context.Context, e health.Expect) (int, int, []health.Reason, error) {
	n := nr.n
	e, _ = nr.expect(e)
	begin := nr.clock.Now()
	w := nr.waiting(n.Name, "healthy-for", nr.opts.HealthyFor)
	var started time.Time
	if s := nr.snaps[n.Name]; up(s) {
		started = s.Varz.Start
	}
	readings, behind := 0, 0
	var catching []health.Reason
	for nr.clock.Now().Sub(begin) < nr.opts.HealthyFor || len(catching) > 0 {
		if len(catching) > 0 && nr.clock.Now().Sub(begin) >= nr.opts.HealthyFor+nr.opts.Settle {
			return readings, behind, catching, fmt.Errorf("still catching up %s after the %s it had to stay ready (%d of %d readings behind; nothing was restarted for it): %s: %s",
				nr.opts.Settle, nr.opts.HealthyFor, behind, readings, catching[0].Node, catching[0].Msg)
		}
		now := nr.clock.Now()
		w.Tick(now, soakSeen(n.Name, now.Sub(begin), nr.opts.HealthyFor, catching))
		if err := nr.clock.Sleep(ctx, nr.opts.Poll); err != nil {
			return readings, behind, nil, err
		}
		nr.readAll(ctx, nr.cur().Nodes, nr.snaps)
		if err := ctx.Err(); err != nil {
			return readings, behind, nil, err
		}
		monitor.NameRoutes(nr.snaps)
		readings++
		var hard []health.Reason
		hard, catching = splitCatching(nr.soakReading(e, started), nr.snaps)
		if len(catching) > 0 {
			behind++
		}
		if len(hard) > 0 {
			return readings, behind, hard, fmt.Errorf("flapped: back, then not ready %s later (reading %d of the %s it must stay ready; nothing was restarted for it): %s: %s",
				nr.clock.Now().Sub(begin).Round(time.Millisecond), readings, nr.opts.HealthyFor, hard[0].Node, hard[0].Msg)
		}
	}
	return readings, behind, nil, nil
}

// soakReading is every reason the latest reading fails the soak: the
// node not ready, or a new process since it was found back (started);
// then, when those are at most replicas catching up, the cluster's gate.
func (nr *nodeRun) soakReading(e health.Expect, started time.Time) []health.Reason {
	n := nr.n
	s := nr.snaps[n.Name]
	reasons := health.NodeReady(n.Name, s, e)
	if len(reasons) == 0 && !s.Varz.Start.Equal(started) {
		reasons = []health.Reason{{Node: n.Name, Code: ReasonRestartedAgain, Msg: fmt.Sprintf("started again at %s (a new process since it was found back)", s.Varz.Start.UTC().Format(time.RFC3339Nano))}}
	}
	if len(reasons) == 0 || catchingOnly(reasons, nr.snaps) {
		reasons = append(reasons, nr.gate()...)
	}
	return reasons
}

// splitCatching parts reasons into the hard ones and the /healthz of a
// replica catching up.
func splitCatching(rs []health.Reason, snaps fleet.Snapshots) (hard, catching []health.Reason) {
	for _, x := range rs {
		if x.Code == health.ReasonHealthz && health.CatchingUp(snaps[x.Node]) {
			catching = append(catching, x)
		} else {
			hard = append(hard, x)
		}
	}
	return hard, catching
}

// soakSeen is what the soak of node shows so far: how long it has been
// ready, and a replica catching up.
func soakSeen(node string, elapsed, window time.Duration, catching []health.Reason) string {
	s := fmt.Sprintf("ready %s of %s", elapsed.Round(time.Second), window)
	if len(catching) > 0 {
		return s + "; catching up: " + health.Brief(node, catching)
	}
	return s + "; every reading healthy"
}

// catchingOnly: every reason is a /healthz of a replica catching up.
func catchingOnly(rs []health.Reason, snaps map[string]*monitor.Snapshot) bool {
	for _, x := range rs {
		if x.Code != health.ReasonHealthz || !health.CatchingUp(snaps[x.Node]) {
			return false
		}
	}
	return true
}

// waitReloaded polls the node until its /varz shows a config loaded after
// before's by the same process (same start), and it serves; with want,
// the server's config digest must be it (2.11 and later report one).
func (nr *nodeRun) waitReloaded(ctx context.Context, before *monitor.Varz, want string) error {
	n := nr.n
	last := "no answer"
	w := nr.waiting(n.Name, "reload", nr.opts.ReloadTimeout)
	err := fleet.Until(ctx, nr.clock, max(nr.opts.Poll, 100*time.Millisecond), nr.opts.ReloadTimeout, func() (bool, error) {
		s := nr.read.Node(ctx, n)
		nr.snaps[n.Name] = s
		switch {
		case s.Varz == nil:
			last = fmt.Sprint(errOf(s))
		case !s.Varz.Start.Equal(before.Start):
			return false, errors.New("the server restarted instead of reloading")
		case !s.Varz.ConfigLoadTime.After(before.ConfigLoadTime):
			last = "config_load_time did not move: nats-server refused the new config (\"Failed to reload server configuration\" in its log)"
		case digestMismatch(want, s.Varz.ConfigDigest) != "":
			last = digestMismatch(want, s.Varz.ConfigDigest)
		default:
			rs := health.NodeReady(n.Name, s, health.Expect{})
			if len(rs) == 0 {
				return true, nil
			}
			last = rs[0].Msg
		}
		w.Tick(nr.clock.Now(), last)
		return false, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		return fmt.Errorf("reload not confirmed within %s: %s", nr.opts.ReloadTimeout, last)
	}
	return err
}

// waitWithout waits, after the node left, until the rest of the cluster
// is healthy without it.
func (nr *nodeRun) waitWithout(ctx context.Context) error {
	n := nr.n
	t := nr.clock.Now()
	w := nr.waiting(n.Name, "healthy without it", nr.opts.NodeTimeout)
	var reasons []health.Reason
	err := fleet.Until(ctx, nr.clock, nr.opts.Poll, nr.opts.NodeTimeout, func() (bool, error) {
		cur := nr.cur()
		nr.snaps = nr.readAll(ctx, cur.Nodes, nr.snaps)
		reasons = nr.baseline.Without(n.Name, append(health.ClusterReady(cur, nr.snaps), nr.estate(cur, nr.snaps)...))
		w.Tick(nr.clock.Now(), health.Brief(n.Name, reasons))
		return len(reasons) == 0, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nr.errorf(&Error{Kind: KindInterrupted, Node: n.Name, Step: "confirming the removal of", Err: ctx.Err()})
		}
		if errors.Is(err, fleet.ErrTimeout) {
			err = fmt.Errorf("%s is stopped and disabled, but the cluster is not healthy without it within %s", n.Name, nr.opts.NodeTimeout)
		}
		return nr.fail(StepReady, err, reasons, t)
	}
	nr.event(n.Name, StepReady, ResultOK, t, "out of the cluster: stopped, disabled, the rest healthy without it")
	return nil
}

// aliveEvery is how often, at most, a silent node's process is checked on
// its host; deadReadings consecutive "gone" answers make it gone (one could
// be a start command that forks, between its exit and the pid file).
const (
	aliveEvery   = time.Second
	deadReadings = 2
)

// liveness is the process checks of one wait, on the nodes' hosts.
type liveness struct {
	hosts map[string]remote.Host
	clock fleet.Clock
	last  map[string]time.Time
	dead  map[string]int
	// silent is when each observed node (another cluster's, no host to
	// ask) was first found not answering, while it still does not.
	silent map[string]time.Time
}

func newLiveness(e *env) *liveness {
	return &liveness{hosts: e.hosts, clock: e.clock, last: map[string]time.Time{}, dead: map[string]int{}, silent: map[string]time.Time{}}
}

// observedSilence is how long an observed node that answered at the
// start may stay silent before a wait stops for it: a few monitoring
// timeouts, since its process cannot be asked.
const observedSilence = 3 * aliveEvery

// silentObserved names an observed node that answered at the start
// (upAtStart) and has not for observedSilence, or "".
func (lv *liveness) silentObserved(observe []*cluster.Node, upAtStart map[string]bool, snaps fleet.Snapshots) string {
	now := lv.clock.Now()
	for _, o := range observe {
		if !upAtStart[o.Name] || up(snaps[o.Name]) {
			delete(lv.silent, o.Name)
			continue
		}
		first, seen := lv.silent[o.Name]
		if !seen {
			lv.silent[o.Name] = now
			continue
		}
		if now.Sub(first) >= observedSilence {
			return o.Name
		}
	}
	return ""
}

// gone checks node's process on its host (at most every aliveEvery) and
// returns why it is gone once deadReadings checks in a row found no
// process; "" while it runs, is unknown or was checked too recently.
func (lv *liveness) gone(ctx context.Context, n *cluster.Node, cmd string) string {
	h := lv.hosts[n.Name]
	if h == nil || cmd == "" {
		return ""
	}
	now := lv.clock.Now()
	if t, ok := lv.last[n.Name]; ok && now.Sub(t) < aliveEvery {
		return ""
	}
	lv.last[n.Name] = now
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := h.Run(cctx, cmd, remote.RunOptions{Sudo: true})
	if err != nil || res == nil {
		return "" // the host did not answer: the timeout decides
	}
	dead, why := service.ParseAlive(string(res.Stdout))
	if !dead {
		lv.dead[n.Name] = 0
		return ""
	}
	lv.dead[n.Name]++
	if lv.dead[n.Name] < deadReadings {
		return ""
	}
	return why
}
