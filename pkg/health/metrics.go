package health

import (
	"io"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/natsops/natsops/internal/text"
)

// MetricsInput is what `natsops check --format prometheus` exposes: the
// verdict as check judged it, its exit code, the thresholds it applied and
// the fleets it read (one per cluster, each named).
type MetricsInput struct {
	Verdict    Verdict
	Code       int // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
	Thresholds Thresholds
	Fleets     []NamedFleet
	// LocksRead: the clusters' rollout locks were read (not with
	// --monitor-only); Verdict.Rollouts are the ones held.
	LocksRead bool
}

// NamedFleet is one cluster's reading with the cluster's name (a file of
// one cluster names it too, so every node series has a cluster label).
type NamedFleet struct {
	Cluster string
	Fleet   *Fleet
}

// metricHelp is every metric family WriteMetrics can print, in the order
// it prints them, each with its help text (docs/prometheus.md's table is checked
// against it).
func metricHelp() []struct{ name, help string } {
	return []struct{ name, help string }{
		{"natsops_check_status", "Verdict of natsops check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (its exit code)."},
		{"natsops_check_nodes", "Nodes judged."},
		{"natsops_check_problems", "Problems found, by severity."},
		{"natsops_check_problem", "Problems found, by node, problem code and severity (the text output's lines)."},
		{"natsops_check_connections_used_ratio", "Highest share of any node's connection capacity in use (0-1); absent when no node answered."},
		{"natsops_check_fds_used_ratio", "Highest share of any node's open-files soft limit in use (0-1); absent when no host was read."},
		{"natsops_check_fds_read_nodes", "Nodes whose open descriptors and limit were read on their host."},
		{"natsops_check_threshold_ratio", "The thresholds applied to connections and fds (share, 0-1), by figure and severity."},
		{"natsops_check_js_used_ratio", "Highest share of any node's JetStream max_memory or max_storage in use (0-1), by resource; absent when no node's /jsz was read."},
		{"natsops_check_slow_consumers_threshold", "The thresholds applied to slow consumers, by severity."},
		{"natsops_rollout_in_progress", "1 while a live natsops rollout holds the cluster's lock (its node is in maintenance), else 0; absent with --monitor-only."},
		{"natsops_rollout_lock_stale", "1 when the cluster's rollout lock is stale (older than an hour or unreadable), else 0; absent with --monitor-only."},
		{"natsops_rollout_started_timestamp_seconds", "When the rollout holding the cluster's lock took it (Unix seconds)."},
		{"natsops_node_up", "1 when the node's monitoring endpoint answered."},
		{"natsops_node_healthy", "1 when the node has no reason to be called unhealthy."},
		{"natsops_node_info", "The node's nats-server version and JetStream role (1)."},
		{"natsops_node_connections", "Client connections on the node."},
		{"natsops_node_connection_capacity", "Client connections the node can take: min(max_connections, fd soft limit - reserve)."},
		{"natsops_node_max_connections", "The node's max_connections."},
		{"natsops_node_slow_consumers_total", "Slow consumers since the server started."},
		{"natsops_node_routes", "Distinct route peers the node sees."},
		{"natsops_node_routes_expected", "Route peers the node should see (the cluster's other nodes)."},
		{"natsops_node_fds_open", "Open descriptors of the running nats-server (from its host)."},
		{"natsops_node_fds_soft_limit", "Open-files soft limit of the running nats-server (from its host)."},
		{"natsops_node_fds_hard_limit", "Open-files hard limit of the running nats-server (from its host)."},
		{"natsops_node_memory_bytes", "Resident memory of the node's server."},
		{"natsops_node_maintenance", "1 for the node a live rollout is working on (its problems are warnings, not critical)."},
		{"natsops_node_js_memory_bytes", "Bytes JetStream holds in memory on the node."},
		{"natsops_node_js_max_memory_bytes", "The node's JetStream max_memory."},
		{"natsops_node_js_storage_bytes", "Bytes JetStream stores on disk on the node."},
		{"natsops_node_js_max_storage_bytes", "The node's JetStream max_storage."},
	}
}

// MetricNames lists every metric family WriteMetrics may print.
func MetricNames() []string {
	ms := metricHelp()
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.name
	}
	return out
}

// WriteMetrics writes in the Prometheus text exposition format (0.0.4, as
// a node_exporter textfile collector reads it) the same verdict and
// figures check prints: the verdict, its problems, the highest shares of
// capacity and descriptors in use with the thresholds, and each node's
// readings. Shares are ratios (0-1), Prometheus's base unit, where the
// Nagios perfdata has percent. A figure that was not read (descriptors
// under --monitor-only, a node whose monitoring did not answer) is left
// out rather than written as 0.
func WriteMetrics(w io.Writer, in MetricsInput) error {
	fams := map[string]*dto.MetricFamily{}
	add := func(name string, typ dto.MetricType, value float64, labels ...string) {
		f := fams[name]
		if f == nil {
			f = &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum()}
			fams[name] = f
		}
		m := &dto.Metric{}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
		}
		switch typ {
		case dto.MetricType_COUNTER:
			m.Counter = &dto.Counter{Value: proto.Float64(value)}
		default:
			m.Gauge = &dto.Gauge{Value: proto.Float64(value)}
		}
		f.Metric = append(f.Metric, m)
	}
	gauge := func(name string, value float64, labels ...string) { add(name, dto.MetricType_GAUGE, value, labels...) }
	v, t := in.Verdict, in.Thresholds

	gauge("natsops_check_status", float64(in.Code))
	gauge("natsops_check_nodes", float64(v.Nodes))
	// A node can have several problems of one code (no route to n2, no
	// route to n3): one series each (node, code, severity), counting them.
	counts := map[string]int{Critical: 0, Warning: 0}
	type key struct{ node, code, severity string }
	var keys []key
	per := map[key]int{}
	for _, p := range v.Problems {
		counts[p.Severity]++
		k := key{p.Node, p.Code, p.Severity}
		if per[k] == 0 {
			keys = append(keys, k)
		}
		per[k]++
	}
	for _, k := range keys {
		gauge("natsops_check_problem", float64(per[k]), "node", k.node, "code", k.code, "severity", k.severity)
	}
	for _, s := range text.SortedKeys(counts) {
		gauge("natsops_check_problems", float64(counts[s]), "severity", s)
	}
	if in.Code == 3 {
		// The check could not run: no figures, only the verdict and why.
		return encode(w, fams)
	}
	reachable := 0
	for _, nf := range in.Fleets {
		for _, n := range nf.Fleet.Nodes {
			if n.Reachable {
				reachable++
			}
		}
	}
	if reachable > 0 {
		gauge("natsops_check_connections_used_ratio", v.MaxConnP/100)
	}
	gauge("natsops_check_fds_read_nodes", float64(v.FDsRead))
	if v.FDsRead > 0 {
		gauge("natsops_check_fds_used_ratio", v.FDsP/100)
	}
	gauge("natsops_check_threshold_ratio", t.WarnConnPct/100, "figure", "connections", "severity", Warning)
	gauge("natsops_check_threshold_ratio", t.CritConnPct/100, "figure", "connections", "severity", Critical)
	gauge("natsops_check_threshold_ratio", t.WarnFDsPct/100, "figure", "fds", "severity", Warning)
	gauge("natsops_check_threshold_ratio", t.CritFDsPct/100, "figure", "fds", "severity", Critical)
	gauge("natsops_check_threshold_ratio", t.WarnJSPct/100, "figure", "js", "severity", Warning)
	gauge("natsops_check_threshold_ratio", t.CritJSPct/100, "figure", "js", "severity", Critical)
	if v.JSRead > 0 {
		gauge("natsops_check_js_used_ratio", v.JSMemP/100, "resource", "memory")
		gauge("natsops_check_js_used_ratio", v.JSStoreP/100, "resource", "storage")
	}
	gauge("natsops_check_slow_consumers_threshold", float64(t.WarnSlow), "severity", Warning)
	gauge("natsops_check_slow_consumers_threshold", float64(t.CritSlow), "severity", Critical)

	maintenance := map[[2]string]bool{}
	if in.LocksRead {
		held := map[string]Rollout{}
		for _, r := range v.Rollouts {
			held[r.Cluster] = r
		}
		for _, nf := range in.Fleets {
			r, ok := held[nf.Fleet.Cluster]
			gauge("natsops_rollout_in_progress", b2f(ok && !r.Stale), "cluster", nf.Cluster)
			gauge("natsops_rollout_lock_stale", b2f(ok && r.Stale), "cluster", nf.Cluster)
			if ok && !r.Since.IsZero() {
				gauge("natsops_rollout_started_timestamp_seconds", float64(r.Since.Unix()), "cluster", nf.Cluster)
			}
			if ok && !r.Stale && r.Node != "" {
				maintenance[[2]string{nf.Cluster, r.Node}] = true
			}
		}
	}
	for _, nf := range in.Fleets {
		unhealthy := map[string]bool{}
		for _, r := range nf.Fleet.Reasons {
			unhealthy[r.Node] = true
		}
		for _, n := range nf.Fleet.Nodes {
			l := []string{"cluster", nf.Cluster, "node", n.Node}
			gauge("natsops_node_up", b2f(n.Reachable), l...)
			gauge("natsops_node_healthy", b2f(n.Reachable && !unhealthy[n.Node]), l...)
			if maintenance[[2]string{nf.Cluster, n.Node}] {
				gauge("natsops_node_maintenance", 1, l...)
			}
			if n.FDsSoft > 0 {
				gauge("natsops_node_fds_open", float64(n.FDsOpen), l...)
				gauge("natsops_node_fds_soft_limit", float64(n.FDsSoft), l...)
				gauge("natsops_node_fds_hard_limit", float64(n.FDsHard), l...)
			}
			if !n.Reachable {
				continue
			}
			gauge("natsops_node_info", 1, append(l, "version", n.Version, "jetstream", n.JetStream)...)
			gauge("natsops_node_connections", float64(n.Connections), l...)
			gauge("natsops_node_connection_capacity", float64(n.capacity()), l...)
			gauge("natsops_node_max_connections", float64(n.MaxConns), l...)
			add("natsops_node_slow_consumers_total", dto.MetricType_COUNTER, float64(n.SlowConsumers), l...)
			gauge("natsops_node_routes", float64(n.RoutesSeen), l...)
			gauge("natsops_node_routes_expected", float64(n.RoutesWant), l...)
			gauge("natsops_node_memory_bytes", float64(n.MemBytes), l...)
			if n.JSMaxMemory > 0 || n.JSMaxStore > 0 {
				gauge("natsops_node_js_memory_bytes", float64(n.JSMemory), l...)
				gauge("natsops_node_js_max_memory_bytes", float64(n.JSMaxMemory), l...)
				gauge("natsops_node_js_storage_bytes", float64(n.JSStore), l...)
				gauge("natsops_node_js_max_storage_bytes", float64(n.JSMaxStore), l...)
			}
		}
	}
	return encode(w, fams)
}

// encode writes the families in metricHelp's order, each with its HELP.
func encode(w io.Writer, fams map[string]*dto.MetricFamily) error {
	for _, m := range metricHelp() {
		f := fams[m.name]
		if f == nil {
			continue
		}
		f.Help = proto.String(m.help)
		sort.SliceStable(f.Metric, func(i, j int) bool { return labelKey(f.Metric[i]) < labelKey(f.Metric[j]) })
		if _, err := expfmt.MetricFamilyToText(w, f); err != nil {
			return err
		}
	}
	return nil
}

func labelKey(m *dto.Metric) string {
	k := ""
	for _, l := range m.Label {
		k += l.GetName() + "\x00" + l.GetValue() + "\x00"
	}
	return k
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
