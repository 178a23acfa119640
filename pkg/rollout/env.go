package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
)

// env is what every part of one rollout shares, the sequencer and each
// node's steps alike, fixed once the hosts are connected: the options
// (defaults applied), the clock, the hosts, how the cluster is read, and
// where steps, errors and progress are told. Neither side reaches into
// the other through it.
type env struct {
	opts  Options
	clock fleet.Clock
	read  fleet.Reader
	// inv is the cluster with every node the rollout knows (joining and
	// leaving ones included); across is the rest of its estate.
	inv    *cluster.Inventory
	across Across
	hosts  map[string]remote.Host
	// command names the natsops command in errors' advice.
	command  string
	emit     func(Event)
	progress progress.Func
	every    time.Duration
}

// newEnv is cfg's env, its hosts not connected yet. Events and progress
// reports reach the caller one at a time: a bootstrap's come from every
// node at once, and a stop's exit is reported from a goroutine.
func newEnv(cfg Config) *env {
	e := &env{
		opts:    withDefaults(cfg.Options),
		clock:   cfg.Clock,
		read:    fleet.Reader{Monitor: cfg.Monitor, URL: cfg.URL, Options: cfg.Across.Options},
		inv:     cfg.Inventory,
		across:  cfg.Across,
		command: cfg.Command,
		every:   cfg.ProgressEvery,
	}
	if e.clock == nil {
		e.clock = fleet.RealClock{}
	}
	var mu sync.Mutex
	events := cfg.Events
	if events == nil {
		events = func(Event) {}
	}
	e.emit = func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		events(ev)
	}
	if f := cfg.Progress; f != nil {
		e.progress = func(r progress.Report) {
			mu.Lock()
			defer mu.Unlock()
			f(r)
		}
	}
	return e
}

// event tells a step's result, timed from since.
func (e *env) event(node, step, result string, since time.Time, format string, args ...any) {
	e.emit(Event{Node: node, Step: step, Result: result, ElapsedMS: e.clock.Now().Sub(since).Milliseconds(), Detail: fmt.Sprintf(format, args...)})
}

// errorf is x, advising the rollout's command.
func (e *env) errorf(x *Error) *Error {
	x.command = e.command
	return x
}

// readAll reads nodes and the estate's observed nodes into into.
func (e *env) readAll(ctx context.Context, nodes []*cluster.Node, into fleet.Snapshots) fleet.Snapshots {
	if len(e.across.Observe) > 0 {
		nodes = append(append([]*cluster.Node(nil), nodes...), e.across.Observe...)
	}
	return e.read.Read(ctx, nodes, into)
}

// estate is the estate's verdict on cur, the cluster as it stands, from
// snaps (nil for a cluster on its own).
func (e *env) estate(cur *cluster.Inventory, snaps fleet.Snapshots) []health.Reason {
	if e.across.Gate == nil {
		return nil
	}
	return e.across.Gate(cur, snaps)
}

// waiting starts a polled wait's progress on the rollout's clock.
func (e *env) waiting(subject, what string, limit time.Duration) *progress.Waiter {
	return progress.StartEvery(e.progress, e.clock.Now(), progress.Report{Subject: subject, Waiting: what, Limit: limit}, e.every)
}

// up reports a node whose monitoring endpoint answers /varz.
func up(s *monitor.Snapshot) bool { return s != nil && s.Varz != nil }

// settlePoll is how often a reading that may clear by itself is taken
// again: preflight's unhealthy cluster, a replica catching up before a
// stop.
const settlePoll = 250 * time.Millisecond
