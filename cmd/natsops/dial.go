package main

import (
	"context"
	"os"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// connector reaches inventory nodes for one run: the operator's SSH
// environment (~/.ssh/config, home, SSH_AUTH_SOCK) is read once, prompts
// (key passphrases, --ask-become-pass) go to the terminal, and each host
// is dialled once (the pool); close closes them.
type connector struct {
	inv  *cluster.Inventory
	env  remote.Env
	opts remote.DialOptions
	pool *remote.Pool
}

// connector builds the run's connector, asking for the sudo password first
// when --ask-become-pass is set.
func (g *globals) connector(inv *cluster.Inventory) (*connector, error) {
	env, err := g.sys.sshEnv()
	if err != nil {
		return nil, err
	}
	opts := remote.DialOptionsFromEnv(env)
	opts.Stderr = g.sys.stderr
	tty, _ := g.sys.stdin.(*os.File)
	if tty != nil && g.sys.isTTY(tty) {
		opts.Prompter = remote.TerminalPrompter(tty)
	}
	if g.askBecomePass {
		if tty == nil || !g.sys.isTTY(tty) {
			return nil, usageError("--ask-become-pass needs a terminal to ask on")
		}
		pw, err := remote.ReadPassword(tty, "sudo password: ")
		if err != nil {
			return nil, err
		}
		opts.BecomePassword = pw
	}
	c := &connector{inv: inv, env: env, opts: opts}
	c.pool = remote.NewPool(func(ctx context.Context, n *cluster.Node) (remote.Host, error) {
		return remote.Connect(ctx, n, c.inv.Dir, c.env, c.opts)
	})
	return c, nil
}

func (c *connector) connect(ctx context.Context, n *cluster.Node) (remote.Host, error) {
	return c.pool.Connect(ctx, n)
}

func (c *connector) close() { c.pool.Close() }
