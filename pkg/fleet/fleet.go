// Package fleet observes a cluster over time: it reads every node's
// monitoring endpoint at once (the one fleet reader status, check, restart
// and deploy share), and polls until a condition holds, bounded, on an
// injected clock.
//
// It reads and waits; it does not judge (pkg/health decides what a
// reading means) and it never touches a host.
package fleet

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/fanout"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// Monitor reads one node's monitoring endpoint (*monitor.Client).
type Monitor interface {
	Snapshot(ctx context.Context, baseURL string) *monitor.Snapshot
}

// Clock is time for the callers that wait; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Snapshots are readings by node name.
type Snapshots map[string]*monitor.Snapshot

// Reader reads the monitoring endpoints of an inventory's nodes.
type Reader struct {
	Monitor Monitor
	// URL is a node's monitoring base URL (nil: Node.MonitorURL).
	URL func(*cluster.Node) string
	// Parallel bounds the nodes read at once (0: all at once).
	Parallel int
	// Options, when set, are the endpoints to read beyond the four every
	// node needs (a supercluster's /gatewayz, /leafz), by node; used when
	// Monitor is a SnapshotWithMonitor.
	Options func(*cluster.Node) monitor.SnapshotOptions
}

// SnapshotWithMonitor is a Monitor that reads more endpoints when asked
// (*monitor.Client does).
type SnapshotWithMonitor interface {
	SnapshotWith(ctx context.Context, baseURL string, o monitor.SnapshotOptions) *monitor.Snapshot
}

// EstateOptions are the endpoints the nodes of est need read: /gatewayz
// on a cluster joined by gateways, /leafz on a hub and on a leaf cluster.
// A single cluster with neither asks for nothing more.
func EstateOptions(est *cluster.Estate) func(*cluster.Node) monitor.SnapshotOptions {
	by := map[*cluster.Node]monitor.SnapshotOptions{}
	for _, c := range est.Clusters {
		o := monitor.SnapshotOptions{Gateways: c.HasGateway(), Leafs: c.LeafListens() || c.IsLeaf()}
		for _, n := range append(append([]*cluster.Node(nil), c.Nodes...), c.Removed...) {
			by[n] = o
		}
	}
	return func(n *cluster.Node) monitor.SnapshotOptions { return by[n] }
}

// URLOf is node n's monitoring base URL.
func (r Reader) URLOf(n *cluster.Node) string {
	if r.URL != nil {
		return r.URL(n)
	}
	return n.MonitorURL()
}

// Node reads one node.
func (r Reader) Node(ctx context.Context, n *cluster.Node) *monitor.Snapshot {
	if r.Options != nil {
		if o := r.Options(n); o != (monitor.SnapshotOptions{}) {
			if m, ok := r.Monitor.(SnapshotWithMonitor); ok {
				return m.SnapshotWith(ctx, r.URLOf(n), o)
			}
		}
	}
	return r.Monitor.Snapshot(ctx, r.URLOf(n))
}

// Read reads nodes at once, at most Parallel at a time (each read is
// bounded by the monitor's own timeout) into into, which may hold
// earlier readings of other nodes, and names the routes of servers older
// than 2.10 from every reading in it. A node not read because ctx ended
// first gets a reading whose every endpoint failed with ctx's error. It
// returns into (a new map when into is nil).
func (r Reader) Read(ctx context.Context, nodes []*cluster.Node, into Snapshots) Snapshots {
	if into == nil {
		into = Snapshots{}
	}
	var mu sync.Mutex
	for i, res := range r.each(ctx, nodes, func(ctx context.Context, n *cluster.Node) {
		s := r.Node(ctx, n)
		mu.Lock()
		into[n.Name] = s
		mu.Unlock()
	}) {
		if err := res.Err; err != nil {
			n := nodes[i]
			into[n.Name] = &monitor.Snapshot{URL: r.URLOf(n), Errs: map[string]error{"healthz": err, "varz": err, "routez": err, "jsz": err}}
		}
	}
	monitor.NameRoutes(into)
	return into
}

// Until calls check every interval until it reports done, returns an
// error, ctx is done, or within has passed since the first call (check
// runs at least once). It returns check's error, ctx's error, or
// ErrTimeout.
func Until(ctx context.Context, c Clock, every, within time.Duration, check func() (done bool, err error)) error {
	deadline := c.Now().Add(within)
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.Now().Before(deadline) {
			return ErrTimeout
		}
		if err := c.Sleep(ctx, every); err != nil {
			return err
		}
	}
}

// ErrTimeout: Until's condition did not hold in time.
var ErrTimeout = errors.New("timed out")

// StreamsMonitor is a Monitor that also lists the streams and consumers a
// node holds (*monitor.Client does).
type StreamsMonitor interface {
	Streams(ctx context.Context, baseURL string) (*monitor.JSDetail, error)
}

// StreamsReading is one node's streams, or why they could not be read.
type StreamsReading struct {
	Detail *monitor.JSDetail
	Err    error
}

// ErrNoStreamsReader: the monitor cannot list streams.
var ErrNoStreamsReader = errors.New("this monitor cannot list streams")

// Streams reads the streams and consumers of nodes at once (bounded like
// Read), by node name.
func (r Reader) Streams(ctx context.Context, nodes []*cluster.Node) map[string]StreamsReading {
	out := map[string]StreamsReading{}
	sm, ok := r.Monitor.(StreamsMonitor)
	if !ok {
		for _, n := range nodes {
			out[n.Name] = StreamsReading{Err: ErrNoStreamsReader}
		}
		return out
	}
	var mu sync.Mutex
	for i, res := range r.each(ctx, nodes, func(ctx context.Context, n *cluster.Node) {
		d, err := sm.Streams(ctx, r.URLOf(n))
		mu.Lock()
		out[n.Name] = StreamsReading{Detail: d, Err: err}
		mu.Unlock()
	}) {
		if res.Err != nil {
			out[nodes[i].Name] = StreamsReading{Err: res.Err}
		}
	}
	return out
}

// each calls fn for every node at once, at most Parallel at a time
// (every node at once when Parallel is 0: internal/fanout), and returns
// when all are done, a result per node in nodes' order. fn reports
// nothing: a result's error is a node not read because ctx ended first,
// or a panic while reading it.
func (r Reader) each(ctx context.Context, nodes []*cluster.Node, fn func(context.Context, *cluster.Node)) []fanout.Result {
	return fanout.Each(ctx, nodes, r.Parallel, func(n *cluster.Node) string { return n.Name }, func(ctx context.Context, n *cluster.Node) error {
		fn(ctx, n)
		return nil
	})
}
