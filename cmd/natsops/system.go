package main

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/natsops/natsops/pkg/bench"
	"github.com/natsops/natsops/pkg/remote"
)

// system is the world a command runs in: streams, environment, terminal.
// Tests build their own; nothing reads os.* directly.
type system struct {
	// ctx is the commands' context (context.Background when nil); tests
	// cancel it to stand in for Ctrl-C.
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	args   []string
	getenv func(string) (string, bool)
	// isTTY reports whether the stream is an interactive terminal.
	isTTY func(any) bool
	// sshEnv reads the operator's SSH environment (home, user,
	// ~/.ssh/config, SSH_AUTH_SOCK).
	sshEnv func() (remote.Env, error)
	// nofile is this process's open-files limit (soft, hard); nil:
	// unknown, and bench does not check it.
	nofile func() (soft, hard uint64, err error)
}

func newSystem() *system {
	return &system{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		args:   os.Args[1:],
		getenv: os.LookupEnv,
		sshEnv: remote.LoadEnv,
		nofile: bench.ClientNoFile,
		isTTY: func(f any) bool {
			if fd, ok := f.(interface{ Fd() uintptr }); ok {
				return term.IsTerminal(int(fd.Fd()))
			}
			return false
		},
	}
}
