// Package probe reads what `natsops status` and `check` show of each
// node: its monitoring endpoint (the fleet reader) and, at the same time,
// its host (service.ProbeCommand over the node's remote.Host: the running
// nats-server's pid, state, open descriptors, open-files limits and
// listening ports), each host bounded in time and read in one round trip.
//
// It reads; it does not judge (pkg/health.Status does).
package probe

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// HostTimeout bounds one host's connection and probe.
const HostTimeout = 5 * time.Second

// Reading is one read of the fleet: every inventory node's monitoring
// snapshot and the selected nodes' host readings.
type Reading struct {
	Snaps fleet.Snapshots
	Hosts map[string]*health.HostReading
}

// Reader reads the fleet's endpoints and hosts.
type Reader struct {
	Fleet fleet.Reader
	// Connect reaches a node's host; nil: monitoring only (every host
	// reading is NoteMonitorOnly).
	Connect func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	// Forget, when set, drops node n's connection after the probe failed
	// on it, so the next reading dials again (status --watch outlives a
	// host's reboot).
	Forget func(n *cluster.Node)
	// Parallel bounds the hosts probed at once (0: all at once).
	Parallel int
	// Timeout bounds each host (0: HostTimeout).
	Timeout time.Duration
}

// Read reads every node of all on :8222 and the hosts of nodes, at once.
func (r Reader) Read(ctx context.Context, all, nodes []*cluster.Node) Reading {
	out := Reading{Hosts: map[string]*health.HostReading{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out.Snaps = r.Fleet.Read(ctx, all, nil)
	}()
	var mu sync.Mutex
	res := remote.Each(ctx, nodes, r.Parallel, func(n *cluster.Node) string { return n.Name }, func(ctx context.Context, n *cluster.Node) error {
		h := r.Host(ctx, n)
		mu.Lock()
		out.Hosts[n.Name] = &h
		mu.Unlock()
		return nil
	})
	wg.Wait()
	for i, n := range nodes {
		if err := res[i].Err; err != nil { // not started (ctx done), or a panic
			out.Hosts[n.Name] = &health.HostReading{Note: transport(n, err)}
		}
	}
	return out
}

// Host probes one node's host: a reading, or one whose Note says why
// there is none.
func (r Reader) Host(ctx context.Context, n *cluster.Node) health.HostReading {
	if r.Connect == nil {
		return health.HostReading{Note: health.NoteMonitorOnly}
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = HostTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h, err := r.Connect(ctx, n)
	if err != nil {
		return health.HostReading{Note: transport(n, err)}
	}
	defer h.Close() // a pooled host ignores it: its pool closes it
	res, err := h.Run(ctx, service.ProbeCommand(n), remote.RunOptions{Sudo: true})
	if err != nil {
		if r.Forget != nil {
			r.Forget(n)
		}
		return health.HostReading{Note: transport(n, err)}
	}
	if err := res.Err(h, "probe"); err != nil {
		return health.HostReading{Note: "probe: " + firstLine(err.Error())}
	}
	return service.ParseProbe(n, string(res.Stdout))
}

// transport names a failure to reach n's host: "ssh: ..." or "local: ...".
func transport(n *cluster.Node, err error) string {
	kind := n.Connection
	if kind == "" {
		kind = "ssh"
	}
	msg := firstLine(err.Error())
	msg = strings.TrimPrefix(msg, n.Name+": ")
	return kind + ": " + msg
}

// firstLine is s's first line: a table cell (status's FDS column) holds
// no more of an error.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
