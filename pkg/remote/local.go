package remote

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
)

// Local runs commands on this machine, for `connection = "local"` nodes
// (the demo cluster). Sudo is honoured only when not already root, and
// not at all with NoSudo.
type Local struct {
	NodeName string
	// NoSudo: the inventory says the node needs no sudo (ssh.sudo = false,
	// as for the demo's nodes, which run as the user in a directory of
	// theirs): privileged commands run as this user.
	NoSudo bool
}

// Name implements Host.
func (l *Local) Name() string { return l.NodeName }

// Run implements Host.
func (l *Local) Run(ctx context.Context, cmd string, opts RunOptions) (*Result, error) {
	argv := []string{"sh", "-c", cmd}
	if opts.Sudo && !l.NoSudo && os.Geteuid() != 0 {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if opts.Stdin != nil {
		c.Stdin = bytes.NewReader(opts.Stdin)
	}
	err := c.Run()
	res := &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		if opts.Sudo {
			if serr := sudoFailed(l.NodeName, res); serr != nil {
				return res, serr
			}
		}
		return res, ctx.Err()
	}
	return res, err
}

// Close implements Host.
func (l *Local) Close() error { return nil }
