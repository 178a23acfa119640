package health

import (
	"net/http"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// TestPreflight: every rule of the verdict before a rollout is a row.
func TestPreflight(t *testing.T) {
	three := testinv.MustParse(t, testinv.ThreeJS())
	four := testinv.MustParse(t, testinv.ThreeJS()+"\n[[node]]\nname = \"n4\"\nhost = \"10.0.0.4\"\n")
	healthy := func() map[string]*monitor.Snapshot {
		return map[string]*monitor.Snapshot{"n1": snap("n1"), "n2": snap("n2"), "n3": snap("n3")}
	}
	// n3 down: the others have no route to it.
	n3Down := func(m map[string]*monitor.Snapshot) {
		m["n3"] = &monitor.Snapshot{URL: "http://n3:8222", Errs: map[string]error{"varz": errString("connection refused")}}
		m["n1"].Routez.Routes = m["n1"].Routez.Routes[:1]
		m["n2"].Routez.Routes = m["n2"].Routez.Routes[:1]
	}
	lagging := func(m map[string]*monitor.Snapshot) {
		m["n2"].Healthz = &monitor.Healthz{Status: "unavailable", HTTPStatus: http.StatusServiceUnavailable, Error: "JetStream stream '$G > ROLL' is not current"}
	}
	gatewayDown := func(cur *cluster.Inventory, _ map[string]*monitor.Snapshot) []Reason {
		return []Reason{{Node: "n1", Code: ReasonGatewayOutbound, Msg: "no outbound gateway to west"}}
	}
	for _, tc := range []struct {
		name    string
		inv     *cluster.Inventory
		mutate  func(map[string]*monitor.Snapshot)
		in      PreflightInput // Inventory and Snaps filled in
		outcome string
		reasons string // codes
		settle  bool
		absent  string
		up      string
		base    string // codes of the baseline, sorted
	}{
		{name: "healthy", in: PreflightInput{Stops: true},
			outcome: PreflightOK, up: "n1 n2 n3"},
		{name: "a node down, a restart: refused, worth settling", mutate: n3Down, in: PreflightInput{Stops: true},
			outcome: PreflightRefused, reasons: "n1:routes n2:routes n3:unreachable", settle: true, up: "n1 n2"},
		{name: "a node down under --force: gone on with, baseline kept", mutate: n3Down, in: PreflightInput{Stops: true, Force: true},
			outcome: PreflightForced, reasons: "n1:routes n2:routes n3:unreachable", up: "n1 n2", base: "n1/routes n2/routes n3/unreachable"},
		{name: "a node down, nothing stops: ungated, baseline kept", mutate: n3Down, in: PreflightInput{},
			outcome: PreflightUngated, reasons: "n1:routes n2:routes n3:unreachable", up: "n1 n2", base: "n1/routes n2/routes n3/unreachable"},
		{name: "a dead node being replaced: judged without, the others' reports on it ignored", mutate: n3Down, in: PreflightInput{Stops: true, Dead: []string{"n3"}},
			outcome: PreflightOK, absent: "n3", up: "n1 n2"},
		{name: "a dead node does not hide another's problem", mutate: func(m map[string]*monitor.Snapshot) { n3Down(m); lagging(m) }, in: PreflightInput{Stops: true, Dead: []string{"n3"}},
			outcome: PreflightRefused, reasons: "n2:healthz", settle: true, absent: "n3", up: "n1 n2"},
		{name: "a host unreachable over SSH: refused at once", in: PreflightInput{Stops: true, SSH: map[string]string{"n2": "dial tcp: timeout"}},
			outcome: PreflightRefused, reasons: "n2:ssh-unreachable", up: "n1 n2 n3"},
		{name: "unreachable hosts first, in inventory order", mutate: lagging, in: PreflightInput{Stops: true, SSH: map[string]string{"n3": "x", "n1": "y"}},
			outcome: PreflightRefused, reasons: "n1:ssh-unreachable n3:ssh-unreachable n2:healthz", up: "n1 n2 n3"},
		{name: "a host unreachable under --force", in: PreflightInput{Stops: true, Force: true, SSH: map[string]string{"n2": "x"}},
			outcome: PreflightForced, reasons: "n2:ssh-unreachable", up: "n1 n2 n3", base: "n2/ssh-unreachable"},
		{name: "a replica a moment behind: refused, worth settling", mutate: lagging, in: PreflightInput{Stops: true},
			outcome: PreflightRefused, reasons: "n2:healthz", settle: true, up: "n1 n2 n3"},
		{name: "no JetStream meta leader", mutate: func(m map[string]*monitor.Snapshot) {
			for _, s := range m {
				s.Jsz.Meta.Leader = ""
			}
		}, in: PreflightInput{Stops: true},
			outcome: PreflightRefused, reasons: "n1:jetstream-no-leader n2:jetstream-no-leader n3:jetstream-no-leader", settle: true, up: "n1 n2 n3"},
		{name: "a meta replica not current on the leader", mutate: func(m map[string]*monitor.Snapshot) {
			m["n1"].Jsz.Meta.Replicas = []monitor.MetaReplica{{Name: "n2", Current: false, Lag: 3}, {Name: "n3", Current: true}}
		}, in: PreflightInput{Stops: true},
			outcome: PreflightRefused, reasons: "n2:jetstream-not-current", settle: true, up: "n1 n2 n3"},
		{name: "a joining node not running is judged without", inv: four, in: PreflightInput{Stops: true, Joining: []string{"n4"}},
			outcome: PreflightOK, absent: "n4", up: "n1 n2 n3"},
		{name: "without Joining, a new node's absence is a sick cluster", inv: four, in: PreflightInput{Stops: true},
			outcome: PreflightRefused, reasons: "n1:routes n2:routes n3:routes n4:unreachable", settle: true, up: "n1 n2 n3"},
		{name: "a leaving node already down is judged without", mutate: n3Down, in: PreflightInput{Stops: true, Leaving: []string{"n3"}},
			// n1 and n2 have routes to each other, none to n3: healthy without it.
			outcome: PreflightOK, absent: "n3", up: "n1 n2"},
		{name: "a leaving node still serving is judged with", in: PreflightInput{Stops: true, Leaving: []string{"n3"}},
			outcome: PreflightOK, up: "n1 n2 n3"},
		{name: "the estate's gate counts", in: PreflightInput{Stops: true, Estate: gatewayDown},
			outcome: PreflightRefused, reasons: "n1:gateway-outbound-missing", settle: true, up: "n1 n2 n3"},
		{name: "a node of another cluster read along is up too", mutate: func(m map[string]*monitor.Snapshot) { m["w1"] = snap("w1") }, in: PreflightInput{Stops: true},
			outcome: PreflightOK, up: "n1 n2 n3 w1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := healthy()
			if tc.mutate != nil {
				tc.mutate(m)
			}
			in := tc.in
			in.Inventory, in.Snaps = three, m
			if tc.inv != nil {
				in.Inventory = tc.inv
			}
			v := Preflight(in)
			if v.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (%v)", v.Outcome, tc.outcome, v.Reasons)
			}
			if got := codes(v.Reasons); got != tc.reasons {
				t.Errorf("reasons %q, want %q", got, tc.reasons)
			}
			if v.Settle != tc.settle {
				t.Errorf("settle %v, want %v", v.Settle, tc.settle)
			}
			if got := strings.Join(keysOf(v.Absent), " "); got != tc.absent {
				t.Errorf("absent %q, want %q", got, tc.absent)
			}
			if got := strings.Join(keysOf(v.Up), " "); got != tc.up {
				t.Errorf("up %q, want %q", got, tc.up)
			}
			if got := strings.Join(keysOf(v.Baseline), " "); got != tc.base {
				t.Errorf("baseline %q, want %q", got, tc.base)
			}
		})
	}
}

// TestBaselineWithout: problems already there are dropped for the other
// nodes, never for the node being changed.
func TestBaselineWithout(t *testing.T) {
	b := NewBaseline([]Reason{{Node: "n3", Code: ReasonUnreachable}, {Node: "n2", Code: ReasonRoutes}})
	rs := []Reason{
		{Node: "n3", Code: ReasonUnreachable},  // there before: dropped
		{Node: "n2", Code: ReasonRoutes},       // the node's own: kept
		{Node: "n1", Code: ReasonRoutes},       // new: kept
		{Node: "n3", Code: ReasonJSNotCurrent}, // another code: kept
	}
	if got, want := codes(b.Without("n2", rs)), "n2:routes n1:routes n3:jetstream-not-current"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Baseline(nil).Without("n1", rs); len(got) != len(rs) {
		t.Errorf("an empty baseline dropped %d", len(rs)-len(got))
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func keysOf[V any](m map[string]V) []string { return text.SortedKeys(m) }
