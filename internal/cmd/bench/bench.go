// Package bench is `natsops bench pubsub` and `natsops bench connections`:
// capacity and throughput tests of the inventory's nodes from this
// machine (pkg/bench).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/bench"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/probe"
	"github.com/natsops/natsops/pkg/progress"
)

// Options are bench's flags.
type Options struct {
	*cmdutil.Factory
	Ctx     context.Context
	User    string
	Timeout time.Duration
	// pubsub
	Pubs, Subs, Msgs, Size int
	Subject                string
	// connections
	Target, Step int
	Hold         time.Duration
	Client       string
	// the selected nodes (setup)
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

// NewCmd is `natsops bench` with its two commands; runF, when set, gets
// the options of either instead of its run (which it names).
func NewCmd(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
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
		Args: cmdutil.NoArgs,
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

-o json: "progress" events while it runs, then the result
{"event": "result", ...}.

` + benchExits,
		Example: `  natsops bench pubsub --user bench
  natsops bench pubsub --pub 1 --sub 1000 --msgs 10000 --size 128 --limit nats-1`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.validatePubSub(); err != nil {
				return err
			}
			if runF != nil {
				return runF("pubsub", o)
			}
			return runPubSub(o)
		},
	}
	pf := pubsub.Flags()
	pf.IntVar(&o.Pubs, "pub", 1, "publishers (connections)")
	pf.IntVar(&o.Subs, "sub", 1000, "subscribers (connections)")
	pf.IntVar(&o.Msgs, "msgs", 10000, "messages published in all (shared among the publishers)")
	pf.IntVar(&o.Size, "size", 128, "payload bytes per message (at most the nodes' max_payload)")
	pf.StringVar(&o.Subject, "subject", "", "subject (default: natsops.bench.<unique>)")
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

-o json: one {"event": "step", ...} object per step, "progress" events
while it waits, then the result {"event": "result", ...}.

` + benchExits,
		Example: `  natsops bench connections --target 20000 --step 5000 --hold 5s
  natsops bench connections --limit n1 --target 10000 --client nats`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.validateConnections(); err != nil {
				return err
			}
			if runF != nil {
				return runF("connections", o)
			}
			return runConnections(o)
		},
	}
	cf := conns.Flags()
	cf.IntVar(&o.Target, "target", 100000, "connections to hold in all")
	cf.IntVar(&o.Step, "step", 10000, "connections added per step")
	cf.DurationVar(&o.Hold, "hold", 10*time.Second, "how long each step is held")
	cf.StringVar(&o.Client, "client", bench.ClientLean, "client: lean (raw TCP) or nats (nats.go)")
	for _, c := range []*cobra.Command{pubsub, conns} {
		c.Annotations = map[string]string{cmdutil.AnnotationOutput: "stream"}
		c.Flags().StringVar(&o.User, "user", "", "connect as this user of the inventory (server.auth.user or server.auth.users)")
		c.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Minute, "stop after this long, whatever happened")
	}
	cmd.AddCommand(pubsub, conns)
	return cmd
}

func (o *Options) validatePubSub() error {
	switch {
	case o.Pubs < 1:
		return cmdutil.Usage("--pub must be at least 1")
	case o.Subs < 1:
		return cmdutil.Usage("--sub must be at least 1")
	case o.Msgs < 1:
		return cmdutil.Usage("--msgs must be at least 1")
	case o.Size < 0:
		return cmdutil.Usage("--size must not be negative")
	case o.Timeout <= 0:
		return cmdutil.Usage("--timeout must be positive")
	}
	return nil
}

func (o *Options) validateConnections() error {
	switch {
	case o.Target < 1:
		return cmdutil.Usage("--target must be at least 1")
	case o.Step < 1:
		return cmdutil.Usage("--step must be at least 1")
	case o.Hold < 0:
		return cmdutil.Usage("--hold must not be negative")
	case o.Client != bench.ClientLean && o.Client != bench.ClientNATS:
		return cmdutil.Usage("--client must be lean or nats, not %q", o.Client)
	case o.Timeout <= 0:
		return cmdutil.Usage("--timeout must be positive")
	}
	return nil
}

// setup loads the inventory, the selected nodes' targets and the user,
// and checks the client's open-files limit for conns connections.
func (o *Options) setup(flag string, conns int) ([]bench.Target, bench.Auth, error) {
	inv, nodes, err := o.LoadSelected(o.Global.Limit)
	if err != nil {
		return nil, bench.Auth{}, err
	}
	targets, err := bench.Targets(nodes)
	if err != nil {
		return nil, bench.Auth{}, err
	}
	o.inv, o.nodes = inv, nodes
	auth, err := bench.ResolveAuth(inv, o.User, o.Sys.Getenv)
	if err != nil {
		return nil, bench.Auth{}, err
	}
	if o.Sys.NoFile != nil {
		if soft, hard, err := o.Sys.NoFile(); err == nil {
			if err := bench.CheckClientFDs(flag, conns, soft, hard); err != nil {
				return nil, bench.Auth{}, err
			}
		}
	}
	return targets, auth, nil
}

// benchContext is bounded by --timeout and cancelled by Ctrl-C.
func (o *Options) benchContext() (context.Context, context.CancelFunc) {
	ctx, stopSignals := o.Sys.Interruptible(o.Ctx)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	return ctx, func() { cancel(); stopSignals() }
}

// meter shows a bench as it goes: a one-line bar on a terminal stderr
// (text output), otherwise what it is doing now, every progress.Every
// (text lines on stderr, or "progress" events with -o json).
type meter struct {
	w    io.Writer
	now  func() time.Time
	bar  bool
	mu   sync.Mutex
	seen string
	last time.Time
	stop func()
}

func (o *Options) meter(waiting string) *meter {
	m := &meter{w: o.Sys.Stderr, now: o.Sys.Clock.Now, bar: !o.JSON() && o.Sys.IsTTY(o.Sys.Stderr), seen: "starting"}
	m.stop = func() {}
	if !m.bar {
		m.stop = progress.Go(o.Ctx, o.Progress(), progress.Report{Waiting: waiting, Limit: o.Timeout}, func(context.Context) string {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.seen
		})
	}
	return m
}

// show is one moment: what is being done, done of total.
func (m *meter) show(what string, done, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = fmt.Sprintf("%s %d/%d", what, done, total)
	if !m.bar || done < total && m.now().Sub(m.last) < 100*time.Millisecond {
		return
	}
	m.last = m.now()
	width := 30
	fill := 0
	if total > 0 {
		fill = min(width, done*width/total)
	}
	fmt.Fprintf(m.w, "\r%-12s [%s%s] %d/%d ", what, strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total)
}

// say sets what the bench does now, without a bar.
func (m *meter) say(now string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = now
}

func (m *meter) clear() {
	if m.bar {
		fmt.Fprint(m.w, "\r\x1b[K")
	}
}

func (m *meter) close() {
	m.stop()
	m.clear()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// per1k is a memory growth per 1,000 connections; 0 is not measured
// (no growth), not free.
func per1k(b int64) string {
	if b <= 0 {
		return "not measured"
	}
	return mib(b)
}

func runConnections(o *Options) error {
	targets, auth, err := o.setup("--target", o.Target)
	if err != nil {
		return err
	}
	ctx, cancel := o.benchContext()
	defer cancel()
	// A failing node's server is read on its host too (descriptors open
	// and its limit), as status does: the proof of fd exhaustion.
	var hostFDs func(ctx context.Context, node string) (int, int, bool)
	// Capacity as status shows it: the host's open-files limit may
	// bound the node below max_connections.
	var capacity func(ctx context.Context, node string, maxConns, conns int) (int, string)
	var pr probe.Reader
	if conn, err := o.Connector(o.inv); err == nil {
		defer conn.Close()
		pr.Connect = conn.Connect
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
	if pr.Connect != nil {
		capacity = func(ctx context.Context, node string, maxConns, conns int) (int, string) {
			for _, n := range o.nodes {
				if n.Name == node {
					h := pr.Host(ctx, n)
					c := health.CapacityOf(maxConns, health.StaticReserve(o.inv, n), &h, conns)
					return c.Capacity, c.Limit
				}
			}
			return 0, ""
		}
	}
	m := o.meter("bench connections")
	res, err := bench.Connections(ctx, bench.ConnOptions{
		Capacity: capacity,
		Targets:  targets, Auth: auth, Target: o.Target, Step: o.Step, Hold: o.Hold, Client: o.Client,
		Monitor:    &monitor.Client{},
		HostFDs:    hostFDs,
		OnProgress: func(held, target int) { m.show("connections", held, target) },
		OnStep: func(st bench.Step) {
			m.clear()
			m.say(fmt.Sprintf("step %d held: %d of %d connections; next step or the end after --hold %s", st.Step, st.Held, st.Want, o.Hold))
			if o.JSON() {
				o.Event("step", st)
				return
			}
			printStep(o.Sys.Stdout, st)
		},
	})
	m.close()
	if res == nil {
		return err
	}
	code := cmdutil.ExitOK
	switch {
	case err != nil:
		code = cmdutil.ExitError
	case len(res.Down) > 0:
		code = cmdutil.ExitError
	case res.Cause == bench.CauseInterrupted:
		code = cmdutil.ExitCancelled
	case !res.Reached():
		code = cmdutil.ExitUnhealthy
	}
	o.Result(res)
	if !o.JSON() {
		w := o.Sys.Stdout
		for _, d := range res.Down {
			fmt.Fprintf(w, "node %s not benched: its monitoring does not answer: %s\n", d.Node, d.Error)
		}
		if res.Reached() {
			fmt.Fprintf(w, "target reached: %d connections held (%s client), in %.1fs\n", res.Held, res.Client, float64(res.RampMS)/1000)
		} else if err == nil {
			fmt.Fprintf(w, "stopped: %s after %d of %d connections (%s client)", res.Cause, res.Held, res.Target, res.Client)
			if res.Detail != "" {
				fmt.Fprintf(w, ": %s", res.Detail)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "closed %d connections\n", res.Closed)
	}
	if err != nil {
		return cmdutil.WithCode(code, err)
	}
	return cmdutil.Outcome(code)
}

// printStep is one step of the ramp in text.
func printStep(w io.Writer, st bench.Step) {
	fmt.Fprintf(w, "step %d: %d of %d held", st.Step, st.Held, st.Want)
	if st.Dropped > 0 {
		fmt.Fprintf(w, " (%d dropped)", st.Dropped)
	}
	fmt.Fprintf(w, ", opened in %.1fs, client %s per 1k\n", float64(st.OpenMS)/1000, per1k(st.ClientMemPer1k))
	for _, n := range st.Nodes {
		if n.Error != "" {
			fmt.Fprintf(w, "  %s: %d held, /varz: %s\n", n.Node, n.Held, n.Error)
			continue
		}
		capacity := n.Capacity
		if capacity <= 0 {
			capacity = n.MaxConns
		}
		fmt.Fprintf(w, "  %s: %d held, %d/%d connections", n.Node, n.Held, n.Connections, capacity)
		if n.CapacityLimit == "fds" {
			fmt.Fprintf(w, " (capacity bound by open files; max_connections %d)", n.MaxConns)
		}
		fmt.Fprintf(w, ", %s (%s per 1k)\n", mib(n.MemBytes), per1k(n.MemPer1k))
	}
}

func runPubSub(o *Options) error {
	targets, auth, err := o.setup("--pub + --sub", o.Pubs+o.Subs)
	if err != nil {
		return err
	}
	subject := o.Subject
	if subject == "" {
		subject = bench.DefaultSubject()
	}
	ctx, cancel := o.benchContext()
	defer cancel()
	m := o.meter("bench pubsub")
	res, err := bench.PubSub(ctx, bench.PubSubOptions{
		Targets: targets, Auth: auth, Pubs: o.Pubs, Subs: o.Subs, Msgs: o.Msgs, Size: o.Size, Subject: subject,
		Monitor:    &monitor.Client{},
		OnProgress: m.show,
	})
	m.close()
	code := cmdutil.ExitOK
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		return cmdutil.WithCode(cmdutil.ExitCancelled, errors.New("bench pubsub: interrupted; every connection was closed"))
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return cmdutil.WithCode(cmdutil.ExitUnhealthy, fmt.Errorf("bench pubsub: --timeout %s passed; every connection was closed", o.Timeout))
	case err != nil:
		return err
	case len(res.Down) > 0:
		code = cmdutil.ExitError
	case !res.Complete:
		code = cmdutil.ExitUnhealthy
	}
	o.Result(res)
	if !o.JSON() {
		printPubSub(o.Sys.Stdout, res)
	}
	return cmdutil.Outcome(code)
}

func printPubSub(w io.Writer, res *bench.PubSubResult) {
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
