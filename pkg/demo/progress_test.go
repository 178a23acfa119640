package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/progress"
)

// fakeClock is time that passes only when slept.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

func at(rs []progress.Report) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Elapsed.String())
	}
	return strings.Join(out, " ")
}

// The demo's start, waiting for a cluster that never answers, says every
// 5s of its clock what it waits for and why the cluster is not healthy.
func TestWaitHealthyReports(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "natsops")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Create(t.TempDir(), exe)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var rs []progress.Report
	silent := func(context.Context) fleet.Snapshots { return fleet.Snapshots{} }
	err = c.waitHealthy(context.Background(), clk, silent, 12*time.Second, 50*time.Millisecond, func(r progress.Report) { rs = append(rs, r) })
	if err == nil || !strings.Contains(err.Error(), "the cluster is not healthy after 12s") {
		t.Fatalf("err %v", err)
	}
	if got := at(rs); got != "5s 10s" {
		t.Errorf("reports at %s, want 5s 10s", got)
	}
	for _, r := range rs {
		if r.Waiting != "demo cluster healthy" || r.Limit != 12*time.Second || r.Seen != "n1: no monitoring data; n2: no monitoring data; and 1 more" {
			t.Errorf("report %+v", r)
		}
	}
	// WaitHealthy's callers that pass no Progress get none.
	if err := c.waitHealthy(context.Background(), clk, silent, 6*time.Second, time.Second, nil); err == nil {
		t.Error("want a timeout")
	}
}

// The demo's stop says which servers it still waits for, every 5s of its
// clock, until they are gone or its bound passed.
func TestWaitGoneReports(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		bound time.Duration
		gone  map[int]time.Duration // when each pid exits (0: never)
		left  string
		at    string
		seen  []string
	}{
		{"both exit in time", 20 * time.Second, map[int]time.Duration{11: 6 * time.Second, 12: 12 * time.Second}, "[]", "5s 10s",
			[]string{"2 servers still running (pids 11, 12)", "1 server still running (pids 12)"}},
		{"one never exits", 7 * time.Second, map[int]time.Duration{11: time.Second, 12: 0}, "[12]", "5s",
			[]string{"1 server still running (pids 12)"}},
		{"gone at once: nothing to say", 20 * time.Second, map[int]time.Duration{11: -1, 12: -1}, "[]", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: t0}
			ours := func(pid int) bool {
				d := tc.gone[pid]
				return d == 0 || (d > 0 && clk.now.Sub(t0) < d)
			}
			var rs []progress.Report
			w := progress.Start(func(r progress.Report) { rs = append(rs, r) }, clk.Now(), progress.Report{Waiting: "demo servers exiting (SIGTERM)", Limit: tc.bound})
			left := waitGone(clk, []int{11, 12}, ours, tc.bound, w)
			if got := fmt.Sprint(left); got != tc.left {
				t.Errorf("left %s, want %s", got, tc.left)
			}
			if got := at(rs); got != tc.at {
				t.Errorf("reports at %q, want %q", got, tc.at)
			}
			for i, r := range rs {
				if i < len(tc.seen) && r.Seen != tc.seen[i] {
					t.Errorf("report %d: %q, want %q", i, r.Seen, tc.seen[i])
				}
			}
		})
	}
}

// The rolling restarts the demo runs report through RunOptions.Progress.
func TestRestartConfigPassesProgress(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "natsops")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Create(t.TempDir(), exe)
	if err != nil {
		t.Fatal(err)
	}
	var got []progress.Report
	cfg := c.restartConfig(c.Inventory, RunOptions{Progress: func(r progress.Report) { got = append(got, r) }}, "op", nil)
	if cfg.Progress == nil {
		t.Fatal("the rollout gets no Progress")
	}
	cfg.Progress(progress.Report{Subject: "n1", Waiting: "ready"})
	if len(got) != 1 || got[0].Subject != "n1" {
		t.Errorf("reports %v", got)
	}
	if c.restartConfig(c.Inventory, RunOptions{}, "op", nil).Progress != nil {
		t.Error("a Progress without one asked for")
	}
}
