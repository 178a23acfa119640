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
