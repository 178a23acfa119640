package remote

import (
	"context"

	"github.com/natsops/natsops/pkg/cluster"
)

// Connect reaches one inventory node: a Local host for
// `connection = "local"` (ssh.sudo = false applies to it too), otherwise
// an SSH connection to the node's resolved Target.
func Connect(ctx context.Context, n *cluster.Node, inventoryDir string, env Env, opts DialOptions) (Host, error) {
	if n.Connection == "local" {
		return &Local{NodeName: n.Name, NoSudo: n.SSH.Sudo != nil && !*n.SSH.Sudo}, nil
	}
	t, err := TargetFromNode(n, inventoryDir, env)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, t, opts)
}

// ConnectAll connects to every node in parallel (at most parallel at once).
// hosts[i] is nil where results[i].Err says why; the caller closes the
// others (CloseAll).
func ConnectAll(ctx context.Context, nodes []*cluster.Node, inventoryDir string, env Env, opts DialOptions, parallel int) ([]Host, Results) {
	hosts := make([]Host, len(nodes))
	idx := make([]int, len(nodes))
	for i := range idx {
		idx[i] = i
	}
	rs := Each(ctx, idx, parallel, func(i int) string { return nodes[i].Name }, func(ctx context.Context, i int) error {
		h, err := Connect(ctx, nodes[i], inventoryDir, env, opts)
		hosts[i] = h
		return err
	})
	return hosts, rs
}

// CloseAll closes every non-nil host.
func CloseAll(hosts []Host) {
	for _, h := range hosts {
		if h != nil {
			h.Close()
		}
	}
}
