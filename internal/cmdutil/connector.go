package cmdutil

import (
	"context"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// Connector reaches inventory nodes for one run: the operator's SSH
// environment (~/.ssh/config, home, SSH_AUTH_SOCK) is read once, prompts
// (key passphrases, --ask-become-pass) go to the terminal, and each host
// is dialled once (the pool); Close closes them.
type Connector struct {
	inv  *cluster.Inventory
	env  remote.Env
	opts remote.DialOptions
	pool *remote.Pool
}

// Connector builds the run's connector, asking for the sudo password first
// when --ask-become-pass is set.
func (f *Factory) Connector(inv *cluster.Inventory) (*Connector, error) {
	env, err := f.Sys.SSHEnv()
	if err != nil {
		return nil, err
	}
	opts := remote.DialOptionsFromEnv(env)
	opts.Stderr = f.Sys.Stderr
	tty := f.Terminal()
	if tty != nil {
		opts.Prompter = remote.TerminalPrompter(tty)
	}
	if f.Global.AskBecomePass {
		if tty == nil {
			return nil, Usage("--ask-become-pass needs a terminal to ask on")
		}
		pw, err := remote.ReadPassword(tty, "sudo password: ")
		if err != nil {
			return nil, err
		}
		opts.BecomePassword = pw
	}
	c := &Connector{inv: inv, env: env, opts: opts}
	c.pool = remote.NewPool(func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		return remote.Connect(ctx, n, c.inv.Dir, c.env, c.opts)
	})
	return c, nil
}

// Connect is the node's host (dialled once per run).
func (c *Connector) Connect(ctx context.Context, n *cluster.Node) (remote.Host, error) {
	return c.pool.Connect(ctx, n)
}

// Close closes every connection.
func (c *Connector) Close() { c.pool.Close() }

// Owner is user@host: the rollout lock's owner and the audit's who.
func (f *Factory) Owner(c *Connector) string {
	return c.env.User + "@" + f.Sys.Hostname()
}

// Home is the operator's home directory as the SSH environment has it.
func (c *Connector) Home() string { return c.env.Home }
