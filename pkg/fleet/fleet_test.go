package fleet

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// barrierMonitor answers only once every one of n reads is under way:
// a reader that bounds itself below n never gets an answer.
type barrierMonitor struct {
	n       int32
	running atomic.Int32
	once    sync.Once
	all     chan struct{}
	calls   atomic.Int32
}

func (m *barrierMonitor) Snapshot(ctx context.Context, url string) *monitor.Snapshot {
	m.calls.Add(1)
	if m.running.Add(1) == m.n {
		m.once.Do(func() { close(m.all) })
	}
	<-m.all
	return &monitor.Snapshot{URL: url, Errs: map[string]error{}}
}

func nodes(names ...string) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range names {
		out = append(out, &cluster.Node{Name: n, RouteHost: n})
	}
	return out
}

// TestReadAllAtOnce: Parallel 0 reads every node at once.
func TestReadAllAtOnce(t *testing.T) {
	ns := nodes("a", "b", "c", "d", "e")
	m := &barrierMonitor{n: int32(len(ns)), all: make(chan struct{})}
	r := Reader{Monitor: m, URL: func(n *cluster.Node) string { return "http://" + n.Name }}
	snaps := r.Read(context.Background(), ns, nil)
	for _, n := range ns {
		if s := snaps[n.Name]; s == nil || s.URL != "http://"+n.Name || s.Err() != nil {
			t.Errorf("%s: %+v", n.Name, s)
		}
	}
}

// TestReadAfterCancel: once ctx is done no node is read, and every node
// still has a reading, one that says why it was not read.
func TestReadAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &barrierMonitor{n: 1, all: make(chan struct{})}
	ns := nodes("a", "b")
	r := Reader{Monitor: m, Parallel: 1, URL: func(n *cluster.Node) string { return "http://" + n.Name }}
	snaps := r.Read(ctx, ns, Snapshots{"old": &monitor.Snapshot{}})
	if m.calls.Load() != 0 {
		t.Errorf("%d reads after ctx was done", m.calls.Load())
	}
	for _, n := range ns {
		s := snaps[n.Name]
		if s == nil || !errors.Is(s.Err(), context.Canceled) || s.Errs["varz"] == nil || s.URL != "http://"+n.Name {
			t.Errorf("%s: %+v", n.Name, s)
		}
	}
	if snaps["old"] == nil {
		t.Errorf("an earlier reading was dropped")
	}
	st := r.Streams(ctx, ns)
	if len(st) != 2 || st["a"].Err == nil {
		t.Errorf("streams after cancel: %+v", st)
	}
}
