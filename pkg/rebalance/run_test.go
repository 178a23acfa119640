package rebalance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natsops/natsops/internal/natstest"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/progress"
)

func clientURL(s *server.Server) string {
	return "nats://" + s.Addr().(*net.TCPAddr).String()
}

// TestRunEvensRealClients: 30 nats.go clients that all connected to n1
// (the others learnt from the cluster's INFO) end within ±20 % of even
// across n1..n3, every one of them connected, the system user's own
// connection not counted.
func TestRunEvensRealClients(t *testing.T) {
	servers := natstest.StartClusterWith(t, 3, natstest.WithSystemUser)
	natstest.WaitFor(t, "routes", func() (bool, string) {
		for _, s := range servers {
			if s.NumRoutes() < 2 {
				return false, fmt.Sprintf("%s has %d routes", s.Name(), s.NumRoutes())
			}
		}
		return true, ""
	})
	var clients []*nats.Conn
	for i := 0; i < 30; i++ {
		nc, err := nats.Connect(clientURL(servers[0]), nats.UserInfo(natstest.AppUser, natstest.AppPassword), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Name(fmt.Sprintf("c%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		t.Cleanup(nc.Close)
	}
	var urls []string
	for _, s := range servers {
		urls = append(urls, clientURL(s))
	}
	admin, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(natstest.SystemUser, natstest.SystemPassword), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var mu sync.Mutex
	var rounds []Round
	res, err := Run(context.Background(), Config{
		Nodes: []string{"n1", "n2", "n3"},
		Admin: &natsadmin.Conns{NC: admin, Cluster: "test", Expect: 3, Wait: 2 * time.Second},
		Events: func(r Round) {
			mu.Lock()
			defer mu.Unlock()
			rounds = append(rounds, r)
		},
		Options: Options{Rounds: 10, Timeout: time.Minute},
	})
	if err != nil {
		t.Fatalf("Run: %v (result %+v)", err, res)
	}
	if got := res.Before.Nodes; got[0].Clients != 30 || got[1].Clients != 0 || got[2].Clients != 0 {
		t.Errorf("before = %v, want n1 30, n2 0, n3 0 (the system user not counted)", got)
	}
	if !res.Reached || !res.After.Within(0.2) || res.After.Total != 30 {
		t.Errorf("after = %s (reached %v), want 30 clients, every node 8–12", Counts(res.After), res.Reached)
	}
	if res.Closed < 20 || len(rounds) == 0 || len(res.Rounds) != len(rounds) {
		t.Errorf("closed %d in %d rounds (%d events), want at least the 20 above even", res.Closed, len(res.Rounds), len(rounds))
	}
	for _, nc := range clients {
		natstest.WaitFor(t, "client connected", func() (bool, string) { return nc.IsConnected(), nc.Status().String() })
	}
	// What the servers themselves count (NumClients includes the
	// system user's own connection, on one of them).
	per := 0
	for _, s := range servers {
		per += s.NumClients()
	}
	if per != 31 {
		t.Errorf("the servers hold %d clients, want the 30 and the system user", per)
	}
}

// fakeAdmin holds fixed counts; its kicks close nothing (clients that
// come straight back to the same node). As on a real server a client
// that reconnects has a new connection id: every kick renumbers them.
type fakeAdmin struct {
	counts  map[string]int
	kicks   int
	version string
}

func (f *fakeAdmin) Connections(context.Context) ([]natsadmin.ServerConns, error) {
	var out []natsadmin.ServerConns
	for _, n := range []string{"n1", "n2", "n3"} {
		c, ok := f.counts[n]
		if !ok {
			continue
		}
		sc := natsadmin.ServerConns{ID: "id-" + n, Name: n, Version: f.version}
		for i := 0; i < c; i++ {
			sc.Conns = append(sc.Conns, natsadmin.Conn{CID: uint64(f.kicks*1000 + i + 1), Kind: "Client"})
		}
		out = append(out, sc)
	}
	return out, nil
}

func (f *fakeAdmin) Kick(context.Context, string, uint64) error { f.kicks++; return nil }
func (f *fakeAdmin) Self() (string, uint64)                     { return "", 0 }

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

// pingPong: a client closed on n1 reconnects to n2, one closed anywhere
// else to n1 (clients whose lists never name n3).
type pingPong struct{ fakeAdmin }

func (p *pingPong) Kick(_ context.Context, id string, _ uint64) error {
	from := strings.TrimPrefix(id, "id-")
	to := "n1"
	if from == "n1" {
		to = "n2"
	}
	p.counts[from]--
	p.counts[to]++
	p.kicks++
	return nil
}

func TestRunNotReachedAfterRounds(t *testing.T) {
	a := &pingPong{fakeAdmin{counts: map[string]int{"n1": 60, "n2": 30, "n3": 0}}}
	res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}, Options: Options{Rounds: 2}})
	var nr *NotReachedError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want *NotReachedError", err)
	}
	if len(res.Rounds) != 2 || a.kicks != 60 || res.Reached {
		t.Errorf("rounds %d kicks %d reached %v, want 2 rounds of 30 kicks, not reached", len(res.Rounds), a.kicks, res.Reached)
	}
	for _, want := range []string{"n1 60", "n3 0", "24–36", "--rounds", "--within"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestRunWaitsForClientsWithProgress: closed clients that never come
// back are waited for up to Timeout, the wait reported at least every 5s
// with what it sees.
func TestRunWaitsForClientsWithProgress(t *testing.T) {
	a := &vanishing{fakeAdmin{counts: map[string]int{"n1": 12, "n2": 0, "n3": 0}}}
	var reports []progress.Report
	res, err := Run(context.Background(), Config{
		Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}, Progress: func(r progress.Report) { reports = append(reports, r) },
		Options: Options{Rounds: 1, Timeout: 20 * time.Second},
	})
	var nr *NotReachedError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want *NotReachedError", err)
	}
	if r := res.Rounds[0]; r.Back || r.Missing != 8 || r.WaitedMS != 20000 {
		t.Errorf("round = %+v, want 8 missing after the 20s timeout", r)
	}
	if len(reports) < 3 || !strings.Contains(reports[0].String(), "clients reconnecting") || !strings.Contains(reports[0].String(), "4 of 12 clients connected") {
		t.Errorf("progress = %v, want a report every 5s of the 20s wait naming what it sees", reports)
	}
}

// lingering: the servers still list a closed client for the first read
// after the kicks (the close is not done yet); then the clients are on
// n2 and n3.
type lingering struct {
	fakeAdmin
	kicked map[string]int
	reads  int
}

func (l *lingering) Kick(_ context.Context, id string, _ uint64) error {
	l.kicked[strings.TrimPrefix(id, "id-")]++
	return nil
}

func (l *lingering) Connections(ctx context.Context) ([]natsadmin.ServerConns, error) {
	if len(l.kicked) > 0 {
		if l.reads++; l.reads > 1 {
			for n, k := range l.kicked {
				l.counts[n] -= k
				l.counts["n2"] += k / 2
				l.counts["n3"] += k - k/2
			}
			l.kicked = map[string]int{}
			l.kicks++
		}
	}
	return l.fakeAdmin.Connections(ctx)
}

// TestRunWaitsUntilTheClosedAreGone: a read just after the kicks that
// still lists the closed clients is not "they came back to the same
// node" (the e2e run on a loaded machine met it: n1 45, n3 45 read again
// 4 ms after the kicks); the wait goes on until they are gone.
func TestRunWaitsUntilTheClosedAreGone(t *testing.T) {
	a := &lingering{fakeAdmin: fakeAdmin{counts: map[string]int{"n1": 45, "n2": 0, "n3": 45}}, kicked: map[string]int{}}
	res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}, Options: Options{Rounds: 3, Timeout: time.Minute}})
	if err != nil || !res.Reached {
		t.Fatalf("err = %v, reached %v (%s), want the clients evened once the closed are gone", err, res.Reached, Counts(res.After))
	}
	if r := res.Rounds[0]; !r.Back || r.WaitedMS == 0 {
		t.Errorf("round 1 = %+v, want back after waiting past the read that still listed the closed", r)
	}
}

// vanishing: a closed client never comes back.
type vanishing struct{ fakeAdmin }

func (v *vanishing) Kick(_ context.Context, id string, _ uint64) error {
	v.counts[strings.TrimPrefix(id, "id-")]--
	v.kicks++
	return nil
}

func TestRunRefusesWhenCheckFails(t *testing.T) {
	a := &fakeAdmin{counts: map[string]int{"n1": 60, "n2": 0, "n3": 0}}
	bad := errors.New("n3 is not healthy")
	_, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}, Check: func(context.Context) error { return bad }})
	if !errors.Is(err, bad) || a.kicks != 0 {
		t.Errorf("err = %v, kicks %d; want the check's error and nothing closed", err, a.kicks)
	}
}

func TestRunNothingToDo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string
		a     *fakeAdmin
		want  string
	}{
		{"one node", []string{"n1"}, &fakeAdmin{counts: map[string]int{"n1": 10}}, "1 node"},
		{"no clients", []string{"n1", "n2", "n3"}, &fakeAdmin{counts: map[string]int{"n1": 0, "n2": 0, "n3": 0}}, "no client"},
		{"already even", []string{"n1", "n2", "n3"}, &fakeAdmin{counts: map[string]int{"n1": 10, "n2": 9, "n3": 11}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{Nodes: tc.nodes, Admin: tc.a, Clock: &fakeClock{}})
			if err != nil || !res.Reached || tc.a.kicks != 0 || !strings.Contains(res.Nothing, tc.want) || len(res.Rounds) != 0 {
				t.Errorf("res %+v err %v kicks %d; want reached, nothing closed, nothing_to_do %q", res, err, tc.a.kicks, tc.want)
			}
		})
	}
}

func TestRunNamesANodeThatDoesNotAnswer(t *testing.T) {
	a := &fakeAdmin{counts: map[string]int{"n1": 60, "n2": 0}}
	_, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}})
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "n3 did not answer") || a.kicks != 0 {
		t.Errorf("err = %v, kicks %d; want n3 named and nothing closed", err, a.kicks)
	}
}

func TestRunDryRunClosesNothing(t *testing.T) {
	a := &fakeAdmin{counts: map[string]int{"n1": 60, "n2": 30, "n3": 0}}
	res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}, Options: Options{DryRun: true}})
	if err != nil || a.kicks != 0 || len(res.Rounds) != 1 || !res.Rounds[0].Planned || res.Rounds[0].Closed["n1"] != 30 {
		t.Errorf("res %+v err %v kicks %d; want one planned round closing 30 on n1, nothing closed", res, err, a.kicks)
	}
}

// TestRunStopsWhenClientsComeBackToTheSameNode: clients that know only
// one URL reconnect to the node they were closed on; a second round would
// move nothing, so the run stops after the first, saying why.
func TestRunStopsWhenClientsComeBackToTheSameNode(t *testing.T) {
	a := &fakeAdmin{counts: map[string]int{"n1": 30, "n2": 0, "n3": 0}}
	res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}})
	var nm *NoMoveError
	if !errors.As(err, &nm) || len(res.Rounds) != 1 || a.kicks != 20 || !strings.Contains(err.Error(), "n1 reconnected to it") || !strings.Contains(err.Error(), "every node's URL") {
		t.Errorf("err = %v, rounds %d, kicks %d; want a NoMoveError naming n1 after one round of 20", err, len(res.Rounds), a.kicks)
	}
}

// TestRunRefusesServersThatCannotKick: Debian bookworm's 2.9.10 has no
// KICK request: refused before anything is closed, naming each node's
// version and what to do.
func TestRunRefusesServersThatCannotKick(t *testing.T) {
	a := &fakeAdmin{counts: map[string]int{"n1": 60, "n2": 30, "n3": 0}, version: "2.9.10"}
	_, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}})
	var ve *VersionError
	if !errors.As(err, &ve) || a.kicks != 0 {
		t.Fatalf("err = %v, kicks %d; want a VersionError and nothing closed", err, a.kicks)
	}
	for _, want := range []string{"n1 runs 2.9.10", "n3 runs 2.9.10", "2.10.0", "natsops restart --node"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// An even cluster of old servers has nothing to do, and says so.
	a = &fakeAdmin{counts: map[string]int{"n1": 10, "n2": 10, "n3": 10}, version: "2.9.10"}
	if res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}}); err != nil || !res.Reached {
		t.Errorf("even on 2.9: %v, reached %v; want ok", err, res.Reached)
	}
}

func TestOlderThan(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"2.9.10", true}, {"2.9.25", true}, {"2.10.0", false}, {"v2.10.0-beta.3", false}, {"2.15.2", false}, {"1.4.1", true}, {"3.0.0", false}} {
		if got := olderThan(tc.v, KickSince); got != tc.want {
			t.Errorf("olderThan(%q, %s) = %v, want %v", tc.v, KickSince, got, tc.want)
		}
	}
}

// refusing: every KICK is refused (a permission, a server that lost it).
type refusing struct{ fakeAdmin }

func (r *refusing) Kick(context.Context, string, uint64) error {
	r.kicks++
	return errors.New("no server answers $SYS.REQ.SERVER.id-n1.KICK")
}

func TestRunStopsWhenEveryCloseIsRefused(t *testing.T) {
	a := &refusing{fakeAdmin{counts: map[string]int{"n1": 30, "n2": 0, "n3": 0}}}
	res, err := Run(context.Background(), Config{Nodes: []string{"n1", "n2", "n3"}, Admin: a, Clock: &fakeClock{}})
	if err == nil || !strings.Contains(err.Error(), "no client could be closed (20 refused)") || !strings.Contains(err.Error(), "n1: no server answers") || len(res.Rounds) != 1 {
		t.Errorf("err = %v, rounds %d; want the first refusal after one round", err, len(res.Rounds))
	}
}
