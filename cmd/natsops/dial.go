package main

import (
	"context"
	"fmt"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// dialOptions are the connection settings from global flags.
type dialOptions struct{}

func (g *globals) dialOptions() dialOptions { return dialOptions{} }

// dialNode connects to a node: local processes for connection = "local",
// SSH otherwise.
func dialNode(ctx context.Context, inv *cluster.Inventory, n *cluster.Node, _ dialOptions) (remote.Host, error) {
	if n.Connection == "local" {
		return &remote.Local{NodeName: n.Name}, nil
	}
	return nil, fmt.Errorf("%s: SSH transport not available yet", n.Name)
}
