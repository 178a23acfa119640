package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEachBoundedParallelism(t *testing.T) {
	const parallel, n = 3, 10
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	var running, peak atomic.Int32
	started := make(chan int)
	release := make(chan struct{})
	done := make(chan Results)
	go func() {
		done <- Each(context.Background(), items, parallel, func(i int) string { return fmt.Sprintf("n%d", i) }, func(ctx context.Context, i int) error {
			r := running.Add(1)
			for {
				p := peak.Load()
				if r <= p || peak.CompareAndSwap(p, r) {
					break
				}
			}
			started <- i
			<-release
			running.Add(-1)
			return nil
		})
	}()
	// Wait for the first batch to be running at once, then let them go one
	// at a time: each release admits exactly one more.
	for i := 0; i < parallel; i++ {
		<-started
	}
	if r := running.Load(); r != parallel {
		t.Fatalf("running %d, want %d", r, parallel)
	}
	for i := parallel; i < n; i++ {
		release <- struct{}{}
		<-started
	}
	for i := 0; i < parallel; i++ {
		release <- struct{}{}
	}
	rs := <-done
	if p := peak.Load(); p != parallel {
		t.Errorf("peak concurrency %d, want %d", p, parallel)
	}
	if rs.Err() != nil || len(rs) != n || rs[4].Name != "n4" {
		t.Errorf("results %+v", rs)
	}
}

func TestEachPartialFailure(t *testing.T) {
	names := []string{"n1", "n2", "n3", "n4"}
	var ran sync.Map
	rs := Each(context.Background(), names, 0, func(s string) string { return s }, func(ctx context.Context, s string) error {
		ran.Store(s, true)
		switch s {
		case "n2":
			return errors.New("n2 (10.0.0.2:22): connection refused")
		case "n4":
			panic("boom")
		}
		return nil
	})
	for _, n := range names {
		if _, ok := ran.Load(n); !ok {
			t.Errorf("%s did not run", n)
		}
	}
	if got := rs.Failed(); strings.Join(got, ",") != "n2,n4" {
		t.Errorf("failed %v", got)
	}
	err := rs.Err()
	if err == nil || !strings.HasPrefix(err.Error(), "2 of 4 hosts failed: n2, n4\n") || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "n4: internal error: boom") {
		t.Errorf("Err = %v", err)
	}
	var b bytes.Buffer
	rs.Summary(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "n1  ok") || !strings.HasPrefix(lines[1], "n2  FAILED") || !strings.Contains(lines[1], "connection refused") {
		t.Errorf("summary:\n%s", b.String())
	}
}

func TestEachCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs := Each(ctx, []string{"a", "b"}, 1, func(s string) string { return s }, func(ctx context.Context, s string) error { return ctx.Err() })
	for _, r := range rs {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
}

func TestPrefixWriterConcurrent(t *testing.T) {
	var out bytes.Buffer
	o := NewOutput(&out, "n1", "node10")
	var wg sync.WaitGroup
	for _, name := range []string{"n1", "node10"} {
		w := o.Prefix(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				// Lines arrive in pieces; they must come out whole.
				fmt.Fprintf(w, "%s line ", name)
				fmt.Fprintf(w, "%d\nsecond %s %d\n", i, name, i)
			}
			fmt.Fprintf(w, "tail %s", name)
			w.Close()
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2*(400+1) {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		p, rest, ok := strings.Cut(l, " | ")
		name := strings.TrimSpace(p)
		if !ok || len(p) != len("node10") || !strings.Contains(rest, name) || strings.Count(l, " | ") != 1 {
			t.Fatalf("mangled line %q", l)
		}
	}
}
