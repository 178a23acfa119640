package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Clients a connection ramp can hold connections with.
const (
	// ClientLean is a raw TCP client: INFO, CONNECT, PING/PONG, then one
	// goroutine with a 128-byte buffer that answers the server's PINGs.
	ClientLean = "lean"
	// ClientNATS is nats.go (what applications use), no reconnects.
	ClientNATS = "nats"
)

// held is one connection a ramp holds.
type held interface{ Close() }

// dialer opens one connection; lost is called once if a held connection
// closes before Close.
type dialer func(ctx context.Context, t Target, i int, lost func(error)) (held, *Failure)

// netDialer binds the i-th connection to a loopback destination to its
// own source address (SourceIP).
func netDialer(t Target, i int, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	host, _, _ := net.SplitHostPort(t.Addr)
	if ip := net.ParseIP(host); ip != nil {
		if src := SourceIP(ip, i); src != nil {
			d.LocalAddr = &net.TCPAddr{IP: src}
		}
	}
	return d
}

// leanConn is the raw-TCP client.
type leanConn struct {
	c      net.Conn
	closed atomic.Bool
	done   chan struct{}
	wmu    sync.Mutex
}

// connectJSON is the CONNECT the lean client sends.
type connectJSON struct {
	Verbose  bool   `json:"verbose"`
	Pedantic bool   `json:"pedantic"`
	User     string `json:"user,omitempty"`
	Pass     string `json:"pass,omitempty"`
	Name     string `json:"name"`
	Lang     string `json:"lang"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
}

// readLine returns the first bytes (up to the buffer) of the next line,
// discarding the rest of a long one (an INFO with many connect_urls).
func readLine(r *bufio.Reader) (string, error) {
	var head []byte
	for {
		b, err := r.ReadSlice('\n')
		if head == nil {
			head = append([]byte(nil), b...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(head), "\r\n"), nil
	}
}

// leanDialer is the raw-TCP handshake: read INFO, send CONNECT and PING,
// read PONG (answering PINGs, skipping INFOs), all within timeout.
func leanDialer(auth Auth, timeout time.Duration) dialer {
	connect, _ := json.Marshal(connectJSON{User: auth.User, Pass: auth.Password, Name: "natsops-bench", Lang: "go", Version: "natsops-bench", Protocol: 1})
	hello := []byte("CONNECT " + string(connect) + "\r\nPING\r\n")
	return func(ctx context.Context, t Target, i int, lost func(error)) (held, *Failure) {
		c, err := netDialer(t, i, timeout).DialContext(ctx, "tcp", t.Addr)
		if err != nil {
			return nil, &Failure{Node: t.Node, Phase: PhaseDial, Err: err}
		}
		fail := func(phase string, err error, serr string) (held, *Failure) {
			_ = c.Close()
			return nil, &Failure{Node: t.Node, Phase: phase, Err: err, ServerErr: serr}
		}
		_ = c.SetDeadline(time.Now().Add(timeout))
		// Ctrl-C or --timeout ends a handshake at once, not after timeout.
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
		defer stop()
		br := bufio.NewReaderSize(c, 1024)
		line, err := readLine(br)
		switch {
		case err != nil:
			return fail(PhaseInfo, err, "")
		case strings.HasPrefix(line, "-ERR"):
			return fail(PhaseInfo, nil, serverErr(line))
		case !strings.HasPrefix(line, "INFO"):
			return fail(PhaseInfo, fmt.Errorf("expected INFO, got %.40q", line), "")
		}
		if _, err := c.Write(hello); err != nil {
			return fail(PhaseConnect, err, "")
		}
		for {
			line, err := readLine(br)
			if err != nil {
				return fail(PhaseConnect, err, "")
			}
			switch {
			case line == "PONG":
			case line == "PING":
				if _, err := c.Write([]byte("PONG\r\n")); err != nil {
					return fail(PhaseConnect, err, "")
				}
				continue
			case strings.HasPrefix(line, "-ERR"):
				return fail(PhaseConnect, nil, serverErr(line))
			default: // INFO, +OK
				continue
			}
			break
		}
		if !stop() {
			return fail(PhaseConnect, ctx.Err(), "")
		}
		_ = c.SetDeadline(time.Time{})
		// Hold with a small buffer: what the handshake read ahead, then
		// the socket.
		rest, _ := br.Peek(br.Buffered())
		r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), c), 128)
		lc := &leanConn{c: c, done: make(chan struct{})}
		go lc.hold(r, lost)
		return lc, nil
	}
}

func serverErr(line string) string {
	return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "-ERR")), "'")
}

// hold answers the server's PINGs until the connection closes.
func (lc *leanConn) hold(r *bufio.Reader, lost func(error)) {
	defer close(lc.done)
	for {
		line, err := readLine(r)
		if err != nil {
			if !lc.closed.Load() {
				lost(err)
			}
			return
		}
		switch {
		case line == "PING":
			lc.wmu.Lock()
			_, err = lc.c.Write([]byte("PONG\r\n"))
			lc.wmu.Unlock()
		case strings.HasPrefix(line, "-ERR"):
			err = errors.New(serverErr(line))
		}
		if err != nil && !lc.closed.Load() {
			lost(err)
			_ = lc.c.Close()
			return
		}
	}
}

// Close closes the connection and waits for its reader.
func (lc *leanConn) Close() {
	lc.closed.Store(true)
	_ = lc.c.Close()
	<-lc.done
}

// natsConn is a nats.go connection held idle.
type natsConn struct{ nc *nats.Conn }

func (n natsConn) Close() { n.nc.Close() }

type customDialer struct{ d *net.Dialer }

func (c customDialer) Dial(network, address string) (net.Conn, error) {
	return c.d.Dial(network, address)
}

// natsDialer connects with nats.go (no reconnects: a lost connection is
// a drop).
func natsDialer(auth Auth, timeout time.Duration) dialer {
	return func(ctx context.Context, t Target, i int, lost func(error)) (held, *Failure) {
		opts := []nats.Option{
			nats.Name("natsops-bench"), nats.Timeout(timeout), nats.NoReconnect(),
			nats.SetCustomDialer(customDialer{netDialer(t, i, timeout)}),
			nats.NoCallbacksAfterClientClose(),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { lost(err) }),
		}
		if auth.User != "" {
			opts = append(opts, nats.UserInfo(auth.User, auth.Password))
		}
		nc, err := nats.Connect(t.URL(), opts...)
		if err != nil {
			return nil, natsFailure(t.Node, err)
		}
		return natsConn{nc}, nil
	}
}

// natsFailure maps a nats.go connect error onto the phases.
func natsFailure(node string, err error) *Failure {
	switch {
	case errors.Is(err, nats.ErrMaxConnectionsExceeded):
		return &Failure{Node: node, Phase: PhaseConnect, Err: err, ServerErr: "maximum connections exceeded"}
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired):
		return &Failure{Node: node, Phase: PhaseConnect, Err: err, ServerErr: "Authorization Violation"}
	case errors.Is(err, nats.ErrTimeout):
		return &Failure{Node: node, Phase: PhaseInfo, Err: timeoutError{err}}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &Failure{Node: node, Phase: PhaseDial, Err: err}
	}
	return &Failure{Node: node, Phase: PhaseInfo, Err: err}
}

// timeoutError marks nats.ErrTimeout as a net timeout.
type timeoutError struct{ error }

func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (e timeoutError) Unwrap() error { return e.error }
