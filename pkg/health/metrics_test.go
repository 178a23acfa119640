package health

import (
	"time"

	"bytes"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses out with Prometheus's own text-format parser, the
// one a node_exporter textfile collector and a scrape use.
func parseMetrics(t *testing.T, out string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not the text exposition format: %v\n%s", err, out)
	}
	return fams
}

// value is the sample of family name whose labels include want (nil: the
// one without labels); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		if len(want) == 0 && len(got) > 0 {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		}
	}
	return 0, false
}

func write(t *testing.T, in MetricsInput) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMetrics(&b, in); err != nil {
		t.Fatal(err)
	}
	return b.String(), parseMetrics(t, b.String())
}

// TestWriteMetricsMatchesTheVerdict: the metrics carry the verdict, every
// problem (two of one code on one node counted in one series, as a scrape
// refuses duplicate series), the shares as ratios with their thresholds
// and each node's readings; what was not read is absent, not 0; label
// values that are not plain names are escaped, not broken.
func TestWriteMetricsMatchesTheVerdict(t *testing.T) {
	east := &Fleet{Nodes: []NodeStatus{
		{Node: "n1", Reachable: true, Version: "2.15.2", JetStream: "leader", Connections: 40, MaxConns: 1000, Capacity: 50, CapacityLimit: "fds", SlowConsumers: 7, RoutesSeen: 1, RoutesWant: 2, MemBytes: 1 << 20, FDsOpen: 90, FDsSoft: 100, FDsHard: 200},
		{Node: "n2", Reachable: true, Version: "2.15.2", JetStream: "follower", Connections: 1, MaxConns: 1000, RoutesSeen: 2, RoutesWant: 2},
		{Node: "n\"3\\\n", Reachable: false},
	}, Reasons: []Reason{{Node: "n1", Code: "route-missing", Msg: "no route to n2"}, {Node: "n\"3\\\n", Code: ReasonUnreachable}}}
	th := Thresholds{WarnConnPct: 80, CritConnPct: 95, WarnFDsPct: 80, CritFDsPct: 90, WarnSlow: 1, CritSlow: 100}
	v := Verdict{Nodes: 3, MaxConnP: 80, FDsP: 90, FDsRead: 1, Problems: []Problem{
		{Critical, "n1", "route-missing", "no route to n2"},
		{Critical, "n1", "route-missing", "no route to n3"},
		{Critical, "n\"3\\\n", "unreachable", "monitoring endpoint does not answer"},
		{Warning, "n1", "slow-consumers", "7 slow consumers since start"},
	}}
	out, fams := write(t, MetricsInput{Verdict: v, Code: 2, Thresholds: th, Fleets: []NamedFleet{{Cluster: "east", Fleet: east}}})

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"natsops_check_status", nil, 2},
		{"natsops_check_nodes", nil, 3},
		{"natsops_check_problems", map[string]string{"severity": "critical"}, 3},
		{"natsops_check_problems", map[string]string{"severity": "warning"}, 1},
		{"natsops_check_problem", map[string]string{"node": "n1", "code": "route-missing", "severity": "critical"}, 2},
		{"natsops_check_problem", map[string]string{"node": "n\"3\\\n", "code": "unreachable"}, 1},
		{"natsops_check_problem", map[string]string{"node": "n1", "code": "slow-consumers", "severity": "warning"}, 1},
		{"natsops_check_connections_used_ratio", nil, 0.8},
		{"natsops_check_fds_used_ratio", nil, 0.9},
		{"natsops_check_fds_read_nodes", nil, 1},
		{"natsops_check_threshold_ratio", map[string]string{"figure": "connections", "severity": "warning"}, 0.8},
		{"natsops_check_threshold_ratio", map[string]string{"figure": "fds", "severity": "critical"}, 0.9},
		{"natsops_check_slow_consumers_threshold", map[string]string{"severity": "critical"}, 100},
		{"natsops_node_up", map[string]string{"cluster": "east", "node": "n1"}, 1},
		{"natsops_node_up", map[string]string{"cluster": "east", "node": "n\"3\\\n"}, 0},
		{"natsops_node_healthy", map[string]string{"node": "n1"}, 0},
		{"natsops_node_healthy", map[string]string{"node": "n2"}, 1},
		{"natsops_node_healthy", map[string]string{"node": "n\"3\\\n"}, 0},
		{"natsops_node_info", map[string]string{"node": "n1", "version": "2.15.2", "jetstream": "leader"}, 1},
		{"natsops_node_connections", map[string]string{"node": "n1"}, 40},
		{"natsops_node_connection_capacity", map[string]string{"node": "n1"}, 50},
		{"natsops_node_connection_capacity", map[string]string{"node": "n2"}, 1000},
		{"natsops_node_max_connections", map[string]string{"node": "n1"}, 1000},
		{"natsops_node_slow_consumers_total", map[string]string{"node": "n1"}, 7},
		{"natsops_node_routes", map[string]string{"node": "n1"}, 1},
		{"natsops_node_routes_expected", map[string]string{"node": "n1"}, 2},
		{"natsops_node_fds_open", map[string]string{"node": "n1"}, 90},
		{"natsops_node_fds_soft_limit", map[string]string{"node": "n1"}, 100},
		{"natsops_node_fds_hard_limit", map[string]string{"node": "n1"}, 200},
		{"natsops_node_memory_bytes", map[string]string{"node": "n1"}, 1 << 20},
	} {
		got, ok := value(fams, tc.name, tc.labels)
		if !ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// Not read, so not there: n2's descriptors, n3's figures.
	for _, tc := range []struct {
		name string
		node string
	}{{"natsops_node_fds_open", "n2"}, {"natsops_node_connections", "n\"3\\\n"}, {"natsops_node_info", "n\"3\\\n"}} {
		if _, ok := value(fams, tc.name, map[string]string{"node": tc.node}); ok {
			t.Errorf("%s for %q should be absent:\n%s", tc.name, tc.node, out)
		}
	}
	if fams["natsops_node_slow_consumers_total"].GetType() != dto.MetricType_COUNTER || fams["natsops_node_up"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types:\n%s", out)
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
}

// TestWriteMetricsUnknown: a check that could not run says so in the
// format (status 3 and why), with no figures that would look like a
// reading; a reading with no node answering and no host read has neither
// share (unknown, not 0).
func TestWriteMetricsUnknown(t *testing.T) {
	out, fams := write(t, MetricsInput{Code: 3, Verdict: Verdict{Problems: []Problem{{"unknown", "natsops", "check-failed", "natsops.toml: no such file"}}}})
	if v, ok := value(fams, "natsops_check_status", nil); !ok || v != 3 {
		t.Errorf("status %v %v:\n%s", v, ok, out)
	}
	if v, ok := value(fams, "natsops_check_problem", map[string]string{"code": "check-failed", "severity": "unknown"}); !ok || v != 1 {
		t.Errorf("problem %v %v:\n%s", v, ok, out)
	}
	for _, name := range []string{"natsops_check_connections_used_ratio", "natsops_check_threshold_ratio", "natsops_node_up"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s in an UNKNOWN check:\n%s", name, out)
		}
	}

	down := &Fleet{Nodes: []NodeStatus{{Node: "n1"}}, Reasons: []Reason{{Node: "n1", Code: ReasonUnreachable}}}
	out, fams = write(t, MetricsInput{Code: 2, Verdict: Verdict{Nodes: 1, Problems: []Problem{{Critical, "n1", "unreachable", "x"}}}, Fleets: []NamedFleet{{Cluster: "c", Fleet: down}}})
	for _, name := range []string{"natsops_check_connections_used_ratio", "natsops_check_fds_used_ratio"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s with nothing read:\n%s", name, out)
		}
	}
}

// TestMetricNamesDocumented: every metric natsops can print is in the
// Prometheus page's metric table (docs/prometheus.md), and the table names
// no other.
func TestMetricNamesDocumented(t *testing.T) {
	const page = "../../docs/prometheus.md"
	text, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(natsops_[a-z_]+)`").FindAllStringSubmatch(string(text), -1) {
		documented[m[1]] = true
	}
	if len(documented) == 0 {
		t.Fatalf("%s has no metric table (rows starting | `natsops_...`)", page)
	}
	for _, name := range MetricNames() {
		if !documented[name] {
			t.Errorf("%s's metric table lacks %s", page, name)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("%s documents %s, which natsops does not print", page, name)
	}
}

// TestWriteMetricsRolloutAndJetStream: a live rollout is
// natsops_rollout_in_progress 1 for its cluster (0 for another), its node
// natsops_node_maintenance 1; JetStream shares and thresholds are there;
// without a lock reading (--monitor-only) the rollout series are absent.
func TestWriteMetricsRolloutAndJetStream(t *testing.T) {
	east := &Fleet{Cluster: "east", Nodes: []NodeStatus{{Node: "n1", Reachable: true, JSMemory: 5, JSMaxMemory: 10, JSStore: 1, JSMaxStore: 10}, {Node: "n2"}}}
	west := &Fleet{Cluster: "west", Nodes: []NodeStatus{{Node: "w1", Reachable: true}}}
	th := Thresholds{WarnJSPct: 75, CritJSPct: 90}
	since := time.Unix(1700000000, 0)
	v := Verdict{Nodes: 3, JSMemP: 50, JSStoreP: 10, JSRead: 1, Rollouts: []Rollout{{Cluster: "east", Holder: "ops@h", Since: since, Node: "n2"}}}
	in := MetricsInput{Verdict: v, Code: 1, Thresholds: th, Fleets: []NamedFleet{{"east", east}, {"west", west}}, LocksRead: true}
	_, fams := write(t, in)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"natsops_rollout_in_progress", map[string]string{"cluster": "east"}, 1},
		{"natsops_rollout_in_progress", map[string]string{"cluster": "west"}, 0},
		{"natsops_rollout_lock_stale", map[string]string{"cluster": "east"}, 0},
		{"natsops_rollout_started_timestamp_seconds", map[string]string{"cluster": "east"}, 1700000000},
		{"natsops_node_maintenance", map[string]string{"cluster": "east", "node": "n2"}, 1},
		{"natsops_check_js_used_ratio", map[string]string{"resource": "memory"}, 0.5},
		{"natsops_check_js_used_ratio", map[string]string{"resource": "storage"}, 0.1},
		{"natsops_check_threshold_ratio", map[string]string{"figure": "js", "severity": "critical"}, 0.9},
		{"natsops_node_js_max_memory_bytes", map[string]string{"node": "n1"}, 10},
	} {
		if got, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	in.LocksRead = false
	if _, fams := write(t, in); fams["natsops_rollout_in_progress"] != nil || fams["natsops_node_maintenance"] != nil {
		t.Error("rollout series written without reading the locks")
	}
}
