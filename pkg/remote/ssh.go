package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultKeepalive is how often a connection is probed with
// keepalive@openssh.com; a probe unanswered for three intervals (at least
// keepaliveMinWait) closes the connection, and the next Run says why.
const DefaultKeepalive = 15 * time.Second

const keepaliveMinWait = 2 * time.Second

// DialOptions are per-run settings shared by every dial.
type DialOptions struct {
	// AgentSocket is the ssh-agent socket (SSH_AUTH_SOCK); empty: no agent.
	AgentSocket string
	// Prompter asks for encrypted keys' passphrases; nil (no TTY) makes an
	// encrypted key an error that says to load it into ssh-agent.
	Prompter PassphrasePrompter
	// BecomePassword is the sudo password (--ask-become-pass). It is fed
	// to `sudo -S` on stdin, never put on a command line or logged.
	BecomePassword []byte
	// Stderr receives warnings (insecure host key checking, accept-new
	// additions); nil means os.Stderr.
	Stderr io.Writer
	// Keepalive is the keepalive interval; 0 means DefaultKeepalive,
	// negative disables keepalives.
	Keepalive time.Duration
}

// DialOptionsFromEnv fills AgentSocket from env's SSH_AUTH_SOCK.
func DialOptionsFromEnv(env Env) DialOptions {
	return DialOptions{AgentSocket: env.getenv("SSH_AUTH_SOCK")}
}

// Dial connects to t (through its jump hosts), verifies the host key and
// logs in. The returned Host reuses the one connection for every Run.
// Every error is one line naming the node and the cause.
func Dial(ctx context.Context, t Target, opts DialOptions) (Host, error) {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if t.Port == 0 {
		t.Port = 22
	}
	if t.ConnectTimeout <= 0 {
		t.ConnectTimeout = DefaultConnectTimeout
	}
	if t.HostKeyChecking == "" {
		t.HostKeyChecking = HostKeyStrict
	}
	var chain []*ssh.Client
	closeAll := func() {
		for i := len(chain) - 1; i >= 0; i-- {
			chain[i].Close()
		}
	}
	var via *ssh.Client
	for i, hop := range t.ProxyJump {
		c, err := dialOne(ctx, hop, via, opts)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%s (%s): jump host %d/%d: %w", t.Node, t.Addr(), i+1, len(t.ProxyJump), err)
		}
		chain = append(chain, c)
		via = c
	}
	c, err := dialOne(ctx, t, via, opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	h := &SSHHost{t: t, client: c, jumps: chain, become: opts.BecomePassword, done: make(chan struct{})}
	ka := opts.Keepalive
	if ka == 0 {
		ka = DefaultKeepalive
	}
	if ka > 0 {
		go h.keepalive(ka)
	}
	go func() {
		c.Wait() //nolint:errcheck // the reason is reported by the next Run
		h.closeOnce.Do(func() { close(h.done) })
	}()
	return h, nil
}

// dialOne opens one SSH connection to t, directly or through via.
func dialOne(ctx context.Context, t Target, via *ssh.Client, opts DialOptions) (*ssh.Client, error) {
	if t.Port == 0 {
		t.Port = 22
	}
	if t.ConnectTimeout <= 0 {
		t.ConnectTimeout = DefaultConnectTimeout
	}
	hk, err := newHostKeys(t, opts.Stderr)
	if err != nil {
		return nil, err
	}
	auth, err := newAuth(t, opts.AgentSocket, opts.Prompter)
	if err != nil {
		return nil, err
	}
	defer auth.Close()
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth.methods,
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: hk.algos,
		Timeout:           t.ConnectTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, t.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", t.Addr())
	} else {
		conn, err = via.DialContext(dctx, "tcp", t.Addr())
	}
	if err != nil {
		return nil, dialError(t, err, ctx, dctx)
	}
	// The handshake is bounded by the same deadline and by ctx.
	if dl, ok := dctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.Addr(), cfg)
	stopped := stop()
	if err != nil {
		conn.Close()
		var herr *HostKeyError
		if errors.As(err, &herr) {
			return nil, herr
		}
		if !stopped || dctx.Err() != nil || isTimeout(err) {
			return nil, dialError(t, err, ctx, dctx)
		}
		return nil, handshakeError(t, err, auth, hk)
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck
	return ssh.NewClient(sc, chans, reqs), nil
}

// dialError turns a connect failure into one line with a hint.
func dialError(t Target, err error, ctx, dctx context.Context) error {
	msg := err.Error()
	hint := ""
	switch {
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", t.label(), ctx.Err())
	case strings.Contains(msg, "connection refused"):
		msg, hint = "connection refused", " — is sshd running / the port right?"
	case errors.Is(err, context.DeadlineExceeded) || dctx.Err() != nil || isTimeout(err):
		msg, hint = fmt.Sprintf("timed out after %s", t.ConnectTimeout), " — is the host up and reachable (network, firewall)?"
	case strings.Contains(msg, "no route to host"):
		msg, hint = "no route to host", " — is the host up and the address right?"
	case strings.Contains(msg, "network is unreachable"):
		msg, hint = "network is unreachable", ""
	case isDNS(err):
		msg, hint = fmt.Sprintf("cannot resolve %q", t.Host), " — check the host name (or its HostName in ~/.ssh/config)"
	case strings.Contains(msg, "administratively prohibited") || strings.Contains(msg, "ssh: rejected"):
		hint = " — the jump host refused to forward the connection (AllowTcpForwarding?)"
	}
	return &Error{Node: t.Node, Label: t.label(), Msg: msg + hint, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "i/o timeout")
}

func isDNS(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

func handshakeError(t Target, err error, auth *authSetup, hk *hostKeys) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		tried := strings.Join(auth.tried, ", ")
		if tried == "" {
			tried = "nothing"
		}
		s := fmt.Sprintf("authentication refused for %s@%s (tried: %s)", t.User, t.Addr(), tried)
		if len(auth.skipped) > 0 {
			s += fmt.Sprintf("; skipped encrypted %s: no terminal to ask its passphrase, load it into ssh-agent (ssh-add)", strings.Join(auth.skipped, ", "))
		}
		s += fmt.Sprintf(" — is the public key in ~%s/.ssh/authorized_keys on the host?", t.User)
		return &Error{Node: t.Node, Label: t.label(), Msg: s, Err: err}
	case strings.Contains(msg, "no common algorithm for host key") && len(hk.known) > 0:
		nor := ""
		if len(hk.db.authorities()) > 0 {
			nor = " (nor a certificate)"
		}
		return &Error{Node: t.Node, Label: t.label(), Msg: fmt.Sprintf("HOST KEY TYPE CHANGED — refusing to connect: known_hosts has %s for this host and the server offers none of those key types%s; this may be a man-in-the-middle attack; if the host was reinstalled, replace that entry", knownList(hk.known), nor), Err: err}
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset"):
		return &Error{Node: t.Node, Label: t.label(), Msg: "connection closed during the SSH handshake — is it an SSH server, and does it allow this client (MaxStartups, AllowUsers)?", Err: err}
	}
	return &Error{Node: t.Node, Label: t.label(), Msg: strings.TrimPrefix(msg, "ssh: handshake failed: "), Err: err}
}

// Error is a transport failure: one line, starting with the node.
type Error struct {
	Node  string
	Label string // "n2 (10.0.0.2:22)"
	Msg   string
	Err   error
}

func (e *Error) Error() string { return e.Label + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// SSHHost is a Host over one SSH connection.
type SSHHost struct {
	t      Target
	client *ssh.Client
	jumps  []*ssh.Client
	become []byte

	done      chan struct{}
	closeOnce sync.Once

	lostMu sync.Mutex
	lost   string // why the keepalive closed the connection

	sudoMu    sync.Mutex
	sudoMode  sudoMode
	sudoProbe error
}

type sudoMode int

const (
	sudoUnknown  sudoMode = iota
	sudoNoPass            // sudo -n works
	sudoPassword          // sudo -S -k with the become password
)

// Name implements Host.
func (h *SSHHost) Name() string { return h.t.Node }

// Target is what h was dialled with.
func (h *SSHHost) Target() Target { return h.t }

// Close implements Host: closes the connection and the jump connections.
func (h *SSHHost) Close() error {
	err := h.client.Close()
	for i := len(h.jumps) - 1; i >= 0; i-- {
		h.jumps[i].Close()
	}
	h.closeOnce.Do(func() { close(h.done) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (h *SSHHost) keepalive(every time.Duration) {
	// Like OpenSSH's ServerAliveCountMax=3: a probe unanswered for three
	// intervals (and at least keepaliveMinWait) means the peer is gone.
	window := max(3*every, keepaliveMinWait)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := h.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timer := time.NewTimer(window)
		select {
		case err := <-replied:
			timer.Stop()
			if err != nil {
				h.setLost(fmt.Sprintf("keepalive failed: %v", err))
				h.client.Close()
				return
			}
		case <-timer.C:
			h.setLost(fmt.Sprintf("no answer to a keepalive within %s — host down or network cut", window))
			h.client.Close()
			return
		case <-h.done:
			timer.Stop()
			return
		}
	}
}

func (h *SSHHost) setLost(why string) {
	h.lostMu.Lock()
	defer h.lostMu.Unlock()
	h.lost = why
}

// sessionErr explains a failed session: the keepalive's verdict if it
// closed the connection, else the transport's words.
func (h *SSHHost) sessionErr(err error) string {
	h.lostMu.Lock()
	defer h.lostMu.Unlock()
	if h.lost != "" {
		return h.lost
	}
	var em *ssh.ExitMissingError
	if errors.As(err, &em) || errors.Is(err, io.EOF) {
		return "the host closed the session without an exit status (host down, sshd restarted, or network cut)"
	}
	return err.Error()
}

// Run implements Host: cmd runs under `sh -c`; with opts.Sudo (and a
// non-root user whose inventory has sudo on) under `sudo -n`, or, with a
// become password, `sudo -S -k` with an empty prompt, fed the password on stdin.
func (h *SSHHost) Run(ctx context.Context, cmd string, opts RunOptions) (*Result, error) {
	line := "sh -c " + Quote(cmd)
	stdin := opts.Stdin
	if opts.Sudo && h.t.Sudo && h.t.User != "root" {
		mode, err := h.sudo(ctx)
		if err != nil {
			return &Result{ExitCode: 1}, err
		}
		if mode == sudoPassword {
			line = "sudo -S -k -p '' -- " + line
			stdin = append(append(append([]byte{}, h.become...), '\n'), opts.Stdin...)
		} else {
			line = "sudo -n -- " + line
		}
	}
	res, err := h.exec(ctx, line, stdin, opts.Stdin != nil || stdin != nil)
	if err != nil {
		return res, err
	}
	if opts.Sudo {
		if serr := sudoFailed(h.t.Node, res); serr != nil {
			return res, serr
		}
	}
	return res, nil
}

// sudo decides, once per connection, whether sudo needs the become
// password: `sudo -n true` first; if that wants a password and one was
// given, it is checked with `sudo -S -k true` so that a wrong password is
// reported once and never consumes a command's own stdin.
func (h *SSHHost) sudo(ctx context.Context) (sudoMode, error) {
	h.sudoMu.Lock()
	defer h.sudoMu.Unlock()
	if h.sudoMode != sudoUnknown {
		return h.sudoMode, nil
	}
	if h.sudoProbe != nil {
		return sudoUnknown, h.sudoProbe
	}
	res, err := h.exec(ctx, "sudo -n true", nil, false)
	if err != nil {
		return sudoUnknown, err
	}
	if res.OK() {
		h.sudoMode = sudoNoPass
		return h.sudoMode, nil
	}
	if serr := sudoFailed(h.t.Node, res); serr == nil {
		h.sudoProbe = fmt.Errorf("%s: sudo does not work for %s: exit %d: %s", h.t.Node, h.t.User, res.ExitCode, lastLine(res))
		return sudoUnknown, h.sudoProbe
	} else if h.become == nil {
		h.sudoProbe = serr
		return sudoUnknown, serr
	}
	res, err = h.exec(ctx, "sudo -S -k -p '' true", append(append([]byte{}, h.become...), '\n'), true)
	if err != nil {
		return sudoUnknown, err
	}
	if !res.OK() {
		h.sudoProbe = fmt.Errorf("%s: sudo refused the become password for %s (exit %d: %s) — check the password given to --ask-become-pass", h.t.Node, h.t.User, res.ExitCode, lastLine(res))
		return sudoUnknown, h.sudoProbe
	}
	h.sudoMode = sudoPassword
	return h.sudoMode, nil
}

func lastLine(r *Result) string {
	msg := strings.TrimSpace(string(r.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(r.Stdout))
	}
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return msg
}

// exec runs one command line in a new session.
func (h *SSHHost) exec(ctx context.Context, line string, stdin []byte, withStdin bool) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", h.t.Node, err)
	}
	sess, err := h.client.NewSession()
	if err != nil {
		return nil, &Error{Node: h.t.Node, Label: h.t.label(), Msg: "connection lost: " + h.sessionErr(err), Err: err}
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if withStdin {
		sess.Stdin = bytes.NewReader(stdin)
	}
	stop := context.AfterFunc(ctx, func() {
		sess.Signal(ssh.SIGKILL) //nolint:errcheck
		sess.Close()
	})
	err = sess.Run(line)
	stop()
	res := &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cerr := ctx.Err(); cerr != nil {
		res.ExitCode = -1
		return res, fmt.Errorf("%s: %w", h.t.Node, cerr)
	}
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			res.ExitCode = -1
		} else {
			res.ExitCode = ee.ExitStatus()
		}
		return res, nil
	}
	res.ExitCode = -1
	return res, &Error{Node: h.t.Node, Label: h.t.label(), Msg: "connection lost while running a command: " + h.sessionErr(err), Err: err}
}
