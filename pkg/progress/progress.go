// Package progress is how a long wait says what it waits for while it
// waits: a Report ("n1 ready: waiting 10s of 2m: routes 0/2"), sent at
// least every Every by the code that waits, to a Func the command layer
// prints (a line on stderr in text, a "progress" event with -o json).
//
// Two shapes of wait use it. A polling loop calls Waiter.Tick after each
// reading with what the reading showed; the Waiter reports when Every has
// passed on the loop's own clock (so a test's fake clock drives it). A
// blocking wait (one remote command that runs for a while) starts Go,
// which reports on the wall clock from a goroutine until stopped, asking
// a function for what it sees now.
//
// It knows no NATS, host or printing: callers say what they wait for.
package progress

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/natsops/natsops/internal/text"
)

// Every is how often a wait reports: the bound is a line at least
// every 5s, and a wait shorter than this says nothing.
const Every = 5 * time.Second

// Report is one moment of a wait.
type Report struct {
	// Subject is the node or host waited on ("" for the whole run).
	Subject string
	// Waiting is what the wait is for ("ready", "lame-duck exit",
	// "healthy-for soak", "tune apply").
	Waiting string
	// Elapsed is how long the wait has lasted; Limit its bound (0: none).
	Elapsed time.Duration
	Limit   time.Duration
	// Seen is what the latest reading showed ("" when nothing is read
	// while waiting, e.g. a remote command still running).
	Seen string
}

// String is the report as one line: "n1 ready: waiting 10s of 2m0s:
// routes 0/2". Newlines in Seen are folded so a report stays one line.
func (r Report) String() string {
	var b strings.Builder
	if r.Subject != "" {
		b.WriteString(r.Subject)
		b.WriteByte(' ')
	}
	b.WriteString(r.Waiting)
	fmt.Fprintf(&b, ": waiting %s", r.Elapsed.Round(time.Second))
	if r.Limit > 0 {
		fmt.Fprintf(&b, " of %s", r.Limit)
	}
	if s := text.OneLine(r.Seen); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// MarshalJSON is the report's JSON (durations in milliseconds, as every
// natsops event gives them).
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Subject   string `json:"node,omitempty"`
		Waiting   string `json:"waiting_for"`
		ElapsedMS int64  `json:"elapsed_ms"`
		LimitMS   int64  `json:"limit_ms,omitempty"`
		Seen      string `json:"seen,omitempty"`
		Line      string `json:"line"`
	}{r.Subject, r.Waiting, r.Elapsed.Milliseconds(), r.Limit.Milliseconds(), text.OneLine(r.Seen), r.String()})
}

// Func receives reports. A nil Func is valid everywhere and reports
// nothing.
type Func func(Report)

// Waiter is a polling loop's progress: started when the wait starts,
// told every reading's time and what it showed.
type Waiter struct {
	f     Func
	base  Report
	start time.Time
	last  time.Time
	every time.Duration
}

// Start begins a polled wait at now for what base describes (Subject,
// Waiting, Limit).
func Start(f Func, now time.Time, base Report) *Waiter {
	return StartEvery(f, now, base, Every)
}

// StartEvery is Start reporting every instead of Every (0 or less:
// Every): a caller whose user asked for another interval.
func StartEvery(f Func, now time.Time, base Report, every time.Duration) *Waiter {
	if every <= 0 {
		every = Every
	}
	return &Waiter{f: f, base: base, start: now, last: now, every: every}
}

// Tick reports seen when Every has passed since the wait began or since
// its last report. It is cheap to call on every poll.
func (w *Waiter) Tick(now time.Time, seen string) {
	if w == nil || w.f == nil || now.Sub(w.last) < w.every {
		return
	}
	w.last = now
	r := w.base
	r.Elapsed, r.Seen = now.Sub(w.start), seen
	w.f(r)
}

// Go reports a blocking wait every Every on the wall clock until the
// returned stop is called (or ctx ends); seen, when not nil, is asked
// what the wait sees now each time (it may read something: it runs on
// the reporting goroutine, never concurrently with itself). stop waits
// for a report under way, so none arrives after it returns.
func Go(ctx context.Context, f Func, base Report, seen func(context.Context) string) (stop func()) {
	return GoEvery(ctx, f, base, seen, Every)
}

// GoEvery is Go reporting every instead of Every (0 or less: Every): a
// test of a blocking wait need not wait 5s of the wall clock.
func GoEvery(ctx context.Context, f Func, base Report, seen func(context.Context) string, every time.Duration) (stop func()) {
	if f == nil {
		return func() {}
	}
	if every <= 0 {
		every = Every
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				r := base
				r.Elapsed = now.Sub(start)
				if seen != nil {
					r.Seen = seen(ctx)
				}
				if ctx.Err() != nil {
					return
				}
				f(r)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
