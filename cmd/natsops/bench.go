package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/pkg/bench"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/probe"
)

type benchOptions struct {
	*globals
	user    string
	timeout time.Duration
	// pubsub
	pubs, subs, msgs, size int
	subject                string
	// connections
	target, step int
	hold         time.Duration
	client       string
	// the selected nodes (benchSetup)
	nodes []*cluster.Node
	inv   *cluster.Inventory
}

const benchExits = `Exit codes: 0 the target was reached / every subscriber got every
message; 3 the bench ran but stopped before the target (the cause is
reported) or a subscriber is incomplete; 5 interrupted (every connection
closed); 64 bad flags (also --size above a node's max_payload, or more
connections than this machine's open-files limit allows, naming it); 1
anything else: a selected node that is down (it is reported and the
others are benched, but the run is not a pass), a refused login (the user
is named, never its password), an unreadable secret.`

func newBenchCmd(g *globals) *cobra.Command {
	o := &benchOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Capacity and throughput test of the inventory's nodes, from this machine",
		Long: `Benchmark the selected nodes (--limit) of the inventory from this machine:
'bench pubsub' is the seed's nats-bench scenario (1 publisher, 1,000
subscribers, 10,000 messages of 128 bytes); 'bench connections' ramps
idle client connections in steps until a target or the first failure.

Only nodes of the inventory are benched (there is no --url); clients
connect to each node's route_host (or host) and client port, as --user
NAME, a user of the inventory whose password comes from its env: or
file: reference (never printed). Every bench is bounded (--timeout) and
closes every connection it opened, also on failure and Ctrl-C.

` + benchExits,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pubsub := &cobra.Command{
		Use:   "pubsub",
		Short: "Publish to many subscribers: rates, completeness, slow consumers, latency",
		Long: `Connect --sub subscribers and --pub publishers (each its own nats.go
connection, spread round robin over the selected nodes), wait until every
subscriber's interest has reached every node, then publish --msgs
messages of --size bytes (shared among the publishers) on --subject.

Publishing is flow-controlled: each publisher flushes every 1,000
messages (a PING the server answers once it has fanned out everything
before it), so no more than that is in flight and the final flush waits
for one window only. (nats-bench and the single-process natscli bench
published everything and then flushed once with nats.go's 10s default:
with 1,000 subscribers the server answers that PING only after 10 million
deliveries, and when that takes longer than 10s the run ends with
"flushing: nats: timeout".) The subscribers are then given time to drain:
until every one is complete, nothing arrived for 5s, or 60s.

Reported: publish rate (messages/s until the last flush answered),
delivery rate (deliveries/s over all subscribers until the last one),
per-subscriber completeness (complete or not, how many short, the worst),
slow consumers the servers counted during the run (/varz slow_consumers
after − before) and the client's own, and the latency p50/p99/max of the
messages that carry their send time (about 1,000 per run, every
subscriber; --size of at least 9 bytes), measured under full load: it
includes the queueing behind the publisher's window.

-o json: one summary object.

` + benchExits,
		Example: `  natsops bench pubsub --user bench
  natsops bench pubsub --pub 1 --sub 1000 --msgs 10000 --size 128 --limit nats-1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.runPubSub(cmd.Context()) },
	}
	pf := pubsub.Flags()
	pf.IntVar(&o.pubs, "pub", 1, "publishers (connections)")
	pf.IntVar(&o.subs, "sub", 1000, "subscribers (connections)")
	pf.IntVar(&o.msgs, "msgs", 10000, "messages published in all (shared among the publishers)")
	pf.IntVar(&o.size, "size", 128, "payload bytes per message (at most the nodes' max_payload)")
	pf.StringVar(&o.subject, "subject", "", "subject (default: natsops.bench.<unique>)")
	conns := &cobra.Command{
		Use:   "connections",
		Short: "Ramp idle connections in steps until a target or the first failure",
		Long: `Open idle client connections to the selected nodes (round robin) in
steps of --step, holding each step for --hold, until --target or the
first failure, then close every one of them. The step that fails is held
too, so status and check show the node at its limit meanwhile; a failing
node's server is then read on its host (descriptors open and its
open-files limit, as status reads them) to tell fd exhaustion for sure.

Per step: connections held (and dropped while held), the time to open
them, each node's /varz connections and memory (server RSS growth per
1,000 connections), and this process's memory per 1,000 connections.

The default client is lean: raw TCP, reading INFO, sending CONNECT
{"verbose":false,"pedantic":false,...} and PING, reading PONG, then
answering the server's PINGs from one goroutine with a 128-byte buffer.
--client nats holds nats.go connections instead (what applications pay).
Against a loopback node the connections' source addresses are spread over
127.0.0.1-127.0.0.250, so ephemeral ports (per source address) do not run
out. Before starting, this process's open-files limit (ulimit -n) must
hold --target connections: otherwise the bench is refused (exit 64)
naming the limit and the fix. A connection gets 10s for its handshake.

Stop causes (the "cause" field):
  target-reached      every step held
  max-connections     the server answered -ERR 'maximum connections exceeded'
                      (or refused a connection while /varz showed it at max_connections)
  server-out-of-fds   a connection got no INFO (or no TCP accept) in time and the
                      node's :8222 did not answer either: a server at its open-files
                      limit (accept4: too many open files)
  server-refused      refused or closed for a reason that cannot be told
  connections-dropped held connections were closed while the step was held
  client-fd-limit     this machine ran out of file descriptors (EMFILE/ENFILE)
  ephemeral-ports     this machine ran out of local ports (EADDRNOTAVAIL)
  timeout             --timeout passed, or no INFO in time while :8222 answers
  interrupted         Ctrl-C

-o json: one {"event": "step", ...} object per step, then
{"event": "summary", ...}.

` + benchExits,
		Example: `  natsops bench connections --target 20000 --step 5000 --hold 5s
  natsops bench connections --limit n1 --target 10000 --client nats`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.runConnections(cmd.Context()) },
	}
	cf := conns.Flags()
	cf.IntVar(&o.target, "target", 100000, "connections to hold in all")
	cf.IntVar(&o.step, "step", 10000, "connections added per step")
	cf.DurationVar(&o.hold, "hold", 10*time.Second, "how long each step is held")
	cf.StringVar(&o.client, "client", bench.ClientLean, "client: lean (raw TCP) or nats (nats.go)")
	for _, c := range []*cobra.Command{pubsub, conns} {
		c.Flags().StringVar(&o.user, "user", "", "connect as this user of the inventory (server.auth.user or server.auth.users)")
		c.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop after this long, whatever happened")
	}
	cmd.AddCommand(pubsub, conns)
	return cmd
}

// benchSetup loads the inventory, the selected nodes' targets and the
// user, and checks the client's open-files limit for conns connections.
func (o *benchOptions) benchSetup(flag string, conns int) ([]bench.Target, bench.Auth, error) {
	if o.timeout <= 0 {
		return nil, bench.Auth{}, usageError("--timeout must be positive")
	}
	inv, nodes, err := o.loadSelected(o.limit)
	if err != nil {
		return nil, bench.Auth{}, err
	}
	targets, err := bench.Targets(nodes)
	if err != nil {
		return nil, bench.Auth{}, err
	}
	o.inv, o.nodes = inv, nodes
	auth, err := bench.ResolveAuth(inv, o.user, o.sys.getenv)
	if err != nil {
		return nil, bench.Auth{}, benchError(err)
	}
	if o.sys.nofile != nil {
		if soft, hard, err := o.sys.nofile(); err == nil {
			if err := bench.CheckClientFDs(flag, conns, soft, hard); err != nil {
				return nil, bench.Auth{}, withCode(ExitUsage, err)
			}
		}
	}
	return targets, auth, nil
}

// benchContext is bounded by --timeout and cancelled by Ctrl-C.
func (o *benchOptions) benchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	return ctx, func() { cancel(); stopSignals() }
}

// progress draws a one-line bar on a terminal stderr (text output only).
type progress struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	last time.Time
}

func (o *benchOptions) progress() *progress {
	return &progress{w: o.sys.stderr, on: !o.json() && o.sys.isTTY(o.sys.stderr)}
}

func (p *progress) show(what string, done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	width := 30
	fill := 0
	if total > 0 {
		fill = min(width, done*width/total)
	}
	fmt.Fprintf(p.w, "\r%-12s [%s%s] %d/%d ", what, strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total)
}

func (p *progress) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// benchError maps a bench package error onto an exit code.
func benchError(err error) error {
	var le *bench.LimitError
	if errors.As(err, &le) {
		return withCode(ExitUsage, err)
	}
	return err
}

type connSummary struct {
	Event string `json:"event"`
	OK    bool   `json:"ok"`
	*bench.ConnResult
	ExitCode int `json:"exit_code"`
}

func (o *benchOptions) runConnections(ctx context.Context) error {
	switch {
	case o.target < 1:
		return usageError("--target must be at least 1")
	case o.step < 1:
		return usageError("--step must be at least 1")
	case o.hold < 0:
		return usageError("--hold must not be negative")
	case o.client != bench.ClientLean && o.client != bench.ClientNATS:
		return usageError("--client must be lean or nats, not %q", o.client)
	}
	targets, auth, err := o.benchSetup("--target", o.target)
	if err != nil {
		return err
	}
	ctx, cancel := o.benchContext(ctx)
	defer cancel()
	// A failing node's server is read on its host too (descriptors open
	// and its limit), as status does: the proof of fd exhaustion.
	var hostFDs func(ctx context.Context, node string) (int, int, bool)
	if conn, err := o.connector(o.inv); err == nil {
		defer conn.close()
		pr := probe.Reader{Connect: conn.connect}
		hostFDs = func(ctx context.Context, node string) (int, int, bool) {
			for _, n := range o.nodes {
				if n.Name == node {
					h := pr.Host(ctx, n)
					return h.FDs, int(min(h.Soft, 1<<31-1)), h.Running() && h.Soft > 0
				}
			}
			return 0, 0, false
		}
	}
	bar := o.progress()
	res, err := bench.Connections(ctx, bench.ConnOptions{
		Targets: targets, Auth: auth, Target: o.target, Step: o.step, Hold: o.hold, Client: o.client,
		Monitor:    &monitor.Client{},
		HostFDs:    hostFDs,
		OnProgress: func(held, target int) { bar.show("connections", held, target) },
		OnStep: func(st bench.Step) {
			bar.clear()
			if o.json() {
				writeJSONLine(o.sys.stdout, st)
				return
			}
			var nodes []string
			for _, n := range st.Nodes {
				if n.Error != "" {
					nodes = append(nodes, fmt.Sprintf("%s: %d held, /varz: %s", n.Node, n.Held, n.Error))
					continue
				}
				nodes = append(nodes, fmt.Sprintf("%s: %d held, %d/%d connections, %s (%s per 1k)", n.Node, n.Held, n.Connections, n.MaxConns, mib(n.MemBytes), mib(n.MemPer1k)))
			}
			fmt.Fprintf(o.sys.stdout, "step %d: %d of %d held", st.Step, st.Held, st.Want)
			if st.Dropped > 0 {
				fmt.Fprintf(o.sys.stdout, " (%d dropped)", st.Dropped)
			}
			fmt.Fprintf(o.sys.stdout, ", opened in %.1fs, client %s per 1k\n", float64(st.OpenMS)/1000, mib(st.ClientMemPer1k))
			for _, n := range nodes {
				fmt.Fprintf(o.sys.stdout, "  %s\n", n)
			}
		},
	})
	bar.clear()
	if res == nil {
		return benchError(err)
	}
	code := ExitOK
	switch {
	case err != nil:
		code = ExitError
	case len(res.Down) > 0:
		code = ExitError
	case res.Cause == bench.CauseInterrupted:
		code = ExitCancelled
	case !res.Reached():
		code = ExitUnhealthy
	}
	if o.json() {
		writeJSONLine(o.sys.stdout, connSummary{Event: "summary", OK: code == ExitOK, ConnResult: res, ExitCode: code})
	} else {
		for _, d := range res.Down {
			fmt.Fprintf(o.sys.stdout, "node %s not benched: its monitoring does not answer: %s\n", d.Node, d.Error)
		}
		if res.Reached() {
			fmt.Fprintf(o.sys.stdout, "target reached: %d connections held (%s client), in %.1fs\n", res.Held, res.Client, float64(res.RampMS)/1000)
		} else if err == nil {
			fmt.Fprintf(o.sys.stdout, "stopped: %s after %d of %d connections (%s client)", res.Cause, res.Held, res.Target, res.Client)
			if res.Detail != "" {
				fmt.Fprintf(o.sys.stdout, ": %s", res.Detail)
			}
			fmt.Fprintln(o.sys.stdout)
		}
		fmt.Fprintf(o.sys.stdout, "closed %d connections\n", res.Closed)
	}
	if err != nil {
		return withCode(code, err)
	}
	if code != ExitOK {
		return reported(code)
	}
	return nil
}

type pubsubSummary struct {
	Event string `json:"event"`
	OK    bool   `json:"ok"`
	*bench.PubSubResult
	ExitCode int `json:"exit_code"`
}

func (o *benchOptions) runPubSub(ctx context.Context) error {
	switch {
	case o.pubs < 1:
		return usageError("--pub must be at least 1")
	case o.subs < 1:
		return usageError("--sub must be at least 1")
	case o.msgs < 1:
		return usageError("--msgs must be at least 1")
	case o.size < 0:
		return usageError("--size must not be negative")
	}
	targets, auth, err := o.benchSetup("--pub + --sub", o.pubs+o.subs)
	if err != nil {
		return err
	}
	subject := o.subject
	if subject == "" {
		subject = bench.DefaultSubject()
	}
	ctx, cancel := o.benchContext(ctx)
	defer cancel()
	bar := o.progress()
	res, err := bench.PubSub(ctx, bench.PubSubOptions{
		Targets: targets, Auth: auth, Pubs: o.pubs, Subs: o.subs, Msgs: o.msgs, Size: o.size, Subject: subject,
		Monitor:    &monitor.Client{},
		OnProgress: bar.show,
	})
	bar.clear()
	code := ExitOK
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		code = ExitCancelled
		err = withCode(code, errors.New("bench pubsub: interrupted; every connection was closed"))
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		code = ExitUnhealthy
		err = withCode(code, fmt.Errorf("bench pubsub: --timeout %s passed; every connection was closed", o.timeout))
	case err != nil:
		return benchError(err)
	case len(res.Down) > 0:
		code = ExitError
	case !res.Complete:
		code = ExitUnhealthy
	}
	if o.json() {
		writeJSONLine(o.sys.stdout, pubsubSummary{Event: "summary", OK: code == ExitOK, PubSubResult: res, ExitCode: code})
	} else {
		w := o.sys.stdout
		for _, d := range res.Down {
			fmt.Fprintf(w, "node %s not benched: its monitoring does not answer: %s\n", d.Node, d.Error)
		}
		fmt.Fprintf(w, "%d publisher(s), %d subscribers, %d messages of %d bytes on %s, over %s\n", res.Pubs, res.Subs, res.Msgs, res.Size, res.Subject, strings.Join(res.Nodes, ", "))
		fmt.Fprintf(w, "publish:  %.0f msgs/s (%.2fs)\n", res.PublishRate, float64(res.PublishMS)/1000)
		fmt.Fprintf(w, "delivery: %.0f msgs/s over all subscribers (%d of %d deliveries, %.2fs)\n", res.DeliveryRate, res.Deliveries, res.Expected, float64(res.DeliverMS)/1000)
		if res.Complete {
			fmt.Fprintf(w, "complete: yes, every subscriber got all %d messages\n", res.Want)
		} else {
			fmt.Fprintf(w, "complete: no, %d of %d subscribers short by %d messages in all (worst %d)\n", res.Incomplete, res.Subscribers, res.Short, res.MaxShort)
		}
		fmt.Fprintf(w, "slow consumers: %d on the servers, %d in the client\n", res.SlowConsumers, res.ClientSlow)
		if res.Latency.Samples > 0 {
			fmt.Fprintf(w, "latency:  p50 %.2fms  p99 %.2fms  max %.2fms (%d samples)\n", res.Latency.P50MS, res.Latency.P99MS, res.Latency.MaxMS, res.Latency.Samples)
		}
		for _, e := range res.Errors {
			fmt.Fprintf(w, "error: %s\n", e)
		}
	}
	if err != nil {
		return err
	}
	if code != ExitOK {
		return reported(code)
	}
	return nil
}
