package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
)

// fakeStream is a stream of account $G in the fake world: its replicas
// (the first is its leader while it runs), a required API level, and
// lagging, how many more readings a replica is reported behind.
type fakeStream struct {
	name    string
	peers   []string
	level   string
	lagging map[string]int
}

// Streams implements fleet.StreamsMonitor: what /jsz?accounts&streams&
// consumers&config shows on node, the leader's view of its peers
// current, a follower's stale.
func (w *world) Streams(ctx context.Context, url string) (*monitor.JSDetail, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.streamReads++
	node := strings.TrimPrefix(url, "fake://")
	if !w.running[node] {
		return nil, errors.New("connection refused")
	}
	d := &monitor.JSDetail{Accounts: []monitor.AccountDetail{{Name: "$G"}}}
	leader := w.leader
	d.Meta = &monitor.MetaCluster{Leader: leader}
	for _, p := range w.names {
		if p != leader {
			d.Meta.Replicas = append(d.Meta.Replicas, monitor.MetaReplica{Name: p, Current: w.running[p] && !w.metaBehind[p], Offline: !w.running[p], Lag: 77})
		}
	}
	for _, st := range w.streams {
		if !slices.Contains(st.peers, node) {
			continue
		}
		lead := ""
		for _, p := range st.peers {
			if w.running[p] {
				lead = p
				break
			}
		}
		sd := monitor.StreamDetail{Name: st.name, Config: &monitor.StreamConfig{Replicas: len(st.peers), Metadata: map[string]string{health.RequiredLevelKey: st.level}},
			Cluster: &monitor.ClusterInfo{Leader: lead}}
		for _, p := range st.peers {
			if p == node || len(st.peers) == 1 {
				continue
			}
			pi := monitor.PeerInfo{Name: p, Current: node == lead && w.running[p], Offline: !w.running[p], Active: 10 * time.Millisecond}
			if node == lead && st.lagging[p] > 0 {
				st.lagging[p]--
				pi.Current, pi.Lag = false, 812
			}
			sd.Cluster.Replicas = append(sd.Cluster.Replicas, pi)
		}
		d.Accounts[0].Streams = append(d.Accounts[0].Streams, sd)
	}
	return d, nil
}

func jsEvents(events []Event, result string) []string {
	var out []string
	for _, e := range events {
		if e.Step == StepJetStream && e.Result == result {
			out = append(out, e.Node+": "+e.Detail)
		}
	}
	return out
}

func TestJetStreamR1RefusedBeforeAnyNode(t *testing.T) {
	w := newWorld()
	w.streams = []*fakeStream{{name: "EVENTS", peers: []string{"n3"}, level: "0"}}
	cfg, events := setup(t, w, Options{})
	rep, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindJetStream || re.Node != "n3" {
		t.Fatalf("err %v, want a JetStream refusal at n3", err)
	}
	for _, want := range []string{"refusing to stop n3", "stream $G/EVENTS is R1 and its only replica is on n3", "(r1-stream)", "nothing was changed", "--allow-unavailable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(w.steps) != 0 {
		t.Errorf("steps %v, want none: refused before any node", w.steps)
	}
	if len(rep.Done) != 0 || len(rep.NotDone) != 3 {
		t.Errorf("done %v not done %v", rep.Done, rep.NotDone)
	}
	if f := jsEvents(*events, ResultFailed); len(f) != 1 || !strings.Contains(f[0], "$G/EVENTS") {
		t.Errorf("failed jetstream events %v", f)
	}
}

func TestJetStreamAllowUnavailable(t *testing.T) {
	w := newWorld()
	w.streams = []*fakeStream{{name: "EVENTS", peers: []string{"n3"}, level: "0"}}
	cfg, events := setup(t, w, Options{AllowUnavailable: true})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.steps, " "); got != "n2:stop n2:start n3:stop n3:start n1:stop n1:start" {
		t.Errorf("steps %s", got)
	}
	warned := jsEvents(*events, ResultWarning)
	// Once before any node, once right before n3's stop.
	if len(warned) != 2 || !strings.Contains(warned[1], "--allow-unavailable: stream $G/EVENTS is R1") {
		t.Errorf("warnings %v", warned)
	}
	// n2 and n1 hold nothing; n3 goes on, and says under which flag.
	if ok := jsEvents(*events, ResultOK); len(ok) != 3 || !strings.Contains(ok[0], "n2 holds 0 stream replicas") || !strings.Contains(ok[1], "n3 holds 1 stream replica") || !strings.Contains(ok[1], "going on under --allow-unavailable") {
		t.Errorf("ok events %v", ok)
	}
}

// A replica that lags at preflight and catches up before its node's turn
// is no refusal; one that stays behind stops the rollout right before
// the node whose stop would cost the quorum, later nodes untouched.
func TestJetStreamLaggingPeer(t *testing.T) {
	t.Run("catches up", func(t *testing.T) {
		w := newWorld()
		w.streams = []*fakeStream{{name: "ORDERS", peers: []string{"n1", "n2", "n3"}, level: "0", lagging: map[string]int{"n3": 4}}}
		cfg, events := setup(t, w, Options{})
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if len(w.steps) != 6 {
			t.Errorf("steps %v", w.steps)
		}
		if wt := jsEvents(*events, ResultWaiting); len(wt) != 1 || !strings.Contains(wt[0], "n3 (lag 812") {
			t.Errorf("waiting events %v", wt)
		}
	})
	t.Run("stays behind", func(t *testing.T) {
		w := newWorld()
		w.streams = []*fakeStream{{name: "ORDERS", peers: []string{"n1", "n2", "n3"}, level: "0", lagging: map[string]int{"n3": 1 << 30}}}
		cfg, events := setup(t, w, Options{Settle: 2 * time.Second})
		rep, err := Run(context.Background(), cfg)
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindJetStream || re.Node != "n2" {
			t.Fatalf("err %v, want a refusal at n2", err)
		}
		for _, want := range []string{"stream $G/ORDERS (R3, leader n1) needs 2 current replicas; without n2 only 1 would be: n3 (lag 812", "(stream-quorum)", "it was not touched"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if len(w.steps) != 0 || len(rep.NotDone) != 3 {
			t.Errorf("steps %v not done %v", w.steps, rep.NotDone)
		}
		if f := jsEvents(*events, ResultFailed); len(f) != 1 {
			t.Errorf("failed %v", f)
		}
	})
}

// upgrading is a fake deploy action that changes the binary.
type upgrading struct {
	*fakeAction
	target string
}

func (u *upgrading) TargetVersion() string { return u.target }

// TestJetStreamMetaLeaderInAnotherCluster: in a supercluster the meta
// group spans the clusters, and its leader may be a node of another one
// (Across.Observe). Its view of the meta group is read for the stop
// check: a meta peer it reports behind refuses the stop, where it was
// left unjudged ("the meta leader's view was not read") before.
func TestJetStreamMetaLeaderInAnotherCluster(t *testing.T) {
	w := newWorld()
	w.add("x1")
	w.leader = "x1"
	cfg, events := setup(t, w, Options{})
	cfg.Across = Across{Observe: []*cluster.Node{{Name: "x1"}}}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if warned := jsEvents(*events, ResultWarning); len(warned) > 0 {
		t.Errorf("warnings %v: the meta leader x1 was not judged", warned)
	}

	w = newWorld()
	w.add("x1")
	w.leader = "x1"
	w.metaBehind = map[string]bool{"x1": false, "n3": true}
	cfg, _ = setup(t, w, Options{})
	cfg.Across = Across{Observe: []*cluster.Node{{Name: "x1"}}}
	_, err := Run(context.Background(), cfg)
	var re *Error
	// Right before the first stop (a peer behind may catch up: upfront
	// it is not held against the rollout), after the settle rereads.
	if !errors.As(err, &re) || re.Kind != KindJetStream || re.Node != "n1" {
		t.Fatalf("err %v, want a JetStream refusal before n1", err)
	}
	if !strings.Contains(err.Error(), "JetStream meta peer n3 is not current on the meta leader x1") {
		t.Errorf("error %q does not name the lagging peer on x1's view", err)
	}
	if len(w.steps) != 0 {
		t.Errorf("steps %v, want none", w.steps)
	}
}

func TestJetStreamDowngradeBelowAPILevel(t *testing.T) {
	for _, force := range []bool{false, true} {
		w := newWorld()
		w.version = "2.15.2"
		w.streams = []*fakeStream{{name: "TTL", peers: []string{"n1", "n2", "n3"}, level: "1"}}
		cfg, events, acts := deploySetup(t, w, Options{Force: force}, Restart, nil)
		for n, a := range acts {
			cfg.Actions[n] = &upgrading{fakeAction: a, target: "2.9.10"}
		}
		_, err := Run(context.Background(), cfg)
		if force {
			if err != nil {
				t.Fatalf("--force: %v", err)
			}
			if w := jsEvents(*events, ResultWarning); len(w) != 12 || !strings.Contains(w[0], "--force: downgrade from nats-server 2.15.2 to 2.9.10") {
				t.Errorf("--force warnings %d: %v", len(w), w)
			}
			continue
		}
		var re *Error
		if !errors.As(err, &re) || re.Kind != KindJetStream || re.Node != "n2" {
			t.Fatalf("err %v, want a refusal at n2", err)
		}
		for _, want := range []string{
			"downgrade from nats-server 2.15.2 to 2.9.10 jumps 6 minor versions",
			"stream $G/TTL requires JetStream API level 1 (metadata _nats.req.level); nats-server 2.9.10 supports level 0",
			"--force", "nothing was changed",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "--allow-unavailable") {
			t.Errorf("error %q offers --allow-unavailable for a version refusal", err)
		}
		if len(w.steps) != 0 {
			t.Errorf("steps %v", w.steps)
		}
	}
}

// --dry-run shows what the check before each stop would say, and a
// refusal stands there too.
func TestJetStreamDryRun(t *testing.T) {
	w := newWorld()
	cfg, events := setup(t, w, Options{DryRun: true})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if p := jsEvents(*events, ResultPlanned); len(p) != 3 || !strings.Contains(p[0], "n2: before the stop: n2 holds 0 stream replicas and 0 consumer replicas; none would lose its quorum") {
		t.Errorf("planned %v", p)
	}
	w.streams = []*fakeStream{{name: "EVENTS", peers: []string{"n1"}, level: "0"}}
	cfg, _ = setup(t, w, Options{DryRun: true})
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindJetStream || re.Node != "n1" {
		t.Fatalf("err %v", err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if len(w.touched(n)) > 0 {
			t.Errorf("%s touched", n)
		}
	}
}
