package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ConnOptions configure a connection ramp.
type ConnOptions struct {
	Targets []Target
	Auth    Auth
	// Target connections in all, in cumulative steps of Step, each held
	// for Hold before the next.
	Target, Step int
	Hold         time.Duration
	// Client is ClientLean (default) or ClientNATS.
	Client string
	// HandshakeTimeout bounds one connection's TCP connect, INFO and
	// PONG (default 10s: the seed's clients needed 30s past 20,000
	// connections with the old 2s default).
	HandshakeTimeout time.Duration
	// Parallel connections opened at once (default 16).
	Parallel int
	Monitor  Monitor
	// HostFDs, when set, reads a node's running server from its host:
	// descriptors open and its open-files soft limit (/proc/<pid>/fd and
	// /proc/<pid>/limits; /varz says neither). cmd wires it to the probe
	// status and check use. Nil or ok=false: unknown, and the stop cause
	// is told from the symptoms.
	HostFDs func(ctx context.Context, node string) (open, limit int, ok bool)
	// Capacity, when set, is a node's connection capacity as status
	// shows it (min(max_connections, fd soft limit − reserve)) and what
	// bounds it, from the node's max_connections and connections before
	// the ramp; nil or 0: max_connections.
	Capacity func(ctx context.Context, node string, maxConns, conns int) (capacity int, limit string)
	// OnProgress is called as connections open (a progress bar).
	OnProgress func(held, target int)
	// OnStep is called after every step with its reading.
	OnStep func(Step)
}

// NodeReading is one node's /varz after a step.
type NodeReading struct {
	Node        string `json:"node"`
	Held        int    `json:"held"`
	Connections int    `json:"connections"`
	MaxConns    int    `json:"max_connections"`
	// Capacity is the connections the node can take, as status shows
	// it: max_connections, or fewer when its open-files limit bounds it
	// (CapacityLimit "fds").
	Capacity      int    `json:"capacity"`
	CapacityLimit string `json:"capacity_limit"`
	MemBytes      int64  `json:"mem_bytes"`
	// MemPer1k is the server's RSS growth per 1,000 connections since
	// before the ramp (0: not measurable: no growth of connections or
	// memory; never negative).
	MemPer1k int64 `json:"mem_per_1k_bytes"`
	// SlowConsumers is /varz slow_consumers (pubsub).
	SlowConsumers int64  `json:"-"`
	MaxPayload    int64  `json:"-"`
	Error         string `json:"error,omitempty"`
}

// Step is one step of a ramp.
type Step struct {
	Event   string `json:"event"` // "step"
	Step    int    `json:"step"`
	Want    int    `json:"want"`
	Held    int    `json:"held"`
	Dropped int    `json:"dropped"`
	// OpenMS: the time to open this step's connections.
	OpenMS int64         `json:"open_ms"`
	Nodes  []NodeReading `json:"nodes"`
	// ClientMem: this process's memory from the Go runtime (Sys −
	// HeapReleased) and its growth per 1,000 connections.
	ClientMem      uint64 `json:"client_mem_bytes"`
	ClientMemPer1k int64  `json:"client_mem_per_1k_bytes"`
	Cause          Cause  `json:"cause,omitempty"`
}

// ConnResult is a whole ramp.
type ConnResult struct {
	Target int    `json:"target"`
	Client string `json:"client"`
	// Held: the most connections held at once.
	Held  int    `json:"held"`
	Steps []Step `json:"steps"`
	Cause Cause  `json:"cause"`
	// Detail: the failure that stopped it, as the client saw it (node,
	// phase, error; never a secret).
	Detail string `json:"detail,omitempty"`
	Node   string `json:"node,omitempty"`
	// HostFDsOpen and HostFDLimit: the failing node's server as its host
	// showed it at the failure (0: not read).
	HostFDsOpen int `json:"host_fds_open,omitempty"`
	HostFDLimit int `json:"host_fd_limit,omitempty"`
	// Down: selected nodes whose monitoring did not answer before the
	// ramp: not benched.
	Down   []NodeDown `json:"down,omitempty"`
	RampMS int64      `json:"ramp_ms"`
	// Closed: connections closed at the end (all of them, also on
	// failure and Ctrl-C).
	Closed int `json:"closed"`
}

// NodeDown is a node left out.
type NodeDown struct {
	Node  string `json:"node"`
	Error string `json:"error"`
}

// Reached reports whether the target was held.
func (r *ConnResult) Reached() bool { return r.Cause == CauseTargetReached }

// monitorTimeout bounds one /varz read; a server out of fds never
// answers, and its silence is part of the reading.
const monitorTimeout = 3 * time.Second

// readings reads every target's /varz.
func readings(ctx context.Context, m Monitor, ts []Target) []NodeReading {
	out := make([]NodeReading, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), monitorTimeout)
			defer cancel()
			out[i].Node = t.Node
			v, err := m.Varz(c, t.MonitorURL)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Connections, out[i].MaxConns, out[i].MemBytes, out[i].SlowConsumers = v.Connections, v.MaxConnections, v.Mem, v.SlowConsumers
			out[i].MaxPayload = v.MaxPayload
		}()
	}
	wg.Wait()
	return out
}

// liveTargets splits targets into those whose /varz answers (with the
// baseline reading) and those down.
func liveTargets(ctx context.Context, m Monitor, ts []Target) ([]Target, []NodeReading, []NodeDown) {
	var live []Target
	var base []NodeReading
	var down []NodeDown
	for i, r := range readings(ctx, m, ts) {
		if r.Error != "" {
			down = append(down, NodeDown{Node: r.Node, Error: r.Error})
			continue
		}
		live = append(live, ts[i])
		base = append(base, r)
	}
	return live, base, down
}

func clientMem() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys - ms.HeapReleased
}

// ErrNoNode: no selected node answered.
var ErrNoNode = errors.New("no selected node answers on its monitoring port")

// Connections ramps idle connections over the targets (round robin) in
// steps until Target or the first failure, then closes every one of them
// (also on failure, Ctrl-C and the context's deadline). The context's
// deadline is the bench's --timeout; Ctrl-C is its cancellation.
func Connections(ctx context.Context, o ConnOptions) (*ConnResult, error) {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.Client == "" {
		o.Client = ClientLean
	}
	var dial dialer
	switch o.Client {
	case ClientLean:
		dial = leanDialer(o.Auth, o.HandshakeTimeout)
	case ClientNATS:
		dial = natsDialer(o.Auth, o.HandshakeTimeout)
	default:
		return nil, fmt.Errorf("unknown client %q (lean or nats)", o.Client)
	}
	res := &ConnResult{Target: o.Target, Client: o.Client, Steps: []Step{}}
	targets, base, down := liveTargets(ctx, o.Monitor, o.Targets)
	for i := range base {
		base[i].Capacity, base[i].CapacityLimit = base[i].MaxConns, "max_connections"
		if o.Capacity != nil {
			if c, l := o.Capacity(ctx, base[i].Node, base[i].MaxConns, base[i].Connections); c > 0 {
				base[i].Capacity, base[i].CapacityLimit = c, l
			}
		}
	}
	res.Down = down
	if len(targets) == 0 {
		return res, ErrNoNode
	}
	perNode := make([]int, len(targets))
	var (
		mu      sync.Mutex
		conns   []held
		dropped atomic.Int64
		lostErr atomic.Value
	)
	lost := func(err error) {
		dropped.Add(1)
		lostErr.CompareAndSwap(nil, err)
	}
	defer func() {
		// Close everything, in parallel: a closing lean connection waits
		// for its reader.
		var wg sync.WaitGroup
		ch := make(chan held)
		for range o.Parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range ch {
					c.Close()
				}
			}()
		}
		for _, c := range conns {
			ch <- c
		}
		close(ch)
		wg.Wait()
		res.Closed = len(conns)
	}()
	mem0 := clientMem()
	begin := time.Now()
	next := 0 // index of the next connection
	for si, want := range Steps(o.Target, o.Step) {
		stepStart := time.Now()
		var first *Failure
		var fmu sync.Mutex
		sctx, cancel := context.WithCancel(ctx)
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range o.Parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					ti := i % len(targets)
					c, f := dial(sctx, targets[ti], i, lost)
					if f != nil {
						fmu.Lock()
						if first == nil && sctx.Err() == nil {
							first = f
						}
						fmu.Unlock()
						cancel()
						continue
					}
					mu.Lock()
					conns = append(conns, c)
					perNode[ti]++
					n := len(conns)
					mu.Unlock()
					if o.OnProgress != nil {
						o.OnProgress(n, o.Target)
					}
				}
			}()
		}
	feed:
		for ; next < want; next++ {
			select {
			case jobs <- next:
			case <-sctx.Done():
				break feed
			}
		}
		close(jobs)
		wg.Wait()
		cancel()
		st := Step{Event: "step", Step: si + 1, Want: want, OpenMS: time.Since(stepStart).Milliseconds()}
		// Hold the step, also one that failed: what the ramp holds at the
		// limit stays for --hold, for the operator's status and check to
		// see, and the host is read while it is held.
		if ctx.Err() == nil && o.Hold > 0 {
			t := time.NewTimer(o.Hold)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		st.Held = len(conns) - int(dropped.Load())
		st.Dropped = int(dropped.Load())
		res.Held = max(res.Held, st.Held)
		st.Nodes = readings(ctx, o.Monitor, targets)
		for i := range st.Nodes {
			st.Nodes[i].Held = perNode[i]
			st.Nodes[i].Capacity, st.Nodes[i].CapacityLimit = base[i].Capacity, base[i].CapacityLimit
			if st.Nodes[i].Error == "" {
				st.Nodes[i].MemPer1k = PerThousand(base[i].MemBytes, st.Nodes[i].MemBytes, base[i].Connections, st.Nodes[i].Connections)
			}
		}
		st.ClientMem = clientMem()
		st.ClientMemPer1k = PerThousand(int64(mem0), int64(st.ClientMem), 0, len(conns))
		f := first
		if f == nil && st.Dropped > 0 {
			err, _ := lostErr.Load().(error)
			f = &Failure{Node: "?", Phase: PhaseHold, Err: err}
		}
		cctx := Context{Interrupted: errors.Is(ctx.Err(), context.Canceled), TimedOut: errors.Is(ctx.Err(), context.DeadlineExceeded)}
		if f != nil || cctx.Interrupted || cctx.TimedOut {
			if f != nil {
				res.Detail, res.Node = f.Error(), f.Node
				for i, t := range targets {
					if t.Node != f.Node {
						continue
					}
					cctx.MonitorAnswers = st.Nodes[i].Error == ""
					cctx.Connections, cctx.MaxConnections = st.Nodes[i].Connections, st.Nodes[i].MaxConns
					if o.HostFDs != nil {
						if open, l, ok := o.HostFDs(ctx, t.Node); ok {
							cctx.HostFDsOpen, cctx.HostFDLimit = open, l
							res.HostFDsOpen, res.HostFDLimit = open, l
						}
					}
				}
			}
			st.Cause = Classify(f, cctx)
			res.Cause = st.Cause
		}
		if o.OnStep != nil {
			o.OnStep(st)
		}
		res.Steps = append(res.Steps, st)
		if res.Cause != "" {
			break
		}
	}
	if res.Cause == "" {
		res.Cause = CauseTargetReached
	}
	res.RampMS = time.Since(begin).Milliseconds()
	if res.Cause == CauseAuth {
		return res, &AuthError{Auth: o.Auth, Node: res.Node, Msg: "Authorization Violation"}
	}
	return res, nil
}
