package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/remote"
)

// HoldConfig is an operation that is not a rollout (rebalance, evacuate,
// ...) taking the same cluster lock a rollout takes: while it holds it no
// restart or deploy starts, and it starts in none's middle.
type HoldConfig struct {
	// Inventory's nodes are locked, every one of them.
	Inventory *cluster.Inventory
	Connect   func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	Clock     fleet.Clock
	// ID names the operation in the lock (the audit run's id).
	ID           string
	Owner        string
	PID          int
	ProcessAlive func(pid int) bool
	// ProcessStart is a local pid's start time (Options.ProcessStart): it
	// goes into the lock, so a later run can tell its holder is dead.
	ProcessStart func(pid int) (start uint64, running bool)
	// Command is the natsops command holding the lock: a lock held by
	// another run is refused advising its --break-lock.
	Command string
	// BreakLock removes another run's lock first.
	BreakLock bool
}

// Holding is a cluster lock taken by Hold; Release gives it back.
type Holding struct {
	lock  *locker
	hosts map[string]remote.Host
}

// Where says which lock files on which nodes, as whom.
func (h *Holding) Where() string {
	return fmt.Sprintf("%s on %s as %s", h.lock.where(), strings.Join(h.lock.locked, ", "), h.lock.info.Owner)
}

// Release drops the lock (also after Ctrl-C) and closes the hosts; a
// resumable rollout's state on the nodes is left as it is.
func (h *Holding) Release() {
	if h == nil {
		return
	}
	h.lock.release(h.lock.locked)
	for _, x := range h.hosts {
		x.Close()
	}
}

// Hold takes the rollout lock on every node of cfg.Inventory. A node that
// cannot be reached, or a lock held by another run, is an *Error of
// KindLock (the holder as *LockHeldError, with the advice of
// --break-lock), and nothing stays locked.
func Hold(ctx context.Context, cfg HoldConfig) (*Holding, error) {
	clock := cfg.Clock
	if clock == nil {
		clock = fleet.RealClock{}
	}
	byName := map[string]*cluster.Node{}
	hosts := map[string]remote.Host{}
	var unreachable []string
	var first error
	for _, n := range cfg.Inventory.Nodes {
		byName[n.Name] = n
		h, err := cfg.Connect(ctx, n)
		if err != nil {
			unreachable = append(unreachable, n.Name)
			if first == nil {
				first = fmt.Errorf("%s: %w", n.Name, err)
			}
			continue
		}
		hosts[n.Name] = h
	}
	closeAll := func() {
		for _, h := range hosts {
			h.Close()
		}
	}
	if first != nil {
		closeAll()
		return nil, &Error{Kind: KindLock, Err: fmt.Errorf("cannot take the cluster lock: %s not reachable: %w", text.Plural(len(unreachable), "node"), first)}
	}
	e := &env{clock: clock, hosts: hosts, command: cfg.Command, opts: Options{BreakLock: cfg.BreakLock, ProcessAlive: cfg.ProcessAlive, ProcessStart: cfg.ProcessStart}}
	l := newLocker(e, byName, LockInfo{ID: cfg.ID, Owner: cfg.Owner, PID: cfg.PID, Started: clock.Now().UTC()})
	if _, err := l.acquire(ctx); err != nil {
		closeAll()
		return nil, &Error{Kind: KindLock, Err: err}
	}
	return &Holding{lock: l, hosts: hosts}, nil
}
