package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// A 3-node cluster n1..n3 as /jsz?accounts&streams&consumers&config
// shows it: each node lists the replicas it holds; only a group's leader
// sees its peers' lag.

func peer(name string, current bool, lag uint64) monitor.PeerInfo {
	p := monitor.PeerInfo{Name: name, Current: current, Lag: lag, Active: 20 * time.Millisecond}
	if !current {
		p.Active = 14 * time.Second
	}
	return p
}

func stream(name string, replicas int, leader string, peers ...monitor.PeerInfo) monitor.StreamDetail {
	return monitor.StreamDetail{Name: name, Config: &monitor.StreamConfig{Replicas: replicas, Metadata: map[string]string{RequiredLevelKey: "0"}},
		Cluster: &monitor.ClusterInfo{Name: "c", Leader: leader, Replicas: peers}}
}

func detail(metaLeader string, meta []monitor.MetaReplica, streams ...monitor.StreamDetail) *monitor.JSDetail {
	d := &monitor.JSDetail{Accounts: []monitor.AccountDetail{{Name: "$G", Streams: streams}}}
	d.Meta = &monitor.MetaCluster{Leader: metaLeader, Size: 3, Replicas: meta}
	return d
}

func allMetaCurrent(except string) []monitor.MetaReplica {
	var out []monitor.MetaReplica
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != except {
			out = append(out, monitor.MetaReplica{Name: n, Current: true, Active: 30 * time.Millisecond})
		}
	}
	return out
}

// clusterWith is every node's reading with the meta leader n1 and the
// streams given per node.
func clusterWith(per map[string][]monitor.StreamDetail) map[string]*monitor.JSDetail {
	out := map[string]*monitor.JSDetail{}
	for _, n := range []string{"n1", "n2", "n3"} {
		out[n] = detail("n1", allMetaCurrent(n), per[n]...)
	}
	return out
}

func withConsumer(s monitor.StreamDetail, c monitor.ConsumerDetail) monitor.StreamDetail {
	s.Consumers = append(s.Consumers, c)
	return s
}

func withLevel(s monitor.StreamDetail, level string) monitor.StreamDetail {
	cfg := *s.Config
	cfg.Metadata = map[string]string{RequiredLevelKey: level}
	s.Config = &cfg
	return s
}

func TestStopImpact(t *testing.T) {
	r3cur := func(leader string, others ...string) monitor.StreamDetail {
		var ps []monitor.PeerInfo
		for _, o := range others {
			ps = append(ps, peer(o, true, 0))
		}
		return stream("ORDERS", 3, leader, ps...)
	}
	// n2 is the stream leader; followers' views are stale and not used.
	r3 := map[string][]monitor.StreamDetail{
		"n1": {stream("ORDERS", 3, "n2", peer("n2", true, 0), peer("n3", false, 0))},
		"n2": {r3cur("n2", "n1", "n3")},
		"n3": {stream("ORDERS", 3, "n2", peer("n1", false, 0), peer("n2", true, 0))},
	}
	r3lag := map[string][]monitor.StreamDetail{
		"n1": r3["n1"],
		"n2": {stream("ORDERS", 3, "n2", peer("n1", true, 0), peer("n3", false, 4711))},
		"n3": r3["n3"],
	}
	r3off := map[string][]monitor.StreamDetail{
		"n1": r3["n1"],
		"n2": {stream("ORDERS", 3, "n2", peer("n1", true, 0), monitor.PeerInfo{Name: "n3", Offline: true, Active: 40 * time.Second})},
	}
	metaLag := clusterWith(nil)
	metaLag["n1"].Meta.Replicas = []monitor.MetaReplica{{Name: "n2", Current: true}, {Name: "n3", Current: false, Lag: 321, Active: 12 * time.Second}}
	r5lag := map[string][]monitor.StreamDetail{
		"n1": {stream("WIDE", 5, "n1", peer("n2", true, 0), peer("n3", false, 9), peer("n4", true, 0), peer("n5", true, 0))},
		"n2": {stream("WIDE", 5, "n1")},
	}
	consumerR1 := map[string][]monitor.StreamDetail{
		"n2": {withConsumer(r3cur("n2", "n1", "n3"), monitor.ConsumerDetail{Name: "C1", Config: &monitor.ConsumerConfig{Replicas: 1}, Cluster: &monitor.ClusterInfo{Leader: "n2"}})},
	}
	consumerLag := map[string][]monitor.StreamDetail{
		"n1": {withConsumer(r3cur("n2", "n1", "n3"), monitor.ConsumerDetail{Name: "C3", Config: &monitor.ConsumerConfig{}, Cluster: &monitor.ClusterInfo{Leader: "n1", Replicas: []monitor.PeerInfo{peer("n2", true, 0), peer("n3", false, 77)}}})},
		"n2": {withConsumer(r3cur("n2", "n1", "n3"), monitor.ConsumerDetail{Name: "C3", Config: &monitor.ConsumerConfig{}, Cluster: &monitor.ClusterInfo{Leader: "n1", Replicas: []monitor.PeerInfo{peer("n1", true, 0), peer("n3", false, 0)}}})},
	}
	ttl := map[string][]monitor.StreamDetail{"n2": {withLevel(stream("TTL", 1, "n2"), "1")}}
	ttlFeature := map[string][]monitor.StreamDetail{"n2": {stream("TTL", 3, "n2", peer("n1", true, 0), peer("n3", true, 0))}}
	ttlFeature["n2"][0].Config.AllowMsgTTL = true
	ttlFeature["n2"][0].Config.Metadata = nil
	consumerLevel := map[string][]monitor.StreamDetail{"n2": {withConsumer(r3cur("n2", "n1", "n3"), monitor.ConsumerDetail{Name: "PINNED", Config: &monitor.ConsumerConfig{Metadata: map[string]string{RequiredLevelKey: "1"}}, Cluster: &monitor.ClusterInfo{Leader: "n2", Replicas: []monitor.PeerInfo{peer("n1", true, 0), peer("n3", true, 0)}}})}}
	// nats-server 2.9's stream configs carry no metadata: nothing needs
	// an API level.
	old := map[string][]monitor.StreamDetail{"n2": {r3cur("n2", "n1", "n3")}}
	old["n2"][0].Config.Metadata = nil
	noData := map[string][]monitor.StreamDetail{"n2": {{Name: "BARE"}}}
	leaderless := map[string][]monitor.StreamDetail{"n2": {stream("ORDERS", 3, "", peer("n1", false, 0), peer("n3", false, 0))}}

	type want struct{ code, asset, text string }
	cases := []struct {
		name    string
		in      StopInput
		refused []want // without --allow-unavailable / --force
		warn    []want
		allowed bool // with --allow-unavailable and --force nothing stands
	}{
		{name: "R1 on the node", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(map[string][]monitor.StreamDetail{"n2": {stream("EVENTS", 1, "n2")}})},
			refused: []want{{ReasonR1Stream, "$G/EVENTS", "stream $G/EVENTS is R1 and its only replica is on n2"}}},
		{name: "R1 elsewhere", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(map[string][]monitor.StreamDetail{"n1": {stream("EVENTS", 1, "n1")}})}},
		{name: "R3 all current, leader is the node", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(r3)}},
		{name: "R3 all current, leader elsewhere", in: StopInput{Node: "n3", Availability: true, Streams: clusterWith(r3)}},
		{name: "R3 one peer lagging", in: StopInput{Node: "n1", Availability: true, Streams: clusterWith(r3lag)},
			refused: []want{{ReasonStreamQuorum, "$G/ORDERS", "needs 2 current replicas; without n1 only 1 would be: n3 (lag 4711, last seen 14s ago) not current"}}},
		{name: "R3 one peer offline", in: StopInput{Node: "n1", Availability: true, Streams: clusterWith(r3off)},
			refused: []want{{ReasonStreamQuorum, "$G/ORDERS", "n3 (lag 0, last seen 40s ago, offline) not current"}}},
		{name: "R3 lagging peer is the node itself", in: StopInput{Node: "n3", Availability: true, Streams: clusterWith(r3lag)}},
		{name: "R5 one lagging keeps a quorum: warned", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(r5lag)},
			warn: []want{{ReasonPeerLagging, "$G/WIDE", "n3 (lag 9, last seen 14s ago) not current; without n2 3 of 3 needed stay current"}}},
		{name: "R3 without a leader", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(leaderless)},
			refused: []want{{ReasonStreamQuorum, "$G/ORDERS", "has no leader now"}}},
		{name: "consumer R1", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(consumerR1)},
			refused: []want{{ReasonR1Consumer, "$G/ORDERS consumer C1", "consumer $G/ORDERS consumer C1 is R1 and its only replica is on n2"}}},
		{name: "consumer R3 (its stream's) with a peer lagging on its leader", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(consumerLag)},
			refused: []want{{ReasonConsumerQuorum, "$G/ORDERS consumer C3", "n3 (lag 77, last seen 14s ago) not current"}}},
		{name: "meta peer lagging", in: StopInput{Node: "n2", Availability: true, Streams: metaLag},
			refused: []want{{ReasonMetaLagging, "", "meta peer n3 is not current on the meta leader n1 (lag 321, last seen 12s ago)"}}},
		{name: "meta leader not read", in: StopInput{Node: "n2", Availability: true, Streams: map[string]*monitor.JSDetail{"n2": detail("n1", nil)}, Errs: map[string]error{"n1": errors.New("connection refused")}},
			warn: []want{{ReasonUnjudged, "", "the meta leader n1's view of the meta group was not read (connection refused)"}}},
		{name: "stream leader not read", in: StopInput{Node: "n3", Availability: true, Streams: map[string]*monitor.JSDetail{"n1": detail("n1", allMetaCurrent("n1")), "n3": detail("n1", nil, r3["n3"]...)}, Errs: map[string]error{"n2": errors.New("timeout")}},
			warn: []want{{ReasonUnjudged, "$G/ORDERS", "its leader n2's view of its replicas was not read (timeout)"}}},
		{name: "node's streams not readable", in: StopInput{Node: "n2", Availability: true, Errs: map[string]error{"n2": errors.New("HTTP 404")}},
			warn: []want{{ReasonUnjudged, "", "cannot list the streams on n2 (HTTP 404)"}}},
		{name: "2.9 without the data", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(noData)},
			warn: []want{{ReasonUnjudged, "$G/BARE", "neither its config nor its cluster"}}},
		{name: "2.9 streams downgrade to 2.9: no level needed", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(old), Running: "2.10.0", Target: "2.9.10"}},
		{name: "lone server: no availability judged", in: StopInput{Node: "n2", Streams: clusterWith(map[string][]monitor.StreamDetail{"n2": {stream("EVENTS", 1, "n2")}})}},
		{name: "API level too high", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(ttl), Running: "2.15.2", Target: "2.9.10"},
			refused: []want{
				{ReasonR1Stream, "$G/TTL", "R1"},
				{ReasonVersionJump, "", "downgrade from nats-server 2.15.2 to 2.9.10 jumps 6 minor versions"},
				{ReasonAPILevel, "$G/TTL", "stream $G/TTL requires JetStream API level 1 (metadata _nats.req.level); nats-server 2.9.10 supports level 0"}}},
		{name: "API level from the feature, one minor down", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(ttlFeature), Running: "2.11.4", Target: "2.10.29"},
			refused: []want{{ReasonAPILevel, "$G/TTL", "requires JetStream API level 1 (per-message TTL); nats-server 2.10.29 supports level 0"}}},
		{name: "API level of a consumer", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(consumerLevel), Running: "2.11.1", Target: "2.10.0"},
			refused: []want{{ReasonAPILevel, "$G/ORDERS consumer PINNED", "requires JetStream API level 1"}}},
		{name: "API level supported by the target", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(ttlFeature), Running: "2.12.1", Target: "2.11.0"}},
		{name: "minor jump 2", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil), Running: "2.10.24", Target: "2.12.1"},
			refused: []want{{ReasonVersionJump, "", "upgrade from nats-server 2.10.24 to 2.12.1 jumps 2 minor versions"}}},
		{name: "minor jump 1 ok", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil), Running: "2.10.24", Target: "v2.11.0"}},
		{name: "minor downgrade 1 ok", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil), Running: "2.12.1", Target: "2.11.9"}},
		{name: "patch downgrade ok", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(ttlFeature), Running: "2.15.2", Target: "2.15.0"}},
		{name: "major version", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil), Running: "2.15.2", Target: "3.0.0"},
			refused: []want{{ReasonVersionJump, "", "jumps 100 minor versions"}}},
		{name: "target not a version", in: StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil), Running: "2.15.2", Target: "nats-server: unknown"},
			warn: []want{{ReasonUnjudged, "", "is not a nats-server version"}}},
		{name: "JetStream disabled", in: StopInput{Node: "n2", Availability: true, Streams: map[string]*monitor.JSDetail{"n2": {Disabled: true}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := StopImpact(c.in)
			check := func(what string, got []Reason, want []want) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: got %d reasons, want %d: %v", what, len(got), len(want), got)
				}
				for i, w := range want {
					g := got[i]
					if g.Code != w.code || g.Asset != w.asset || !strings.Contains(g.Msg, w.text) || g.Node != c.in.Node {
						t.Errorf("%s %d: got %s [%s] %q, want %s [%s] containing %q", what, i, g.Code, g.Asset, g.Msg, w.code, w.asset, w.text)
					}
				}
			}
			check("refusals", v.Refusals(false, false), c.refused)
			check("warnings", v.Warnings, c.warn)
			if rs := v.Refusals(true, true); len(rs) != 0 {
				t.Errorf("with --allow-unavailable --force still refused: %v", rs)
			}
		})
	}
}

func TestStopOverrides(t *testing.T) {
	v := StopImpact(StopInput{Node: "n2", Availability: true, Running: "2.15.2", Target: "2.9.10",
		Streams: clusterWith(map[string][]monitor.StreamDetail{"n2": {withLevel(stream("TTL", 1, "n2"), "1")}})})
	codes := func(rs []Reason) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Code)
		}
		return strings.Join(s, ",")
	}
	if got := codes(v.Refusals(true, false)); got != "version-jump,api-level" {
		t.Errorf("--allow-unavailable leaves %q, want the version refusals", got)
	}
	if got := codes(v.Refusals(false, true)); got != "r1-stream" {
		t.Errorf("--force leaves %q, want the availability refusal", got)
	}
	if v.Transient() {
		t.Error("an R1 stream and a version are not transient")
	}
	if lag := StopImpact(StopInput{Node: "n2", Availability: true, Streams: clusterWith(nil)}); lag.Transient() {
		t.Error("nothing found is not transient")
	}
}

func TestAPILevel(t *testing.T) {
	for v, want := range map[string]int{"2.9.10": 0, "2.10.29": 0, "2.11.0": 1, "2.11.17": 1, "2.12.4": 2, "2.12.5": 3, "2.14.5": 4, "2.15.2": 5, "2.16.0": 5} {
		pv, ok := cluster.ParseVersion(v)
		if !ok || APILevel(pv) != want {
			t.Errorf("%s: level %d (parsed %v), want %d", v, APILevel(pv), ok, want)
		}
	}
}

// CatchingUp: a /healthz that fails only on stream or consumer replicas
// not current yet; anything else, or no reading, is not.
func TestCatchingUp(t *testing.T) {
	hz := func(err string, more ...string) *monitor.Snapshot {
		h := &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Error: err}
		for _, m := range more {
			h.Errors = append(h.Errors, monitor.HealthError{Error: m})
		}
		return &monitor.Snapshot{Healthz: h}
	}
	for _, tc := range []struct {
		name string
		s    *monitor.Snapshot
		want bool
	}{
		{"stream", hz("JetStream stream '$G > ROLL' is not current"), true},
		{"stream, with the server's cause", hz("JetStream stream 'A > S' is not current: catching up"), true},
		{"consumer", hz("JetStream consumer '$G > ROLL > C' is not current"), true},
		{"stream and consumer", hz("JetStream stream 'A > S' is not current", "JetStream consumer 'A > S > C' is not current"), true},
		{"stream and no meta leader", hz("JetStream stream 'A > S' is not current", "JetStream has not established contact with a meta leader"), false},
		{"meta", hz("JetStream is not current with the meta leader"), false},
		{"ok", &monitor.Snapshot{Healthz: &monitor.Healthz{Status: "ok", HTTPStatus: 200}}, false},
		{"no reading", &monitor.Snapshot{}, false},
		{"nil", nil, false},
	} {
		if got := CatchingUp(tc.s); got != tc.want {
			t.Errorf("%s: CatchingUp = %v, want %v", tc.name, got, tc.want)
		}
	}
}
