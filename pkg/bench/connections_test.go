package bench

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/monitor"
)

func targetOf(name string, s *server.Server) Target {
	return Target{Node: name, Addr: s.Addr().String(), MonitorURL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.MonitorAddr().Port))}
}

func waitNoClients(t *testing.T, s *server.Server) {
	t.Helper()
	natstest.WaitFor(t, "every connection closed", func() (bool, string) {
		n := s.NumClients()
		return n == 0, strconv.Itoa(n) + " clients"
	})
}

// TestConnectionsStopAtMaxConnections: both clients stop with
// max-connections at a server whose max_connections is 300, near 300 and
// never above, and close everything.
func TestConnectionsStopAtMaxConnections(t *testing.T) {
	s := natstest.StartServer(t, func(o *server.Options) { o.MaxConn = 300 })
	for _, client := range []string{ClientLean, ClientNATS} {
		var steps []Step
		res, err := Connections(context.Background(), ConnOptions{
			Targets: []Target{targetOf("n1", s)}, Target: 1000, Step: 200, Parallel: 16, Client: client,
			Monitor: &monitor.Client{}, OnStep: func(st Step) { steps = append(steps, st) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Cause != CauseMaxConnections || res.Node != "n1" {
			t.Fatalf("%s: stop %s at %q (%s), want max-connections at n1", client, res.Cause, res.Node, res.Detail)
		}
		// Attempts in flight when the first -ERR came may have been
		// refused too: near 300, never above.
		if res.Held > 300 || res.Held < 300-16 {
			t.Errorf("%s: held %d at the limit of 300", client, res.Held)
		}
		if len(steps) != 2 || steps[0].Held != 200 || steps[0].Nodes[0].Connections != 200 || steps[1].Cause != CauseMaxConnections {
			t.Errorf("%s: steps %+v", client, steps)
		}
		if res.Closed != res.Held {
			t.Errorf("%s: closed %d of %d", client, res.Closed, res.Held)
		}
		waitNoClients(t, s)
	}
}

// TestConnectionsSpreadAndAuth: a ramp over two servers reaches its
// target round robin with a user; a wrong password is an AuthError naming
// the user and never the password.
func TestConnectionsSpreadAndAuth(t *testing.T) {
	auth := func(o *server.Options) { o.Username, o.Password = "bench", "s3cret" }
	a, b := natstest.StartServer(t, auth), natstest.StartServer(t, auth)
	ts := []Target{targetOf("n1", a), targetOf("n2", b)}
	res, err := Connections(context.Background(), ConnOptions{
		Targets: ts, Auth: Auth{User: "bench", Password: "s3cret"}, Target: 250, Step: 100, Hold: time.Millisecond, Monitor: &monitor.Client{},
	})
	if err != nil || res.Cause != CauseTargetReached || res.Held != 250 || len(res.Steps) != 3 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	last := res.Steps[2]
	if last.Nodes[0].Held != 125 || last.Nodes[1].Held != 125 || last.Nodes[0].Connections != 125 {
		t.Errorf("not spread evenly: %+v", last.Nodes)
	}
	waitNoClients(t, a)
	_, err = Connections(context.Background(), ConnOptions{
		Targets: ts, Auth: Auth{User: "bench", Password: "wrong-pw"}, Target: 10, Step: 10, Monitor: &monitor.Client{},
	})
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "user bench") || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestConnectionsInterrupted: a cancelled ramp stops with interrupted
// and closes what it held.
func TestConnectionsInterrupted(t *testing.T) {
	s := natstest.StartServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		natstest.WaitFor(t, "connections held", func() (bool, string) { return s.NumClients() >= 10, "" })
		cancel()
	}()
	res, err := Connections(ctx, ConnOptions{
		Targets: []Target{targetOf("n1", s)}, Target: 100, Step: 10, Hold: time.Hour, Monitor: &monitor.Client{},
	})
	if err != nil || res.Cause != CauseInterrupted || res.Closed < 10 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	waitNoClients(t, s)
}

// TestConnectionsNodeDown: a node whose monitoring does not answer is
// left out and reported; the others are benched.
func TestConnectionsNodeDown(t *testing.T) {
	s := natstest.StartServer(t, nil)
	down := Target{Node: "n2", Addr: "127.0.0.1:1", MonitorURL: "http://127.0.0.1:1"}
	res, err := Connections(context.Background(), ConnOptions{
		Targets: []Target{targetOf("n1", s), down}, Target: 20, Step: 20, Monitor: &monitor.Client{},
	})
	if err != nil || res.Cause != CauseTargetReached || len(res.Down) != 1 || res.Down[0].Node != "n2" || res.Held != 20 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	if _, err := Connections(context.Background(), ConnOptions{Targets: []Target{down}, Target: 1, Monitor: &monitor.Client{}}); !errors.Is(err, ErrNoNode) {
		t.Fatalf("only a down node: %v", err)
	}
}

// TestConnectionsReportCapacity: each step carries the node's capacity
// as ConnOptions.Capacity gives it (status's, bound by the open-files
// limit), not max_connections; without the hook it is max_connections.
func TestConnectionsReportCapacity(t *testing.T) {
	s := natstest.StartServer(t, func(o *server.Options) { o.MaxConn = 50000 })
	for _, tc := range []struct {
		hook      func(context.Context, string, int, int) (int, string)
		want      int
		wantLimit string
	}{
		{func(_ context.Context, node string, maxConns, _ int) (int, string) {
			if node != "n1" || maxConns != 50000 {
				t.Errorf("capacity asked for %s with max_connections %d", node, maxConns)
			}
			return 19881, "fds"
		}, 19881, "fds"},
		{nil, 50000, "max_connections"},
	} {
		var steps []Step
		_, err := Connections(context.Background(), ConnOptions{
			Targets: []Target{targetOf("n1", s)}, Target: 20, Step: 20, Parallel: 4, Client: ClientLean,
			Monitor: &monitor.Client{}, Capacity: tc.hook, OnStep: func(st Step) { steps = append(steps, st) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) == 0 || steps[0].Nodes[0].Capacity != tc.want || steps[0].Nodes[0].CapacityLimit != tc.wantLimit || steps[0].Nodes[0].MemPer1k < 0 {
			t.Errorf("steps %+v, want capacity %d (%s)", steps, tc.want, tc.wantLimit)
		}
		waitNoClients(t, s)
	}
}
