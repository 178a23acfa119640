// Package remote runs commands and installs files on the hosts of an
// inventory: over SSH (golang.org/x/crypto/ssh, host keys always verified)
// or, for localhost nodes, as local processes. Every remote command string
// is built with Quote, so no inventory value can change a command.
//
// It knows nothing about NATS or tuning: callers (pkg/tune, the rollout)
// decide what to run; this package decides how to reach the host.
package remote

import (
	"context"
	"fmt"
	"strings"
)

// Host is one reachable machine. Implementations are safe for use by one
// goroutine at a time per command; a Host is reused for every step of a run.
type Host interface {
	// Name is the node name used in messages and output prefixes.
	Name() string
	// Run runs a shell command (sh -c semantics). With Sudo, it runs as
	// root through `sudo -n` unless already root. A non-zero exit is not an
	// error: it is in Result.ExitCode. Errors are transport failures.
	Run(ctx context.Context, cmd string, opts RunOptions) (*Result, error)
	// Close releases the connection.
	Close() error
}

// RunOptions modify one command.
type RunOptions struct {
	Sudo  bool
	Stdin []byte
}

// Result is a finished command.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// OK reports a zero exit code.
func (r *Result) OK() bool { return r.ExitCode == 0 }

// Err turns a failed command into an error naming the host and the
// command's own words.
func (r *Result) Err(h Host, what string) error {
	if r.OK() {
		return nil
	}
	msg := strings.TrimSpace(string(r.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(r.Stdout))
	}
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("%s: %s: exit %d: %s", h.Name(), what, r.ExitCode, msg)
}

// Script runs script on h with o and returns what it printed on stdout.
// Not being able to run it, or a non-zero exit (Result.Err: the host,
// what, the exit code and the script's last words), is the error.
func Script(ctx context.Context, h Host, what, script string, o RunOptions) ([]byte, error) {
	res, err := h.Run(ctx, script, o)
	if err != nil {
		return nil, err
	}
	if err := res.Err(h, what); err != nil {
		return nil, err
	}
	return res.Stdout, nil
}

// ErrSudoPassword means sudo wanted a password and natsops ran it with -n.
type ErrSudoPassword struct{ Host string }

func (e *ErrSudoPassword) Error() string {
	return fmt.Sprintf("%s: sudo needs a password; give the SSH user passwordless sudo (NOPASSWD in /etc/sudoers.d/), or run natsops with --ask-become-pass", e.Host)
}

// sudoFailed recognises sudo -n refusing for want of a password.
func sudoFailed(host string, res *Result) error {
	if res.ExitCode == 1 && strings.Contains(string(res.Stderr), "sudo: a password is required") {
		return &ErrSudoPassword{Host: host}
	}
	return nil
}

// Quote returns s as one POSIX shell word: single-quoted, with embedded
// single quotes closed, escaped and reopened. Any byte string survives a
// round trip through sh -c unchanged (fuzzed).
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Command joins a program and its arguments into a shell command, quoting
// every word.
func Command(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
