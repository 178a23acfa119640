package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natsadmin"
)

// leaver takes a stopped server out of the JetStream meta group.
type leaver interface {
	leave(ctx context.Context, server string) error
}

// systemLeaver asks the meta leader, as the inventory's system account
// user, to remove a server ($JS.API.SERVER.REMOVE: what `nats server raft
// peer-remove` sends).
type systemLeaver struct {
	client *natsadmin.Client
}

// newLeaver is the inventory's system account client, or nil when it
// names no system user (or its password cannot be resolved: the render
// already said why).
func newLeaver(inv *cluster.Inventory, env cluster.Env) leaver {
	if inv == nil {
		return nil
	}
	c, err := natsadmin.New(inv, inv.Nodes, env)
	if err != nil {
		return nil
	}
	return &systemLeaver{client: c}
}

// removeAttempts bounds the retries while the meta group settles after a
// node stopped (a leader election can leave a request without a reply);
// a refusal is final.
const removeAttempts = 10

func (l *systemLeaver) leave(ctx context.Context, server string) error {
	nc, err := l.client.Connect("natsops peer-remove")
	if err != nil {
		return err
	}
	defer nc.Close()
	// The request names the server by name in "peer" (its ID would be
	// "peer_id"), in 2.9 as in 2.15; natsadmin.Remove counts a server
	// already out of the group as removed.
	var last error
	for i := 0; i < removeAttempts; i++ {
		err := natsadmin.Remove(ctx, nc, server)
		var refused *natsadmin.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &refused):
			return fmt.Errorf("the meta leader refused: %w", refused)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if errors.Is(last, natsadmin.ErrUnsupported) {
		return fmt.Errorf("no JetStream meta leader answers (%s): %w", natsadmin.SubjectRemove, last)
	}
	return last
}
