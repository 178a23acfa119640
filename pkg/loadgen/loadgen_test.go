package loadgen

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/internal/natstest"
)

func urls(t *testing.T) []string {
	_, u := cluster(t)
	return u
}

// cluster starts a 3-node JetStream cluster, waits for its meta leader and
// returns the servers and their client URLs.
func cluster(t *testing.T) ([]*server.Server, []string) {
	servers := natstest.StartCluster(t, 3)
	natstest.WaitFor(t, "a JetStream meta leader", func() (bool, string) {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return true, ""
			}
		}
		return false, "none yet"
	})
	var out []string
	for _, s := range servers {
		out = append(out, s.ClientURL())
	}
	return servers, out
}

// TestRunAndVerify: against a real 3-node cluster, every acknowledged
// publish is read back, the subscriber sees them, and a message removed
// from the stream after its ack is reported lost by sequence.
func TestRunAndVerify(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := Options{URLs: urls(t), Stream: "T", Subject: "t.msgs", Replicas: 3, Interval: time.Millisecond}
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "20 acknowledged publishes", func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.res.Acked >= 20, fmt.Sprintf("%+v", c.res)
	})
	res, err := c.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked < 20 || res.Verified != res.Acked || res.Lost != 0 || res.Received == 0 || res.Sent != res.Acked+res.Failed {
		t.Fatalf("result %+v", res)
	}

	// The same again, with one acknowledged message deleted before the
	// read-back: it must be counted lost, by sequence.
	c, err = Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "10 acknowledged publishes", func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.res.Acked >= 10, fmt.Sprintf("%+v", c.res)
	})
	close(c.stop)
	<-c.done
	defer c.close()
	s, err := c.js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.verify(ctx); err != nil {
		t.Fatal(err)
	}
	if c.res.Lost != 1 || len(c.res.LostSeqs) != 1 || c.res.LostSeqs[0] != 5 || c.res.Verified != c.res.Acked-1 {
		t.Fatalf("after deleting sequence 5: %+v", c.res)
	}

	// A consumer on a replica behind the leader ends early: what it did
	// not deliver is asked of the leader, found if it is there (sequence
	// 7 and the last), lost if not (5).
	want, last := c.wanted()
	found := map[uint64]bool{}
	for seq := range want {
		if seq != 5 && seq != 7 && seq != last {
			found[seq] = true
		}
	}
	if err := c.fromLeader(ctx, want, found); err != nil {
		t.Fatal(err)
	}
	if !found[7] || !found[last] || found[5] || len(found) != len(want)-1 {
		t.Fatalf("after asking the leader for 5, 7 and %d: found %d of %d, 5 %v, 7 %v, %d %v", last, len(found), len(want), found[5], found[7], last, found[last])
	}
}

// TestSubscriberElsewhere: with SubURLs the publisher and the
// subscriber connect to different servers, the stream (placed in the
// cluster named) is created and read back through the subscriber's
// connection, and every acknowledged publish is read back and seen.
func TestSubscriberElsewhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := urls(t)
	c, err := Start(ctx, Options{URLs: u[:1], SubURLs: u[2:], Stream: "T", Subject: "t.msgs", Replicas: 3, Placement: "test", Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "20 acknowledged publishes", func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.res.Acked >= 20, fmt.Sprintf("%+v", c.res)
	})
	if got, want := c.pub.ConnectedUrl(), u[0]; got != want {
		t.Errorf("publisher on %s, want %s", got, want)
	}
	if got, want := c.sub.ConnectedUrl(), u[2]; got != want {
		t.Errorf("subscriber on %s, want %s", got, want)
	}
	if c.api.Conn() != c.sub {
		t.Error("the stream's API is not the subscriber's connection")
	}
	info, err := c.api.Stream(ctx, "T")
	if err != nil || info.CachedInfo().Config.Placement == nil || info.CachedInfo().Config.Placement.Cluster != "test" {
		t.Errorf("stream placement: %v %+v", err, info)
	}
	res, err := c.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked < 20 || res.Verified != res.Acked || res.Lost != 0 || res.Received == 0 {
		t.Fatalf("result %+v", res)
	}
}

// TestReadBackWithoutQuorum: two of the stream's three nodes go away
// after the read-back's consumer exists (where the ordered consumer's
// Fetch retried forever): reading from that consumer, and Stop's whole
// read-back (new consumers, the stream's leader), return an error when
// their context ends instead of hanging.
func TestReadBackWithoutQuorum(t *testing.T) {
	servers, u := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{URLs: u, Stream: "Q", Subject: "q.msgs", Replicas: 3, Interval: time.Millisecond, AckTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "20 acknowledged publishes", func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.res.Acked >= 20, fmt.Sprintf("%+v", c.res)
	})
	cons, err := c.readConsumer(ctx, requestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's server and the stream's leader go (and a third if
	// they are one): the follower left has no quorum to elect a leader.
	// (A leader left alone serves reads until it notices, seconds later.)
	stream, err := c.js.Stream(ctx, "Q")
	if err != nil {
		t.Fatal(err)
	}
	host, leader := cons.CachedInfo().Cluster.Leader, stream.CachedInfo().Cluster.Leader
	var survivor *server.Server
	for _, s := range servers {
		if s.Name() != host && s.Name() != leader {
			survivor = s
		}
	}
	for _, s := range servers {
		if s != survivor {
			s.Shutdown()
		}
	}
	t.Logf("consumer on %s, stream leader %s: %s is the only server left", host, leader, survivor.Name())

	want, last := c.wanted()
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	err = returnsAfter(t, rctx, "readFrom", func() error {
		return c.readFrom(rctx, cons, want, last, map[uint64]bool{})
	})
	if err == nil {
		t.Fatal("readFrom read the stream back from one node of three")
	}
	t.Logf("readFrom: %v", err)

	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer scancel()
	err = returnsAfter(t, sctx, "Stop", func() error {
		_, err := c.Stop(sctx)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop without quorum: %v, want it to give up at its context's deadline", err)
	}
	t.Logf("Stop: %v", err)
}

// returnsAfter runs f, which was given ctx, and returns its error; the
// test fails if f is still running 30s after ctx's deadline (a generous
// margin: it ignores ctx).
func returnsAfter(t *testing.T, ctx context.Context, what string, f func() error) error {
	t.Helper()
	deadline, _ := ctx.Deadline()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if d := time.Until(deadline).Round(time.Millisecond); d >= 0 {
			t.Logf("%s returned %s before its context's deadline", what, d)
		} else {
			t.Logf("%s returned %s after its context's deadline", what, -d)
		}
		return err
	case <-time.After(time.Until(deadline) + 30*time.Second):
		t.Fatalf("%s still running 30s after its context's deadline: it does not stop when its context ends", what)
		return nil
	}
}
