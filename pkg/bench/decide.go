package bench

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The pure decisions of a bench: step sizes, the client's fd budget, the
// stop cause, percentiles, completeness. No I/O here.

// Steps are the cumulative connection counts a ramp holds: step, 2×step,
// … up to target (the last step may be smaller). step <= 0 or step >
// target: one step of target.
func Steps(target, step int) []int {
	if target <= 0 {
		return nil
	}
	if step <= 0 || step > target {
		step = target
	}
	var out []int
	for n := step; n < target; n += step {
		out = append(out, n)
	}
	return append(out, target)
}

// ClientFDReserve are the descriptors a bench needs beside its
// connections (stdio, the monitoring reads, the Go runtime's own).
const ClientFDReserve = 64

// LimitError is a bench asked for more than a limit allows; refused
// before anything is started (a usage error).
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// CheckClientFDs refuses conns connections when this process's open-files
// limit (RLIMIT_NOFILE soft, hard) cannot hold them and the reserve. Go
// raises the soft limit to the hard one at start, so soft is normally
// hard already.
func CheckClientFDs(flag string, conns int, soft, hard uint64) error {
	need := uint64(conns) + ClientFDReserve
	if need <= soft {
		return nil
	}
	fix := fmt.Sprintf("raise it (`ulimit -n %d` in the shell that runs natsops", need)
	if need > hard {
		fix += fmt.Sprintf("; that is above the hard limit %d, so raise the hard limit first: as root, or /etc/security/limits.conf, or the unit's LimitNOFILE", hard)
	}
	fix += ")"
	return &LimitError{Msg: fmt.Sprintf("%s needs about %d open files on this machine, but natsops may open only %d (RLIMIT_NOFILE, ulimit -n): %s, or lower %s", flag, need, soft, fix, flag)}
}

// SourceIP is the local address the i-th connection to dest binds to:
// for a loopback IPv4 destination one of 127.0.0.1–127.0.0.250 in turn,
// so that ramps past ~28,000 connections do not run out of ephemeral
// ports (they are per source address); nil otherwise (the kernel picks).
func SourceIP(dest net.IP, i int) net.IP {
	v4 := dest.To4()
	if v4 == nil || v4[0] != 127 {
		return nil
	}
	return net.IPv4(127, 0, 0, byte(1+i%250))
}

// Cause is why a bench stopped: a stable code for JSON and scripts.
type Cause string

// Stop causes.
const (
	// CauseTargetReached: every step held.
	CauseTargetReached Cause = "target-reached"
	// CauseMaxConnections: the server answered -ERR 'maximum connections
	// exceeded' (its max_connections).
	CauseMaxConnections Cause = "max-connections"
	// CauseServerOutOfFDs: the server stopped answering: a connection the
	// kernel accepted got no INFO in time (or not even a TCP accept, and
	// its :8222 did not answer either) — what a server at its open-files
	// limit looks like from outside (accept4: too many open files); or
	// the host shows it at its limit (ConnOptions.HostFDs).
	CauseServerOutOfFDs Cause = "server-out-of-fds"
	// CauseServerRefused: the server refused or closed connections for a
	// reason that cannot be told (connection refused, closed after INFO).
	CauseServerRefused Cause = "server-refused"
	// CauseConnectionsDropped: connections already held were closed by
	// the server (or the network) while the step was held.
	CauseConnectionsDropped Cause = "connections-dropped"
	// CauseClientFDLimit: this machine ran out of file descriptors
	// (EMFILE/ENFILE on socket()).
	CauseClientFDLimit Cause = "client-fd-limit"
	// CauseEphemeralPorts: this machine ran out of local ports
	// (EADDRNOTAVAIL, or EADDRINUSE on bind).
	CauseEphemeralPorts Cause = "ephemeral-ports"
	// CauseTimeout: the bench's --timeout ran out, or the server is slow:
	// no TCP accept in time while its :8222 answers, or no INFO in time
	// while its host's open-files limit is known and far.
	CauseTimeout Cause = "timeout"
	// CauseInterrupted: Ctrl-C.
	CauseInterrupted Cause = "interrupted"
	// CauseAuth: the server refused the credentials (an error, exit 1).
	CauseAuth Cause = "auth-failed"
)

// Failure is what one connection attempt saw when it failed.
type Failure struct {
	Node string
	// Phase: "dial" (TCP connect), "info" (waiting for INFO), "connect"
	// (CONNECT+PING sent, waiting for PONG), "hold" (a held connection
	// closed).
	Phase string
	Err   error
	// ServerErr is the server's -ERR text, if it sent one.
	ServerErr string
}

func (f *Failure) Error() string {
	if f.ServerErr != "" {
		return fmt.Sprintf("node %s: %s: -ERR %s", f.Node, f.Phase, f.ServerErr)
	}
	return fmt.Sprintf("node %s: %s: %v", f.Node, f.Phase, f.Err)
}

// Phases of a connection attempt.
const (
	PhaseDial    = "dial"
	PhaseInfo    = "info"
	PhaseConnect = "connect"
	PhaseHold    = "hold"
)

// Context is what else is known when a failure is classified.
type Context struct {
	// Interrupted / TimedOut: the bench's context was cancelled by Ctrl-C
	// or its --timeout.
	Interrupted, TimedOut bool
	// MonitorAnswers: the failing node's :8222 answered /varz just after
	// the failure.
	MonitorAnswers bool
	// Connections the node reported then (when it answered), and its
	// server's descriptors open and open-files limit as its host showed
	// them (0: unknown; the hook ConnOptions.HostFDs).
	Connections    int
	MaxConnections int
	HostFDsOpen    int
	HostFDLimit    int
}

// serverFDMargin: a server within this many descriptors of its limit is
// taken to be at it (listeners, routes, JetStream files, the log).
const serverFDMargin = 200

// hostFDMargin: a server whose host shows it within this many descriptors
// of its limit is at it (as health.Diagnose judges it).
const hostFDMargin = 8

// Classify is the stop cause of a failure.
func Classify(f *Failure, c Context) Cause {
	switch {
	case c.Interrupted:
		return CauseInterrupted
	case c.TimedOut:
		return CauseTimeout
	case f == nil:
		return CauseTargetReached
	}
	se := strings.ToLower(f.ServerErr)
	switch {
	case strings.Contains(se, "maximum connections exceeded"):
		return CauseMaxConnections
	case strings.Contains(se, "authorization violation"), strings.Contains(se, "authentication"), strings.Contains(se, "user authentication"):
		return CauseAuth
	case errors.Is(f.Err, syscall.EMFILE), errors.Is(f.Err, syscall.ENFILE):
		return CauseClientFDLimit
	case errors.Is(f.Err, syscall.EADDRNOTAVAIL), f.Phase == PhaseDial && errors.Is(f.Err, syscall.EADDRINUSE):
		return CauseEphemeralPorts
	case f.Phase == PhaseHold:
		return CauseConnectionsDropped
	}
	if c.MonitorAnswers && c.MaxConnections > 0 && c.Connections >= c.MaxConnections {
		// The -ERR lost in a race (a client that wrote CONNECT into a
		// socket the server had closed): the server is at its limit.
		return CauseMaxConnections
	}
	// The host's own count is the proof: within a few descriptors of the
	// limit (each one a leaving client frees is taken by the next accept).
	if c.HostFDLimit > 0 && c.HostFDsOpen+hostFDMargin >= c.HostFDLimit {
		return CauseServerOutOfFDs
	}
	known := c.HostFDLimit > 0 && c.MonitorAnswers
	atLimit := known && c.Connections+serverFDMargin >= c.HostFDLimit
	switch {
	case atLimit:
		return CauseServerOutOfFDs
	case f.ServerErr != "" || !isTimeout(f.Err):
		return CauseServerRefused
	case known:
		// Far from a limit we know: a slow server.
		return CauseTimeout
	case f.Phase == PhaseInfo:
		// The kernel accepted the connection (it sits in the listen
		// backlog) but the server never sent INFO: its accept4 fails,
		// "too many open files". Its :8222 may still answer a read now
		// and then (a descriptor freed for a moment), so that is not
		// evidence against it.
		return CauseServerOutOfFDs
	case f.Phase == PhaseDial && !c.MonitorAnswers:
		// Not even a TCP accept (the backlog is full too), and no
		// monitoring: the same, further along.
		return CauseServerOutOfFDs
	case f.Phase == PhaseDial:
		return CauseTimeout
	}
	return CauseServerRefused
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ETIMEDOUT)
}

// Latency is a sample's percentiles.
type Latency struct {
	Samples int     `json:"samples"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// Percentiles of a sample (nearest rank); sorts samples in place.
func Percentiles(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(samples))+0.999999) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{Samples: len(samples), P50MS: ms(rank(0.50)), P99MS: ms(rank(0.99)), MaxMS: ms(samples[len(samples)-1])}
}

// Completeness says whether every subscriber got every message.
type Completeness struct {
	Complete bool `json:"complete"`
	// Subscribers, and how many of them got fewer than Want.
	Subscribers int `json:"subscribers"`
	Incomplete  int `json:"incomplete"`
	// Short: messages missing over all subscribers; MaxShort: the most one
	// subscriber missed; Extra: messages beyond Want (duplicates).
	Want     int   `json:"want"`
	Short    int64 `json:"short"`
	MaxShort int   `json:"max_short"`
	Extra    int64 `json:"extra"`
}

// Complete judges each subscriber's count of distinct messages against
// want.
func Complete(received []int, want int) Completeness {
	c := Completeness{Subscribers: len(received), Want: want}
	for _, r := range received {
		switch {
		case r < want:
			c.Incomplete++
			c.Short += int64(want - r)
			c.MaxShort = max(c.MaxShort, want-r)
		case r > want:
			c.Extra += int64(r - want)
		}
	}
	c.Complete = c.Incomplete == 0 && len(received) > 0
	return c
}

// Rate is n per second over d (0 for no time).
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// PerThousand is the memory per 1,000 connections between two readings:
// 0 when it cannot be told, never negative (the connections did not
// grow, or the memory did not: a server or client that returned memory
// to the OS meanwhile says nothing of what a connection costs).
func PerThousand(memBefore, memAfter int64, connsBefore, connsAfter int) int64 {
	if connsAfter <= connsBefore || memAfter <= 0 || memAfter <= memBefore {
		// No growth, or no reading (a server out of descriptors answers
		// /varz with mem 0: it could not read its own /proc).
		return 0
	}
	return (memAfter - memBefore) * 1000 / int64(connsAfter-connsBefore)
}

// Drained decides when the wait for subscribers after publishing ends:
// when all are complete, when nothing arrived for idle, or after limit.
func Drained(complete bool, sinceProgress, idle, sinceStart, limit time.Duration) bool {
	return complete || sinceProgress >= idle || sinceStart >= limit
}
