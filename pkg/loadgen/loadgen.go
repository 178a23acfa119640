// Package loadgen is a small NATS client that keeps a cluster busy while
// it is operated on, and says afterwards what that cost: it publishes with
// acks to a JetStream stream (R3 by default), a core subscriber on another
// connection listens on the same subject, and at the end every
// acknowledged sequence is read back from the stream. The subscriber and
// the stream may be on another cluster than the publisher (Options.SubURLs):
// then every ack and every delivery crosses what joins the two, a
// supercluster's gateways or a leaf node connection.
//
// It is a package of its own because it is a client of the cluster, not
// part of operating it: `natsops demo` runs it during the rolling restart,
// and tests can. It only talks NATS (github.com/nats-io/nats.go); it
// never reads the inventory or the monitoring endpoint.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure one run.
type Options struct {
	// URLs are the cluster's client URLs (nats://host:port): the
	// publisher's.
	URLs []string
	// SubURLs, when set, are where the subscriber connects instead, and
	// the stream is created and read back through its connection: the
	// publisher's messages and acks cross whatever joins the two (a
	// supercluster's gateways, a leaf node connection).
	SubURLs []string
	// Stream and Subject: the stream is created (or replaced) with
	// Replicas on Subject.
	Stream   string
	Subject  string
	Replicas int
	// Placement, when set, is the cluster the stream is placed in (of a
	// supercluster).
	Placement string
	// Interval between publishes (default 5ms).
	Interval time.Duration
	// AckTimeout bounds one publish (default 2s).
	AckTimeout time.Duration
}

// Result is what the run saw.
type Result struct {
	// Sent publishes; Acked of them acknowledged by the stream; Failed
	// got an error or no ack in time (the client does not retry: they
	// count as not sent, never as lost).
	Sent   int `json:"sent"`
	Acked  int `json:"acked"`
	Failed int `json:"failed"`
	// Received by the core subscriber.
	Received int `json:"received"`
	// Verified acknowledged messages read back from the stream with the
	// payload sent; Lost acknowledged messages missing or different
	// (LostSeqs: the first ten of them).
	Verified int      `json:"verified"`
	Lost     int      `json:"lost"`
	LostSeqs []uint64 `json:"lost_seqs,omitempty"`
	// MaxGap is the longest time the subscriber saw no message while the
	// publisher ran.
	MaxGap   time.Duration `json:"-"`
	MaxGapMS int64         `json:"max_gap_ms"`
	// LastError is the last publish error (for the summary).
	LastError string `json:"last_error,omitempty"`
}

// requestTimeout bounds one JetStream API request and one fetch of the
// read-back. A request that reaches a server whose JetStream cannot answer
// (just restarted, no quorum, a peer just died) may get no reply at all:
// each attempt is bounded and retried within the caller's context instead
// of spending all of it on one request.
const requestTimeout = 5 * time.Second

// drainTimeout bounds Stop's wait for the subscriber to catch up.
const drainTimeout = 2 * time.Second

// markerHeader marks Stop's end-of-run message to the subscriber.
const markerHeader = "Natsops-Loadgen-Marker"

// Client is one run in progress.
type Client struct {
	opts Options
	pub  *nats.Conn
	sub  *nats.Conn
	// js publishes (on pub); api creates and reads back the stream (on
	// sub when Options.SubURLs is set, else on pub).
	js    jetstream.JetStream
	api   jetstream.JetStream
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	res   Result
	acked map[uint64]string // seq -> payload
	last  time.Time
	// marker gets Stop's end-of-run message when the subscriber sees it.
	marker chan struct{}
}

// Start connects, creates the stream and starts publishing.
func Start(ctx context.Context, opts Options) (*Client, error) {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Millisecond
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 2 * time.Second
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	connect := func(name string, urls []string) (*nats.Conn, error) {
		url := strings.Join(urls, ",")
		nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
			nats.Timeout(2*time.Second), nats.NoCallbacksAfterClientClose())
		if err != nil {
			return nil, fmt.Errorf("%s: connect to %s: %w", name, url, err)
		}
		return nc, nil
	}
	c := &Client{opts: opts, stop: make(chan struct{}), done: make(chan struct{}), acked: map[uint64]string{}, marker: make(chan struct{}, 1)}
	var err error
	subURLs, apiConn := opts.URLs, &c.pub
	if len(opts.SubURLs) > 0 {
		subURLs, apiConn = opts.SubURLs, &c.sub
	}
	if c.pub, err = connect("natsops-loadgen-publisher", opts.URLs); err != nil {
		return nil, err
	}
	if c.sub, err = connect("natsops-loadgen-subscriber", subURLs); err != nil {
		c.pub.Close()
		return nil, err
	}
	if c.js, err = jetstream.New(c.pub); err != nil {
		c.close()
		return nil, err
	}
	if c.api, err = jetstream.New(*apiConn); err != nil {
		c.close()
		return nil, err
	}
	if err := c.createStream(ctx, opts); err != nil {
		c.close()
		return nil, fmt.Errorf("create stream %s (R%d): %w", opts.Stream, opts.Replicas, err)
	}
	if _, err := c.sub.Subscribe(opts.Subject, c.received); err != nil {
		c.close()
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, requestTimeout)
	err = c.sub.FlushWithContext(fctx)
	cancel()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("subscribe to %s: %w", opts.Subject, err)
	}
	go c.publish(ctx)
	return c, nil
}

func (c *Client) received(m *nats.Msg) {
	if m.Header.Get(markerHeader) != "" {
		select {
		case c.marker <- struct{}{}:
		default:
		}
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Received++
	if !c.last.IsZero() && now.Sub(c.last) > c.res.MaxGap {
		c.res.MaxGap = now.Sub(c.last)
	}
	c.last = now
}

func (c *Client) publish(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		payload := "m" + strconv.Itoa(i)
		pctx, cancel := context.WithTimeout(ctx, c.opts.AckTimeout)
		ack, err := c.js.Publish(pctx, c.opts.Subject, []byte(payload))
		cancel()
		c.mu.Lock()
		c.res.Sent++
		if err != nil {
			c.res.Failed++
			c.res.LastError = err.Error()
		} else {
			c.res.Acked++
			c.acked[ack.Sequence] = payload
		}
		c.mu.Unlock()
	}
}

// Stop ends publishing, lets the subscriber catch up, reads every
// acknowledged sequence back from the stream and closes the connections
// (the stream stays: a kept cluster shows it). ctx bounds all of it: give
// it a deadline, or a cluster that cannot serve the stream keeps Stop
// retrying the read-back.
func (c *Client) Stop(ctx context.Context) (Result, error) {
	close(c.stop)
	<-c.done
	defer c.close()
	c.drain(ctx)
	err := c.verify(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.res
	res.MaxGapMS = res.MaxGap.Milliseconds()
	return res, err
}

// drain waits until the subscriber has seen everything published before
// it: a marker published after the last message on the same connection
// and subject arrives after it (NATS keeps one publisher's order). The
// marker is not stored: its Nats-Expected-Stream names no stream, so the
// stream refuses it while core subscribers still get it. Bounded by
// drainTimeout and ctx; a marker lost to a reconnect only ends the wait.
func (c *Client) drain(ctx context.Context) {
	m := nats.NewMsg(c.opts.Subject)
	m.Header.Set(markerHeader, "end")
	m.Header.Set(jetstream.ExpectedStreamHeader, "natsops-loadgen-marker-not-a-stream")
	if err := c.pub.PublishMsg(m); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	select {
	case <-c.marker:
	case <-ctx.Done():
	}
}

// verify reads the stream from the start and checks every acknowledged
// sequence against what was sent. Right after a restart the JetStream API
// may not answer yet ("no responders", or no reply at all): the read-back
// is retried until ctx ends.
func (c *Client) verify(ctx context.Context) error {
	want, last := c.wanted()
	var found map[uint64]bool
	for attempt := 0; ; attempt++ {
		var err error
		found, err = c.readBack(ctx, want, last, createTimeout(attempt))
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read back stream %s, attempt %d: %w (gave up: %v)", c.opts.Stream, attempt+1, err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Verified, c.res.Lost, c.res.LostSeqs = 0, 0, nil
	for seq := range want {
		if found[seq] {
			c.res.Verified++
			continue
		}
		c.res.Lost++
		c.res.LostSeqs = append(c.res.LostSeqs, seq)
	}
	slices.Sort(c.res.LostSeqs)
	if len(c.res.LostSeqs) > 10 {
		c.res.LostSeqs = c.res.LostSeqs[:10]
	}
	return nil
}

// wanted is a copy of the acknowledged sequences and payloads, and the
// highest of them.
func (c *Client) wanted() (map[uint64]string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := make(map[uint64]string, len(c.acked))
	var last uint64
	for seq, p := range c.acked {
		want[seq] = p
		last = max(last, seq)
	}
	return want, last
}

// readBack is one attempt at reading the stream up to sequence last: it
// returns the wanted sequences found with the payload sent. It reads the
// stream with one consumer (not the ordered consumer: its Fetch recreates
// the consumer every time, retrying forever without looking at any
// context, and a cluster that lost a node never let it return), then asks
// the stream's leader for every wanted message the consumer did not
// deliver: all of them when the consumer could not be created or
// stalled. It fails only when the leader cannot answer either.
func (c *Client) readBack(ctx context.Context, want map[uint64]string, last uint64, create time.Duration) (map[uint64]bool, error) {
	found := map[uint64]bool{}
	if last == 0 {
		return found, nil
	}
	cons, err := c.readConsumer(ctx, create)
	if err == nil {
		err = c.readFrom(ctx, cons, want, last, found)
		c.deleteConsumer(ctx, cons)
	}
	if lerr := c.fromLeader(ctx, want, found); lerr != nil {
		if err != nil {
			return nil, fmt.Errorf("%w; then %w", err, lerr)
		}
		return nil, lerr
	}
	return found, nil
}

// createTimeout bounds creating the consumer of read-back attempt n (0,
// 1, ...): 1s, 2s, 4s, then requestTimeout. The server places the
// consumer on any peer of the stream it believes up; one that just died
// or restarted may never answer. A short first wait retries that soon;
// longer later ones let a slow cluster answer. (Creating it takes a few
// milliseconds on a healthy cluster, also under load.)
func createTimeout(n int) time.Duration {
	return min(requestTimeout, time.Second<<min(n, 3))
}

// readConsumer creates an ephemeral consumer of the whole stream for the
// read-back, waiting at most timeout: in memory, one replica, no acks;
// removed by the server if the read-back leaves it behind.
func (c *Client) readConsumer(ctx context.Context, timeout time.Duration) (jetstream.Consumer, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cons, err := c.api.CreateConsumer(actx, c.opts.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("create a consumer: %w", err)
	}
	return cons, nil
}

func (c *Client) deleteConsumer(ctx context.Context, cons jetstream.Consumer) {
	if ctx.Err() != nil {
		return // its inactive threshold removes it
	}
	dctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_ = c.api.DeleteConsumer(dctx, c.opts.Stream, cons.CachedInfo().Name)
}

// readFrom fetches from cons into found until it has seen sequence last
// or its replica of the stream has nothing more (pending 0; that replica
// may be behind the leader: fromLeader asks for the rest). Every fetch is
// bounded by requestTimeout and ctx; a fetch that brings nothing while
// messages are pending is an error, never the end of the stream.
func (c *Client) readFrom(ctx context.Context, cons jetstream.Consumer, want map[uint64]string, last uint64, found map[uint64]bool) error {
	pending := cons.CachedInfo().NumPending
	var seen uint64
	for seen < last && pending > 0 {
		fctx, cancel := context.WithTimeout(ctx, requestTimeout)
		batch, err := cons.Fetch(int(min(pending, 500)), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("fetch after sequence %d: %w", seen, err)
		}
		n := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			n++
			seen, pending = max(seen, md.Sequence.Stream), md.NumPending
			if p, ok := want[md.Sequence.Stream]; ok && p == string(m.Data()) {
				found[md.Sequence.Stream] = true
			}
		}
		err = batch.Error()
		cancel()
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("fetch after sequence %d: %w", seen, ctx.Err())
		case n > 0:
			// Progress: a real error shows again in the next fetch.
		case err != nil:
			return fmt.Errorf("fetch after sequence %d (%d pending): %w", seen, pending, err)
		default:
			return fmt.Errorf("fetch after sequence %d: no message within %s while %d are pending", seen, requestTimeout, pending)
		}
	}
	return nil
}

// fromLeader asks the stream's leader for every wanted sequence not found
// yet, one request each (about 0.4ms on loopback), and marks those it has
// with the payload sent as found. The consumer has one replica, placed by
// the server on any of the stream's: on one a few messages behind the
// leader that acknowledged them, its end is not the stream's end; on a
// peer that just died it is never created. What the leader does not have
// either, or has with another payload, is lost.
func (c *Client) fromLeader(ctx context.Context, want map[uint64]string, found map[uint64]bool) error {
	var missing []uint64
	for seq := range want {
		if !found[seq] {
			missing = append(missing, seq)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	actx, cancel := context.WithTimeout(ctx, requestTimeout)
	s, err := c.api.Stream(actx, c.opts.Stream)
	cancel()
	if err != nil {
		return fmt.Errorf("look up the stream for the %d sequences not read yet: %w", len(missing), err)
	}
	for _, seq := range missing {
		actx, cancel := context.WithTimeout(ctx, requestTimeout)
		m, err := s.GetMsg(actx, seq)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return fmt.Errorf("get sequence %d from the stream leader: %w", seq, err)
		case string(m.Data) == want[seq]:
			found[seq] = true
		}
	}
	return nil
}

func (c *Client) close() {
	if c.pub != nil {
		c.pub.Close()
	}
	if c.sub != nil {
		c.sub.Close()
	}
}

// createStream (re)creates the stream, retrying for up to 20s: a request
// sent while a freshly formed cluster's JetStream API is not answering yet
// gets no reply at all, so each attempt is bounded and repeated.
func (c *Client) createStream(ctx context.Context, opts Options) error {
	deadline := time.Now().Add(20 * time.Second)
	cfg := jetstream.StreamConfig{Name: opts.Stream, Subjects: []string{opts.Subject}, Replicas: opts.Replicas, Storage: jetstream.FileStorage}
	if opts.Placement != "" {
		cfg.Placement = &jetstream.Placement{Cluster: opts.Placement}
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.api.DeleteStream(actx, opts.Stream)
		if err == nil || errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = c.api.CreateStream(actx, cfg)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
