package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
)

// gatewayGate is an estate gate that says the cluster lacks the
// inbound gateway of cluster "west" while bad reports so.
func gatewayGate(bad func() bool) func(*cluster.Inventory, map[string]*monitor.Snapshot) []health.Reason {
	return func(*cluster.Inventory, map[string]*monitor.Snapshot) []health.Reason {
		if bad() {
			return []health.Reason{{Node: "cluster", Code: health.ReasonGatewayInbound, Msg: "cluster east has inbound gateway connections from 0 of cluster west's 1 server"}}
		}
		return nil
	}
}

// TestAcrossGateWaitsForTheGateways: a node is not left until the
// estate's gate passes too (its gateways back): the next node is stopped
// only then.
func TestAcrossGateWaitsForTheGateways(t *testing.T) {
	w := newWorld()
	cfg, _ := setup(t, w, Options{})
	after := 0
	cfg.Across.Gate = gatewayGate(func() bool {
		// Once n2 is started again, the gateway is missing for 5 readings.
		if w.start["n2"].After(w.start["n3"]) && after < 5 {
			after++
			return true
		}
		return false
	})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if after != 5 {
		t.Errorf("the gate failed %d times after n2's restart, want 5 (it was not asked until it passed)", after)
	}
	if got := strings.Join(w.steps, " "); got != "n2:stop n2:start n3:stop n3:start n1:stop n1:start" {
		t.Errorf("steps %s", got)
	}
}

// TestAcrossGateFailsTheNode: gateways that never come back fail the node
// with the gate's reason; the nodes after it are not touched.
func TestAcrossGateFailsTheNode(t *testing.T) {
	w := newWorld()
	cfg, _ := setup(t, w, Options{})
	cfg.Across.Gate = gatewayGate(func() bool { return w.start["n2"].After(w.start["n3"]) })
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" {
		t.Fatalf("err %v, want n2 failed", err)
	}
	if !strings.Contains(err.Error(), "inbound gateway connections from 0 of cluster west's 1 server") {
		t.Errorf("error does not say why: %v", err)
	}
	for _, n := range []string{"n3", "n1"} {
		if got := w.touched(n); len(got) > 0 {
			t.Errorf("%s touched after n2 failed: %v", n, got)
		}
	}
}

// TestAcrossGateRefusesPreflight: an estate whose gateways are down is
// not rolled (nothing touched), as an unhealthy cluster is not.
func TestAcrossGateRefusesPreflight(t *testing.T) {
	w := newWorld()
	cfg, _ := setup(t, w, Options{})
	cfg.Settle = 1
	cfg.Across.Gate = gatewayGate(func() bool { return true })
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindPreflight || !strings.Contains(err.Error(), "gateway-inbound-missing") && !strings.Contains(err.Error(), "inbound gateway") {
		t.Fatalf("err %v, want a preflight refusal naming the gateway", err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if got := w.touched(n); len(got) > 0 {
			t.Errorf("%s touched: %v", n, got)
		}
	}
}

func TestEstateOrder(t *testing.T) {
	est, err := cluster.ParseEstate("est.toml", []byte(testinv.Estate))
	if err != nil {
		t.Fatal(err)
	}
	names := func(cs []*cluster.Inventory) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ClusterName())
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ leader, want string }{
		{"e1", "edge,west,east"},
		{"w1", "edge,east,west"},
		{"", "edge,east,west"},
		{"x1", "edge,east,west"}, // a leaf's own domain leader: hubs in file order
	} {
		if got := names(EstateOrder(est.Clusters, tc.leader)); got != tc.want {
			t.Errorf("leader %q: order %s, want %s", tc.leader, got, tc.want)
		}
	}
	a := AcrossFor(est.Clusters[0])
	if len(a.Observe) != 1 || a.Observe[0].Name != "w1" || a.Gate == nil || a.Options == nil {
		t.Errorf("east's Across: observe %v, gate %v", a.Observe, a.Gate != nil)
	}
	if o := a.Options(est.Clusters[2].Nodes[0]); !o.Leafs || o.Gateways {
		t.Errorf("the leaf node's reads: %+v", o)
	}
}

// TestObservedNodeDownStopsTheWait: a server of another cluster read
// along that stops answering while a node comes back stops the wait
// within a few seconds, naming it, not at the node timeout.
func TestObservedNodeDownStopsTheWait(t *testing.T) {
	w := newWorld()
	w.add("o1")
	cfg, _ := setup(t, w, Options{NodeTimeout: time.Minute})
	cfg.Across.Observe = []*cluster.Node{{Name: "o1", Host: "o1", RouteHost: "o1"}}
	cfg.Across.Gate = gatewayGate(func() bool {
		if w.start["n2"].After(w.start["n3"]) {
			w.running["o1"] = false // o1 dies as n2 comes back
		}
		return !w.running["o1"]
	})
	begin := w.Now()
	_, err := Run(context.Background(), cfg)
	var re *Error
	if !errors.As(err, &re) || re.Node != "n2" || !strings.Contains(err.Error(), "o1, of another cluster of the estate (read along, its host not reached), has not answered at :8222 for 3s while n2 was coming back") {
		t.Fatalf("err %v, want n2's wait stopped naming o1", err)
	}
	if took := w.Now().Sub(begin); took > 10*time.Second {
		t.Errorf("stopped after %s, want within a few seconds", took)
	}
	if got := w.touched("n3"); len(got) > 0 {
		t.Errorf("n3 touched: %v", got)
	}
}
