package progress

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReportString(t *testing.T) {
	for _, c := range []struct {
		r    Report
		want string
	}{
		{Report{Subject: "n1", Waiting: "ready", Elapsed: 10 * time.Second, Limit: 2 * time.Minute, Seen: "/healthz: JetStream is still recovering\nroutes 0/2"},
			"n1 ready: waiting 10s of 2m0s: /healthz: JetStream is still recovering; routes 0/2"},
		{Report{Waiting: "cluster healthy", Elapsed: 5400 * time.Millisecond}, "cluster healthy: waiting 5s"},
		{Report{Subject: "h", Waiting: "tune apply", Elapsed: 15 * time.Second, Limit: time.Minute}, "h tune apply: waiting 15s of 1m0s"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.r, got, c.want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(Report{Subject: "n1", Waiting: "ready", Elapsed: 10 * time.Second, Limit: 2 * time.Minute, Seen: "routes 0/2"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"node":"n1","waiting_for":"ready","elapsed_ms":10000,"limit_ms":120000,"seen":"routes 0/2","line":"n1 ready: waiting 10s of 2m0s: routes 0/2"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// TestWaiterReportsEveryInterval: a polled wait of 20s read every 50ms
// (a fake clock) reports at 5s, 10s and 15s: never more than Every apart,
// never more often, and nothing before the first Every.
func TestWaiterReportsEveryInterval(t *testing.T) {
	var got []Report
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := Start(func(r Report) { got = append(got, r) }, t0, Report{Subject: "n1", Waiting: "healthy-for soak", Limit: 20 * time.Second})
	for el := time.Duration(0); el <= 20*time.Second; el += 50 * time.Millisecond {
		w.Tick(t0.Add(el), "ready")
	}
	if len(got) != 4 {
		t.Fatalf("got %d reports, want 4 (5s, 10s, 15s, 20s): %v", len(got), got)
	}
	for i, r := range got {
		if want := time.Duration(i+1) * Every; r.Elapsed != want || r.Seen != "ready" || r.Subject != "n1" {
			t.Errorf("report %d: %+v, want elapsed %s", i, r, want)
		}
	}
	var nilW *Waiter
	nilW.Tick(t0, "x") // a nil Waiter is a no-op
	Start(nil, t0, Report{}).Tick(t0.Add(time.Hour), "x")
}

// TestStartEveryInterval: another interval is kept to, and 0 is Every.
func TestStartEveryInterval(t *testing.T) {
	var got []time.Duration
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := func(r Report) { got = append(got, r.Elapsed) }
	w := StartEvery(f, t0, Report{Waiting: "x"}, time.Second)
	for el := time.Duration(0); el <= 3*time.Second; el += 500 * time.Millisecond {
		w.Tick(t0.Add(el), "")
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("every 1s: reports at %v, want %v", got, want)
	}
	got = nil
	w = StartEvery(f, t0, Report{Waiting: "x"}, 0)
	for el := time.Duration(0); el <= 6*time.Second; el += time.Second {
		w.Tick(t0.Add(el), "")
	}
	if want := []time.Duration{Every}; !slices.Equal(got, want) {
		t.Errorf("every 0: reports at %v, want %v", got, want)
	}
}

// TestGoReportsUntilStopped: the blocking-wait reporter asks what it sees
// each time, and nothing arrives after stop returns.
func TestGoReportsUntilStopped(t *testing.T) {
	var mu sync.Mutex
	var got []Report
	done := make(chan struct{})
	stop := GoEvery(context.Background(), func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		if len(got) == 3 {
			close(done)
		}
	}, Report{Subject: "n2", Waiting: "lame-duck exit"}, func(context.Context) string { return "12 clients left" }, time.Millisecond)
	<-done
	stop()
	mu.Lock()
	n := len(got)
	mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Errorf("reports after stop: %d then %d", n, len(got))
	}
	for _, r := range got[:3] {
		if !strings.HasPrefix(r.String(), "n2 lame-duck exit: waiting") || r.Seen != "12 clients left" || r.Elapsed <= 0 {
			t.Errorf("report %+v", r)
		}
	}
	Go(context.Background(), nil, Report{}, nil)() // a nil Func: nothing to stop
}
