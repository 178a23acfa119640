package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

func itemName(i int) string { return fmt.Sprintf("n%d", i) }

func ints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestBound: at most parallel items run at once, and each release admits
// exactly one more.
func TestBound(t *testing.T) {
	const parallel, n = 3, 8
	var running, peak atomic.Int32
	started := make(chan int)
	release := make(chan struct{})
	done := make(chan []Result)
	go func() {
		done <- Each(context.Background(), ints(n), parallel, itemName, func(ctx context.Context, i int) error {
			r := running.Add(1)
			for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
			}
			started <- i
			<-release
			running.Add(-1)
			return nil
		})
	}()
	for range parallel {
		<-started
	}
	for range n - parallel {
		release <- struct{}{}
		<-started
	}
	for range parallel {
		release <- struct{}{}
	}
	rs := <-done
	if p := peak.Load(); p != parallel {
		t.Errorf("peak %d at once, want %d", p, parallel)
	}
	for i, r := range rs {
		if r.Name != itemName(i) || r.Err != nil || !r.Started {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}

// TestNoBound: parallel <= 0 runs every item at once: all of them are
// running before any may return (a bounded run would never get there).
func TestNoBound(t *testing.T) {
	for _, parallel := range []int{0, -1} {
		const n = 12
		var running atomic.Int32
		all := make(chan struct{})
		rs := Each(context.Background(), ints(n), parallel, itemName, func(ctx context.Context, i int) error {
			if running.Add(1) == n {
				close(all)
			}
			<-all
			return nil
		})
		if len(rs) != n {
			t.Errorf("parallel %d: %d results", parallel, len(rs))
		}
	}
}

// TestCancelStopsStarting: once ctx is done nothing more starts, even
// when a slot frees at that moment; the items not started say so and
// wrap ctx's error, the ones started keep their own outcome.
func TestCancelStopsStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran atomic.Int32
	rs := Each(ctx, ints(4), 1, itemName, func(ctx context.Context, i int) error {
		ran.Add(1)
		cancel() // the slot frees after this: the next item must not start
		return errors.New("first")
	})
	if ran.Load() != 1 || !rs[0].Started || rs[0].Err.Error() != "first" {
		t.Fatalf("ran %d, first %+v", ran.Load(), rs[0])
	}
	for _, r := range rs[1:] {
		if r.Started || !errors.Is(r.Err, context.Canceled) || !strings.HasPrefix(r.Err.Error(), r.Name+": not started: ") {
			t.Errorf("%s: started %v, err %v", r.Name, r.Started, r.Err)
		}
	}
	rs = Each(ctx, ints(2), 0, itemName, func(context.Context, int) error { t.Error("ran after cancel"); return nil })
	if rs[0].Started || rs[1].Err == nil {
		t.Errorf("a done ctx started %+v", rs)
	}
}

// TestPanicIsTheItemsError: a panic in one item is that item's error,
// naming it; the others finish.
func TestPanicIsTheItemsError(t *testing.T) {
	rs := Each(context.Background(), ints(3), 2, itemName, func(ctx context.Context, i int) error {
		if i == 1 {
			panic("boom")
		}
		return nil
	})
	if rs[0].Err != nil || rs[2].Err != nil || rs[1].Err == nil || !strings.HasPrefix(rs[1].Err.Error(), "n1: internal error: boom\n") {
		t.Errorf("results %+v", rs)
	}
}
