package main

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// system is the world a command runs in: streams, environment, terminal.
// Tests build their own; nothing reads os.* directly.
type system struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	args   []string
	getenv func(string) (string, bool)
	// isTTY reports whether the stream is an interactive terminal.
	isTTY func(any) bool
	// dial connects to a node.
	dial func(ctx context.Context, inv *cluster.Inventory, n *cluster.Node, o dialOptions) (remote.Host, error)
}

func newSystem() *system {
	return &system{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		args:   os.Args[1:],
		getenv: os.LookupEnv,
		dial:   dialNode,
		isTTY: func(f any) bool {
			if fd, ok := f.(interface{ Fd() uintptr }); ok {
				return term.IsTerminal(int(fd.Fd()))
			}
			return false
		},
	}
}
