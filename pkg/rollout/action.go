package rollout

import (
	"context"

	"github.com/natsops/natsops/pkg/remote"
)

// Kind is how a node's change reaches its running server.
type Kind string

// Kinds of change.
const (
	// Restart stops the node (lame duck or fast), starts it and waits
	// until it is back on itself and on its peers.
	Restart Kind = "restart"
	// Reload signals the running server (SIGHUP) and waits until /varz
	// shows it loaded the new config and the node serves.
	Reload Kind = "reload"
	// Install only puts files in place; the running server is not
	// touched.
	Install Kind = "install"
	// Remove takes the node out of the cluster: stop (lame duck or
	// fast), disable its service, and (a Leaver) remove it from the
	// JetStream meta group; then wait until the rest of the cluster is
	// healthy without it.
	Remove Kind = "remove"
)

// Digester is an Action that knows the config digest the server reports
// (/varz config_digest, nats-server 2.11 and later) once it runs the new
// config: a reload is confirmed by it, and a restarted server that runs
// another config (its unit reads another file) is a failure.
type Digester interface {
	Digest() string
}

// Upgrader is an Action that knows whether its node runs another
// nats-server version after its restart: that first start may take long
// (nats-server#4914), so its wait is bounded by Options.StartTimeout
// instead of NodeTimeout.
type Upgrader interface {
	Upgrade() bool
}

// Leaver is an Action whose node, once stopped, must also leave the
// JetStream meta group (a peer removal through the system account).
type Leaver interface {
	Leave(ctx context.Context) error
}

// Action is one node's change (a deploy), run by the engine with the
// cluster's lock held: before touching any node the engine calls Check on
// every node with an action; then, one node at a time, Install, the
// reload or restart its Kind asks for, and the wait until the node is
// back. When the node does not come back, the engine calls Restore and
// reloads or restarts it again, and says what that rollback really did.
// A node without an action is restarted (natsops restart).
type Action interface {
	// Kind says how the running server takes the change.
	Kind() Kind
	// Check confirms, under the lock, that the node is still as the plan
	// saw it (another run may have changed it since it was read). It
	// changes nothing.
	Check(ctx context.Context, h remote.Host) error
	// Install puts the new files in place, each atomically. An error
	// means the node is as it was (the action undoes its own partial
	// install).
	Install(ctx context.Context, h remote.Host) error
	// Restore puts back what Install replaced. The engine passes a
	// context that Ctrl-C does not cancel.
	Restore(ctx context.Context, h remote.Host) error
}

// kindOf is how a node with action a (nil: none) takes its change.
func kindOf(a Action) Kind {
	if a != nil {
		return a.Kind()
	}
	return Restart
}
