package probe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
)

type fakeMonitor struct{}

func (fakeMonitor) Snapshot(_ context.Context, url string) *monitor.Snapshot {
	return &monitor.Snapshot{URL: url, Errs: map[string]error{"varz": errors.New("refused")}}
}

// fakeHost answers the probe with out, or hangs until its context ends.
type fakeHost struct {
	name string
	out  string
	hang bool
}

func (h fakeHost) Name() string { return h.name }
func (h fakeHost) Close() error { return nil }
func (h fakeHost) Run(ctx context.Context, cmd string, o remote.RunOptions) (*remote.Result, error) {
	if !o.Sudo || !strings.Contains(cmd, "/proc/$pid/limits") {
		return nil, errors.New("not the probe, or not as root")
	}
	if h.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &remote.Result{Stdout: []byte(h.out)}, nil
}

// Read: every node's :8222 and every selected host at once; a host that
// cannot be dialled, or hangs past the timeout, carries why; without
// Connect every reading is monitor-only.
func TestRead(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	connect := func(_ context.Context, n *cluster.Node) (remote.Host, error) {
		switch n.Name {
		case "n1":
			return fakeHost{name: "n1", out: "natsops:probe pid 9\nnatsops:probe state S\nnatsops:probe fds 30\nnatsops:probe limits 20000 20000\n"}, nil
		case "n2":
			return nil, errors.New("n2: dial tcp 10.0.0.2:22: connection refused")
		}
		return fakeHost{name: "n3", hang: true}, nil
	}
	var mu sync.Mutex
	forgot := map[string]bool{}
	forget := func(n *cluster.Node) { mu.Lock(); forgot[n.Name] = true; mu.Unlock() }
	r := Reader{Fleet: fleet.Reader{Monitor: fakeMonitor{}}, Connect: connect, Forget: forget, Timeout: 50 * time.Millisecond}
	rd := r.Read(context.Background(), inv.Nodes, inv.Nodes)
	// Only the connection the probe failed on is dropped (n2 has none).
	if len(forgot) != 1 || !forgot["n3"] {
		t.Errorf("forgotten: %v, want n3", forgot)
	}
	if len(rd.Snaps) != 3 || len(rd.Hosts) != 3 {
		t.Fatalf("reading: %+v", rd)
	}
	if h := rd.Hosts["n1"]; !h.Running() || h.FDs != 30 || h.Soft != 20000 {
		t.Errorf("n1: %+v", h)
	}
	if h := rd.Hosts["n2"]; h.Reached || h.Note != "ssh: dial tcp 10.0.0.2:22: connection refused" {
		t.Errorf("n2: %+v", h)
	}
	if h := rd.Hosts["n3"]; h.Reached || !strings.HasPrefix(h.Note, "ssh: context deadline exceeded") {
		t.Errorf("n3: %+v", h)
	}
	rd = Reader{Fleet: fleet.Reader{Monitor: fakeMonitor{}}}.Read(context.Background(), inv.Nodes, inv.Nodes[:1])
	if len(rd.Hosts) != 1 || rd.Hosts["n1"].Note != health.NoteMonitorOnly {
		t.Errorf("monitor-only: %+v", rd.Hosts)
	}
}
