package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/natstest"
)

func urls(t *testing.T) []string {
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
	return out
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
}
