package health

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/monitor"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// snap is a healthy n1 with routes to n2 and n3 and a meta leader.
func snap(name string) *monitor.Snapshot {
	s := &monitor.Snapshot{
		URL:     "http://" + name + ":8222",
		Healthz: &monitor.Healthz{Status: "ok", HTTPStatus: http.StatusOK},
		Varz:    &monitor.Varz{ServerName: name, ServerID: "ID-" + name, Start: t0},
		Routez:  &monitor.Routez{},
		Jsz:     &monitor.Jsz{Meta: &monitor.MetaCluster{Leader: "n1", Size: 3}},
		Errs:    map[string]error{},
	}
	for _, p := range []string{"n1", "n2", "n3"} {
		if p != name {
			s.Routez.Routes = append(s.Routez.Routes, monitor.Route{RemoteName: p, RemoteID: "ID-" + p})
		}
	}
	return s
}

func codes(rs []Reason) string {
	var c []string
	for _, r := range rs {
		c = append(c, r.Node+":"+r.Code)
	}
	return strings.Join(c, " ")
}

// TestNodeReady: every reason a node is not back is a row.
func TestNodeReady(t *testing.T) {
	peers := Expect{Peers: []string{"n2", "n3"}, JetStream: true}
	for _, tc := range []struct {
		name   string
		mutate func(*monitor.Snapshot)
		expect Expect
		want   string // codes, "" = ready
		msg    string
	}{
		{"ready", func(*monitor.Snapshot) {}, peers, "", ""},
		{"unreachable", func(s *monitor.Snapshot) {
			s.Healthz, s.Varz, s.Routez, s.Jsz = nil, nil, nil, nil
			s.Errs["healthz"] = errors.New("connect: connection refused")
		}, peers, "n1:unreachable", "connection refused"},
		{"partial answer", func(s *monitor.Snapshot) { s.Routez = nil; s.Errs["routez"] = errors.New("HTTP 404") }, peers, "n1:monitoring-incomplete", "HTTP 404"},
		{"another server on the port", func(s *monitor.Snapshot) { s.Varz.ServerName = "n9" }, peers, "n1:wrong-server", `server "n9", not "n1"`},
		{"a server without server_name", func(s *monitor.Snapshot) { s.Varz.ServerName = s.Varz.ServerID }, peers, "n1:wrong-server", "without server_name"},
		{"not restarted yet", func(*monitor.Snapshot) {}, Expect{Peers: peers.Peers, RestartedAfter: t0, PrevServerID: "ID-n1"}, "n1:not-restarted", "still the process started"},
		{"restarted: new start", func(s *monitor.Snapshot) { s.Varz.Start = t0.Add(time.Second) }, Expect{Peers: peers.Peers, RestartedAfter: t0, PrevServerID: "ID-n1"}, "", ""},
		{"restarted: new server id, clock skew", func(s *monitor.Snapshot) { s.Varz.ServerID = "NEW" }, Expect{Peers: peers.Peers, RestartedAfter: t0, PrevServerID: "ID-n1"}, "", ""},
		{"lame duck or not ready (500)", func(s *monitor.Snapshot) {
			s.Healthz = &monitor.Healthz{Status: "error", HTTPStatus: 500, Error: "server is in lame duck mode"}
		}, peers, "n1:healthz", "lame duck"},
		{"JetStream not current (503)", func(s *monitor.Snapshot) {
			s.Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: 503, Errors: []monitor.HealthError{{Error: "JetStream has not established contact with a meta leader"}}}
		}, peers, "n1:healthz", "meta leader"},
		{"missing route", func(s *monitor.Snapshot) { s.Routez.Routes = s.Routez.Routes[:1] }, peers, "n1:routes", "no route to n3 (routes to: n2)"},
		{"pooled routes to one peer are not two peers", func(s *monitor.Snapshot) {
			s.Routez.Routes = []monitor.Route{{RemoteName: "n2"}, {RemoteName: "n2"}, {RemoteName: "n2"}, {RemoteName: "n2"}}
			s.Routez.NumRoutes = 4
		}, peers, "n1:routes", "no route to n3"},
		{"2.9 routez, not named: ids are not peers", func(s *monitor.Snapshot) {
			s.Routez.Routes = []monitor.Route{{RemoteID: "ID-n2"}, {RemoteID: "ID-n3"}}
		}, peers, "n1:routes", "no route to n2, n3 (routes to: ID-n2, ID-n3)"},
		{"no meta leader", func(s *monitor.Snapshot) { s.Jsz.Meta.Leader = "" }, peers, "n1:jetstream-no-leader", "no meta leader"},
		{"no meta leader ignored without JetStream", func(s *monitor.Snapshot) { s.Jsz.Meta = nil }, Expect{Peers: peers.Peers}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap("n1")
			tc.mutate(s)
			rs := NodeReady("n1", s, tc.expect)
			if got := codes(rs); got != tc.want {
				t.Fatalf("reasons %q, want %q: %v", got, tc.want, rs)
			}
			if tc.msg != "" && !strings.Contains(rs[0].Msg, tc.msg) {
				t.Errorf("message %q lacks %q", rs[0].Msg, tc.msg)
			}
		})
	}
}

func TestClusterReady(t *testing.T) {
	inv := testinv.MustParse(t, testinv.ThreeJS())
	all := func() map[string]*monitor.Snapshot {
		return map[string]*monitor.Snapshot{"n1": snap("n1"), "n2": snap("n2"), "n3": snap("n3")}
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]*monitor.Snapshot)
		want   string
	}{
		{"ready", func(map[string]*monitor.Snapshot) {}, ""},
		{"ready, 2.9 routez without names, named from /varz", func(m map[string]*monitor.Snapshot) {
			for _, s := range m {
				for i := range s.Routez.Routes {
					s.Routez.Routes[i].RemoteName = ""
				}
			}
			monitor.NameRoutes(m)
		}, ""},
		{"a node down", func(m map[string]*monitor.Snapshot) {
			delete(m, "n3")
			m["n1"].Routez.Routes = m["n1"].Routez.Routes[:1]
			m["n2"].Routez.Routes = m["n2"].Routez.Routes[:1]
		}, "n1:routes n2:routes n3:unreachable"},
		{"leaders disagree", func(m map[string]*monitor.Snapshot) { m["n3"].Jsz.Meta.Leader = "n3" }, "cluster:jetstream-leader-disagreement"},
		{"replica behind on the leader", func(m map[string]*monitor.Snapshot) {
			m["n1"].Jsz.Meta.Replicas = append(m["n1"].Jsz.Meta.Replicas, monitor.MetaReplica{Name: "n2", Current: false, Lag: 12})
		}, "n2:jetstream-not-current"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := all()
			tc.mutate(m)
			if got := codes(ClusterReady(inv, m)); got != tc.want {
				t.Errorf("reasons %q, want %q", got, tc.want)
			}
		})
	}
	m := all()
	if MetaLeader(m) != "n1" {
		t.Errorf("MetaLeader = %q", MetaLeader(m))
	}
	m["n2"].Jsz.Meta.Leader = "n2"
	if MetaLeader(m) != "" {
		t.Error("MetaLeader with disagreement should be empty")
	}
}

// A lone server with JetStream has no meta group: it is healthy without a
// meta leader (it was never healthy: status exited 3, restart refused it).
func TestStandaloneJetStreamIsHealthy(t *testing.T) {
	inv := testinv.MustParse(t, "[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats\"\n[[node]]\nname = \"n1\"\nhost = \"h\"\n")
	s := snap("n1")
	s.Routez.Routes = nil
	s.Jsz = &monitor.Jsz{} // standalone: no meta_cluster
	snaps := map[string]*monitor.Snapshot{"n1": s}
	if rs := ClusterReady(inv, snaps); len(rs) != 0 {
		t.Fatalf("standalone JetStream: %v", rs)
	}
	if rs := Gate(inv, "n1", snaps); len(rs) != 0 {
		t.Fatalf("gate: %v", rs)
	}
	if f := Status(inv, inv.Nodes, snaps, nil); !f.Healthy || f.Nodes[0].JetStream != "standalone" {
		t.Fatalf("status: %+v", f)
	}
}

// TestBrief: a wait's reasons on one line, the subject's own unnamed.
func TestBrief(t *testing.T) {
	rs := []Reason{
		{Node: "n1", Code: ReasonHealthz, Msg: "/healthz: JetStream is still recovering meta layer"},
		{Node: "n2", Code: ReasonRoutes, Msg: "no route back to n1 yet"},
		{Node: "n3", Code: ReasonRoutes, Msg: "no route back to n1 yet"},
		{Node: "n3", Code: ReasonJSNotCurrent, Msg: "x"},
	}
	for _, tc := range []struct {
		subject string
		rs      []Reason
		want    string
	}{
		{"n1", rs[:1], "/healthz: JetStream is still recovering meta layer"},
		{"n1", rs[:2], "/healthz: JetStream is still recovering meta layer; n2: no route back to n1 yet"},
		{"", rs[:2], "n1: /healthz: JetStream is still recovering meta layer; n2: no route back to n1 yet"},
		{"n1", rs, "/healthz: JetStream is still recovering meta layer; n2: no route back to n1 yet; and 2 more"},
		{"n1", nil, ""},
	} {
		if got := Brief(tc.subject, tc.rs); got != tc.want {
			t.Errorf("Brief(%q, %d reasons) = %q, want %q", tc.subject, len(tc.rs), got, tc.want)
		}
	}
}
