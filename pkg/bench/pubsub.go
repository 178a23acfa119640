package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// PubSubOptions configure a pubsub bench: Pubs publishers share Msgs
// messages of Size bytes on Subject, Subs subscribers each expect all of
// them. Every connection is its own, spread over the targets.
type PubSubOptions struct {
	Targets             []Target
	Auth                Auth
	Pubs, Subs          int
	Msgs, Size          int
	Subject             string
	Monitor             Monitor
	ConnectTimeout      time.Duration // one connection (default 10s)
	OnProgress          func(phase string, done, total int)
	DrainIdle, DrainMax time.Duration // see Drained (default 5s, 60s)
}

// PubSubResult is what a pubsub bench saw.
type PubSubResult struct {
	Pubs    int        `json:"pubs"`
	Subs    int        `json:"subs"`
	Msgs    int        `json:"msgs"`
	Size    int        `json:"size"`
	Subject string     `json:"subject"`
	Nodes   []string   `json:"nodes"`
	Down    []NodeDown `json:"down,omitempty"`
	// PublishMS: first publish to the last publisher's final flush
	// answered (every message accepted by its server); DeliverMS: first
	// publish to the last delivery counted.
	PublishMS    int64   `json:"publish_ms"`
	DeliverMS    int64   `json:"deliver_ms"`
	PublishRate  float64 `json:"publish_rate"`
	DeliveryRate float64 `json:"delivery_rate"`
	Deliveries   int64   `json:"deliveries"`
	Expected     int64   `json:"expected"`
	Completeness
	// SlowConsumers: the servers' /varz slow_consumers after − before
	// (summed over the targets); ClientSlow: the client library's
	// slow-consumer errors (its pending limits).
	SlowConsumers int64    `json:"slow_consumers"`
	ClientSlow    int64    `json:"client_slow_consumers"`
	Latency       Latency  `json:"latency"`
	Errors        []string `json:"errors,omitempty"`
}

// Flow control. nats-bench (and natscli's bench before it split into
// `bench pub` and `bench sub`) publishes everything into the client's
// buffer and then calls Flush (a PING, nats.go's 10s default): the server
// answers that PING only after it has fanned out every message before it,
// 10,000 × 1,000 = 10 million deliveries at the seed's scale, and when
// that takes longer than 10 s the run ends with "flushing: nats: timeout".
// Here every publisher flushes every flushEvery messages (so no more than
// that is ever in flight and the server never has to stall it), each
// flush with a deadline far above one window's fan-out, and the final
// flush waits only for the last window. (Measured on the demo cluster:
// a window of 1,000 delivered ~1.2M msgs/s, one of 100 ~0.8-1.0M.)
const (
	flushEvery   = 1000
	flushTimeout = 60 * time.Second
	// readyTimeout bounds the wait for every subscriber's interest to
	// reach every node.
	readyTimeout = time.Minute
)

// payload kinds (first byte).
const (
	kindData  = 'D'
	kindStamp = 'T' // bytes 1..8: send time, Unix nanoseconds
	kindProbe = 'P'
)

// sampleEvery: one message in that many carries its send time (about
// 1,000 per run), each subscriber measures its latency.
func sampleEvery(msgs int) int { return max(1, msgs/1000) }

// PubSub runs the bench. Every connection is closed before it returns.
func PubSub(ctx context.Context, o PubSubOptions) (*PubSubResult, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.DrainIdle <= 0 {
		o.DrainIdle = 5 * time.Second
	}
	if o.DrainMax <= 0 {
		o.DrainMax = time.Minute
	}
	res := &PubSubResult{Pubs: o.Pubs, Subs: o.Subs, Msgs: o.Msgs, Size: o.Size, Subject: o.Subject}
	targets, base, down := liveTargets(ctx, o.Monitor, o.Targets)
	res.Down = down
	if len(targets) == 0 {
		return res, ErrNoNode
	}
	for _, t := range targets {
		res.Nodes = append(res.Nodes, t.Node)
	}
	for i, t := range targets {
		if mp := base[i].MaxPayload; mp > 0 && int64(o.Size) > mp {
			return res, &LimitError{Msg: fmt.Sprintf("--size %d is above node %s's max_payload of %d bytes (/varz): lower --size, or raise server.max_payload in the inventory", o.Size, t.Node, mp)}
		}
	}
	slow0 := sumSlow(base)

	var errMu sync.Mutex
	addErr := func(s string) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(res.Errors) < 20 {
			res.Errors = append(res.Errors, s)
		}
	}
	var clientSlow atomic.Int64
	var conns []*nats.Conn
	var connMu sync.Mutex
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	connect := func(i int, name string) (*nats.Conn, error) {
		t := targets[i%len(targets)]
		opts := []nats.Option{
			nats.Name(name), nats.Timeout(o.ConnectTimeout), nats.NoReconnect(),
			nats.SetCustomDialer(customDialer{netDialer(t, i, o.ConnectTimeout)}),
			nats.NoCallbacksAfterClientClose(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrSlowConsumer) {
					clientSlow.Add(1)
				} else {
					addErr(err.Error())
				}
			}),
		}
		if o.Auth.User != "" {
			opts = append(opts, nats.UserInfo(o.Auth.User, o.Auth.Password))
		}
		nc, err := nats.Connect(t.URL(), opts...)
		if err != nil {
			if errors.Is(err, nats.ErrAuthorization) {
				return nil, &AuthError{Auth: o.Auth, Node: t.Node, Msg: "Authorization Violation"}
			}
			return nil, fmt.Errorf("node %s: %s: connect: %w", t.Node, name, err)
		}
		connMu.Lock()
		conns = append(conns, nc)
		connMu.Unlock()
		return nc, nil
	}

	// Subscribers.
	every := sampleEvery(o.Msgs)
	want := o.Msgs
	counts := make([]atomic.Int64, o.Subs)
	probed := make([]atomic.Bool, o.Subs*o.Pubs) // [sub*Pubs+pub]
	probedBy := make([]atomic.Int64, o.Subs)
	var nProbed atomic.Int64
	var delivered, lastDelivery atomic.Int64
	// Every subscriber's latency sample, each behind its own lock (its
	// callbacks run one at a time; the lock only orders them with the
	// read at the end).
	subStamps := make([]struct {
		mu sync.Mutex
		d  []time.Duration
	}, o.Subs)
	var subConns []*nats.Conn
	for i := range o.Subs {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		nc, err := connect(i, fmt.Sprintf("natsops-bench-sub-%d", i))
		if err != nil {
			return res, err
		}
		subConns = append(subConns, nc)
		st := &subStamps[i]
		sub, err := nc.Subscribe(o.Subject, func(m *nats.Msg) {
			if len(m.Data) > 0 && m.Data[0] == kindProbe {
				// A probe from every publisher: the interest reached
				// each publisher's node (one route knowing it proves
				// nothing about another).
				if len(m.Data) >= 5 {
					p := int(binary.BigEndian.Uint32(m.Data[1:5]))
					if p < o.Pubs && !probed[i*o.Pubs+p].Swap(true) && probedBy[i].Add(1) == int64(o.Pubs) {
						nProbed.Add(1)
					}
				}
				return
			}
			n := counts[i].Add(1)
			delivered.Add(1)
			// The clock only for the sampled messages and a subscriber's
			// last one: 10 million time.Now calls would cost the bench
			// more than the server.
			stamped := len(m.Data) >= 9 && m.Data[0] == kindStamp
			if !stamped && n != int64(want) {
				return
			}
			now := time.Now()
			for t := now.UnixNano(); ; {
				last := lastDelivery.Load()
				if t <= last || lastDelivery.CompareAndSwap(last, t) {
					break
				}
			}
			if stamped {
				d := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(m.Data[1:9]))))
				st.mu.Lock()
				st.d = append(st.d, d)
				st.mu.Unlock()
			}
		})
		if err != nil {
			return res, fmt.Errorf("subscribe: %w", err)
		}
		// Room for a whole run in the client: a slow consumer there
		// would be the bench's fault, not the server's.
		_ = sub.SetPendingLimits(-1, -1)
		if o.OnProgress != nil {
			o.OnProgress("subscribing", i+1, o.Subs)
		}
	}
	for _, nc := range subConns {
		if err := nc.FlushTimeout(flushTimeout); err != nil {
			return res, fmt.Errorf("subscribers: flush: %w", err)
		}
	}

	// Publishers.
	var pubConns []*nats.Conn
	for i := range o.Pubs {
		nc, err := connect(o.Subs+i, fmt.Sprintf("natsops-bench-pub-%d", i))
		if err != nil {
			return res, err
		}
		pubConns = append(pubConns, nc)
	}

	// Every subscriber's interest on every publisher's node: probes until
	// each subscriber saw one from every publisher (messages sent before a
	// route learnt of a subscription would be lost to it, and counted
	// against the server).
	deadline := time.Now().Add(readyTimeout)
	for nProbed.Load() < int64(o.Subs) {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d subscribers received a probe from every publisher within %s: the cluster's routes do not carry their interest", nProbed.Load(), o.Subs, readyTimeout)
		}
		for p, nc := range pubConns {
			probe := []byte{kindProbe, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(probe[1:], uint32(p))
			_ = nc.Publish(o.Subject, probe)
			_ = nc.FlushTimeout(flushTimeout)
		}
		if nProbed.Load() < int64(o.Subs) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A probe in flight must not be counted as data: the subscribers
	// ignore probes by their first byte, so none is.

	// Publish.
	begin := time.Now()
	var pubWG sync.WaitGroup
	var published atomic.Int64
	var pubEndMu sync.Mutex
	var pubEnd time.Time
	for p, nc := range pubConns {
		n := o.Msgs / o.Pubs
		if p < o.Msgs%o.Pubs {
			n++
		}
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			buf := make([]byte, o.Size)
			for j := range buf {
				buf[j] = 'x'
			}
			if len(buf) > 0 {
				buf[0] = kindData
			}
			for k := range n {
				if ctx.Err() != nil {
					return
				}
				stamp := len(buf) >= 9 && k%every == 0
				if stamp {
					buf[0] = kindStamp
					binary.BigEndian.PutUint64(buf[1:9], uint64(time.Now().UnixNano()))
				}
				if err := nc.Publish(o.Subject, buf); err != nil {
					addErr("publish: " + err.Error())
					return
				}
				if stamp {
					buf[0] = kindData
				}
				if (k+1)%flushEvery == 0 || k == n-1 {
					if err := nc.FlushTimeout(flushTimeout); err != nil {
						addErr("flush: " + err.Error())
						return
					}
					done := published.Add(int64(min(flushEvery, (k%flushEvery)+1)))
					if o.OnProgress != nil {
						o.OnProgress("publishing", int(done), o.Msgs)
					}
				}
			}
			pubEndMu.Lock()
			if now := time.Now(); now.After(pubEnd) {
				pubEnd = now
			}
			pubEndMu.Unlock()
		}()
	}
	pubWG.Wait()
	pubDur := time.Since(begin)
	if !pubEnd.IsZero() {
		pubDur = pubEnd.Sub(begin)
	}

	// Drain, bounded.
	expected := int64(o.Msgs) * int64(o.Subs)
	drainStart := time.Now()
	lastSeen, lastCount := time.Now(), delivered.Load()
	for {
		n := delivered.Load()
		if n != lastCount {
			lastSeen, lastCount = time.Now(), n
		}
		if Drained(n >= expected, time.Since(lastSeen), o.DrainIdle, time.Since(drainStart), o.DrainMax) || ctx.Err() != nil {
			break
		}
		if o.OnProgress != nil {
			o.OnProgress("delivering", int(n/int64(max(1, o.Subs))), o.Msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close the subscribers before reading their counts and samples
	// (no callback runs after Close).
	for _, nc := range subConns {
		nc.Close()
	}
	got := make([]int, o.Subs)
	for i := range counts {
		got[i] = int(counts[i].Load())
	}
	res.Completeness = Complete(got, want)
	res.Deliveries = delivered.Load()
	res.Expected = expected
	res.PublishMS = pubDur.Milliseconds()
	res.PublishRate = Rate(published.Load(), pubDur)
	if l := lastDelivery.Load(); l > 0 {
		d := time.Unix(0, l).Sub(begin)
		res.DeliverMS = d.Milliseconds()
		res.DeliveryRate = Rate(res.Deliveries, d)
	}
	var stamps []time.Duration
	for i := range subStamps {
		subStamps[i].mu.Lock()
		stamps = append(stamps, subStamps[i].d...)
		subStamps[i].mu.Unlock()
	}
	res.Latency = Percentiles(stamps)
	res.ClientSlow = clientSlow.Load()
	after := readings(ctx, o.Monitor, targets)
	if s1 := sumSlow(after); s1 >= slow0 {
		res.SlowConsumers = s1 - slow0
	}
	for _, r := range after {
		if r.Error != "" {
			res.Errors = append(res.Errors, fmt.Sprintf("node %s: /varz after the run: %s", r.Node, r.Error))
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

func sumSlow(rs []NodeReading) int64 {
	var n int64
	for _, r := range rs {
		n += r.SlowConsumers
	}
	return n
}

// DefaultSubject is a subject of its own for one run.
func DefaultSubject() string {
	return "natsops.bench." + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
}
