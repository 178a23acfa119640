// Package loadgen is a small NATS client that keeps a cluster busy while
// it is operated on, and says afterwards what that cost: it publishes with
// acks to a JetStream stream (R3 by default), a core subscriber on another
// connection listens on the same subject, and at the end every
// acknowledged sequence is read back from the stream.
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
	// URLs are the cluster's client URLs (nats://host:port).
	URLs []string
	// Stream and Subject: the stream is created (or replaced) with
	// Replicas on Subject.
	Stream   string
	Subject  string
	Replicas int
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

// Client is one run in progress.
type Client struct {
	opts  Options
	pub   *nats.Conn
	sub   *nats.Conn
	js    jetstream.JetStream
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	res   Result
	acked map[uint64]string // seq -> payload
	last  time.Time
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
	url := strings.Join(opts.URLs, ",")
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
			nats.Timeout(2*time.Second), nats.NoCallbacksAfterClientClose())
		if err != nil {
			return nil, fmt.Errorf("%s: connect to %s: %w", name, url, err)
		}
		return nc, nil
	}
	c := &Client{opts: opts, stop: make(chan struct{}), done: make(chan struct{}), acked: map[uint64]string{}}
	var err error
	if c.pub, err = connect("natsops-loadgen-publisher"); err != nil {
		return nil, err
	}
	if c.sub, err = connect("natsops-loadgen-subscriber"); err != nil {
		c.pub.Close()
		return nil, err
	}
	if c.js, err = jetstream.New(c.pub); err != nil {
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
	if err := c.sub.Flush(); err != nil {
		c.close()
		return nil, err
	}
	go c.publish(ctx)
	return c, nil
}

func (c *Client) received(*nats.Msg) {
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
// (the stream stays: a kept cluster shows it). ctx bounds the read-back.
func (c *Client) Stop(ctx context.Context) (Result, error) {
	close(c.stop)
	<-c.done
	defer c.close()
	// What was published last is still on its way to the subscriber.
	_ = c.sub.FlushTimeout(2 * time.Second)
	time.Sleep(100 * time.Millisecond)
	err := c.verify(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.res
	res.MaxGapMS = res.MaxGap.Milliseconds()
	return res, err
}

// verify reads the stream from the start with an ordered consumer and
// checks every acknowledged sequence against what was sent. Right after a
// restart the JetStream API may not answer yet ("no responders"): the
// read-back is retried until ctx ends.
func (c *Client) verify(ctx context.Context) error {
	c.mu.Lock()
	want := make(map[uint64]string, len(c.acked))
	var last uint64
	for seq, p := range c.acked {
		want[seq] = p
		last = max(last, seq)
	}
	c.mu.Unlock()
	var found map[uint64]bool
	for {
		var err error
		found, err = c.readBack(ctx, want, last)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read back stream %s: %w (gave up: %v)", c.opts.Stream, err, ctx.Err())
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

// readBack reads the stream up to sequence last and returns the wanted
// sequences found with the payload sent.
func (c *Client) readBack(ctx context.Context, want map[uint64]string, last uint64) (map[uint64]bool, error) {
	found := map[uint64]bool{}
	if last == 0 {
		return found, nil
	}
	cons, err := c.js.OrderedConsumer(ctx, c.opts.Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var seen uint64
	for seen < last {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seen = max(seen, md.Sequence.Stream)
			if p, ok := want[md.Sequence.Stream]; ok && p == string(m.Data()) {
				found[md.Sequence.Stream] = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if n == 0 {
			break // nothing more in the stream: what is not found is lost
		}
	}
	return found, nil
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
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.js.DeleteStream(actx, opts.Stream)
		if err == nil || errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = c.js.CreateStream(actx, cfg)
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
