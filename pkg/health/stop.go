package health

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/monitor"
)

// Reason codes of StopImpact: what stopping a node would make
// unavailable or break. Stable, like the others.
const (
	// Availability: refused unless the operator accepts the outage.
	ReasonR1Stream       = "r1-stream"
	ReasonR1Consumer     = "r1-consumer"
	ReasonStreamQuorum   = "stream-quorum"
	ReasonConsumerQuorum = "consumer-quorum"
	ReasonMetaLagging    = "meta-peer-lagging"
	// Compatibility of a binary change: refused unless forced.
	ReasonAPILevel    = "api-level"
	ReasonVersionJump = "version-jump"
	// Shown, never refused.
	ReasonPeerLagging = "stream-peer-lagging"
	ReasonUnjudged    = "jetstream-unjudged"
)

// RequiredLevelKey is the stream and consumer metadata key in which
// nats-server 2.11 and later record the JetStream API level the asset
// needs.
const RequiredLevelKey = "_nats.req.level"

// StopInput is what StopImpact judges: the node about to stop, every
// serving node's streams as it reports them (the node's own, and the
// Raft group leaders' whose view of their replicas counts), and for a
// binary change the version it runs and the one it will run.
type StopInput struct {
	Node string
	// Streams are the readings by node name; Errs says why a node's is
	// missing.
	Streams map[string]*monitor.JSDetail
	Errs    map[string]error
	// Availability: judge what the stop makes unavailable (a clustered
	// JetStream node; a lone server's restart takes everything down
	// anyway).
	Availability bool
	// Running and Target are the nats-server versions before and after
	// (Target "": no binary change).
	Running, Target string
}

// StopVerdict is what stopping a node would do.
type StopVerdict struct {
	// Unavailable: streams and consumers that would lose availability,
	// and meta peers not current (refused unless the outage is
	// accepted).
	Unavailable []Reason `json:"unavailable,omitempty"`
	// Incompatible: what the binary change would break (refused unless
	// forced).
	Incompatible []Reason `json:"incompatible,omitempty"`
	// Warnings are shown, never refused: what could not be judged, and
	// lagging replicas that still leave a quorum.
	Warnings []Reason `json:"warnings,omitempty"`
	// Streams and Consumers count the replicas on the node.
	Streams   int `json:"streams"`
	Consumers int `json:"consumers"`
}

// Refusals are the reasons that stand: Unavailable unless
// allowUnavailable, Incompatible unless force.
func (v StopVerdict) Refusals(allowUnavailable, force bool) []Reason {
	var out []Reason
	if !allowUnavailable {
		out = append(out, v.Unavailable...)
	}
	if !force {
		out = append(out, v.Incompatible...)
	}
	return out
}

// Transient reports whether some reason may clear by itself (a replica
// catching up), so a reread is worth it; an R1 asset or a version never
// changes by waiting.
func (v StopVerdict) Transient() bool {
	for _, r := range append(append([]Reason(nil), v.Unavailable...), v.Warnings...) {
		if TransientCode(r.Code) {
			return true
		}
	}
	return false
}

// TransientCode reports a reason that may clear by itself: a replica or
// a meta peer catching up, a group electing a leader.
func TransientCode(code string) bool {
	switch code {
	case ReasonStreamQuorum, ReasonConsumerQuorum, ReasonMetaLagging, ReasonPeerLagging:
		return true
	}
	return false
}

// StopImpact decides what stopping in.Node would make unavailable: every
// stream and consumer with a replica on it that would have no quorum
// (R1 whose only replica it is; Rn whose other replicas, on the group
// leader's view, are too few current), the meta group's other peers not
// current on its leader, and, for a binary change, streams and
// consumers needing a JetStream API level the target version lacks and
// a minor-version jump larger than one. Pure.
func StopImpact(in StopInput) StopVerdict {
	var v StopVerdict
	node := in.Node
	add := func(list *[]Reason, code, asset, format string, args ...any) {
		*list = append(*list, Reason{Node: node, Code: code, Asset: asset, Msg: fmt.Sprintf(format, args...)})
	}
	change := in.Target != "" && in.Target != in.Running
	targetLevel := -1
	if change {
		targetLevel = versionChecks(&v, in, add)
	}
	d := in.Streams[node]
	if d == nil {
		why := "no reading"
		if err := in.Errs[node]; err != nil {
			why = err.Error()
		}
		add(&v.Warnings, ReasonUnjudged, "", "cannot list the streams on %s (%s): what its stop makes unavailable is not judged", node, why)
		return v
	}
	if d.Disabled {
		return v
	}
	if in.Availability {
		metaChecks(&v, in, d, add)
	}
	for _, a := range d.Accounts {
		for _, s := range a.Streams {
			asset := a.Name + "/" + s.Name
			v.Streams++
			if s.Config == nil && s.Cluster == nil {
				add(&v.Warnings, ReasonUnjudged, asset, "stream %s on %s: the server reports neither its config nor its cluster (an old nats-server?): not judged", asset, node)
				continue
			}
			replicas := streamReplicas(s)
			if in.Availability {
				leaderView := func(rd *monitor.JSDetail) *monitor.ClusterInfo {
					if st := findStream(rd, a.Name, s.Name); st != nil {
						return st.Cluster
					}
					return nil
				}
				groupChecks(&v, in, "stream", asset, replicas, s.Cluster, leaderView, add)
			}
			if targetLevel >= 0 {
				if l, from := streamLevel(s.Config); l > targetLevel {
					add(&v.Incompatible, ReasonAPILevel, asset, "stream %s requires JetStream API level %d (%s); nats-server %s supports level %d and could not load it", asset, l, from, in.Target, targetLevel)
				}
			}
			for _, c := range s.Consumers {
				casset := asset + " consumer " + c.Name
				v.Consumers++
				cr := replicas
				if c.Config != nil && c.Config.Replicas > 0 {
					cr = c.Config.Replicas
				} else if c.Config == nil && c.Cluster != nil {
					cr = 1 + len(c.Cluster.Replicas)
				}
				if in.Availability {
					leaderView := func(rd *monitor.JSDetail) *monitor.ClusterInfo {
						if st := findStream(rd, a.Name, s.Name); st != nil {
							for _, x := range st.Consumers {
								if x.Name == c.Name {
									return x.Cluster
								}
							}
						}
						return nil
					}
					groupChecks(&v, in, "consumer", casset, cr, c.Cluster, leaderView, add)
				}
				if targetLevel >= 0 && c.Config != nil {
					if l, ok := metaLevel(c.Config.Metadata); ok && l > targetLevel {
						add(&v.Incompatible, ReasonAPILevel, casset, "consumer %s requires JetStream API level %d (metadata %s); nats-server %s supports level %d and could not load it", casset, l, RequiredLevelKey, in.Target, targetLevel)
					}
				}
			}
		}
	}
	return v
}

// versionChecks judges a binary change from in.Running to in.Target and
// returns the target's JetStream API level (-1 when unknown).
func versionChecks(v *StopVerdict, in StopInput, add func(*[]Reason, string, string, string, ...any)) int {
	from, okf := cluster.ParseVersion(in.Running)
	to, okt := cluster.ParseVersion(in.Target)
	if !okt {
		add(&v.Warnings, ReasonUnjudged, "", "the target version %q is not a nats-server version: its JetStream API level is not judged", in.Target)
		return -1
	}
	if !okf {
		add(&v.Warnings, ReasonUnjudged, "", "the running version %q is not a nats-server version: the size of the version jump is not judged", in.Running)
	} else if jump := from.MinorJump(to); jump > 1 {
		dir := "upgrade"
		if to.Less(from) {
			dir = "downgrade"
		}
		add(&v.Incompatible, ReasonVersionJump, "", "%s from nats-server %s to %s jumps %d minor versions: nats-server supports one minor version at a time (go through the latest patch of each minor in between), or go on with --force", dir, in.Running, in.Target, jump)
	}
	return APILevel(to)
}

// metaChecks refuses while another meta group peer is not current on the
// meta leader (the leader's own view: a follower's is stale).
func metaChecks(v *StopVerdict, in StopInput, d *monitor.JSDetail, add func(*[]Reason, string, string, string, ...any)) {
	if d.Meta == nil || d.Meta.Leader == "" {
		return // ClusterReady refuses a cluster without a meta leader
	}
	leader := d.Meta.Leader
	meta := d.Meta
	if leader != in.Node {
		ld := in.Streams[leader]
		if ld == nil || ld.Meta == nil {
			add(&v.Warnings, ReasonUnjudged, "", "the meta leader %s's view of the meta group was not read (%s): its peers' lag is not judged", leader, errText(in.Errs[leader]))
			return
		}
		meta = ld.Meta
	}
	for _, r := range meta.Replicas {
		if r.Name == in.Node || r.Name == leader || (r.Current && !r.Offline) {
			continue
		}
		add(&v.Unavailable, ReasonMetaLagging, "", "JetStream meta peer %s is not current on the meta leader %s (%s): with %s stopped as well the meta group may lose its quorum; wait until it catches up (natsops status)", r.Name, leader, peerState(r.Lag, r.Active, r.Offline), in.Node)
	}
}

// groupChecks judges one Raft group (a stream's or a consumer's) with a
// replica on the node. ci is the node's view; leaderView finds the group
// in another node's reading.
func groupChecks(v *StopVerdict, in StopInput, kind, asset string, replicas int, ci *monitor.ClusterInfo, leaderView func(*monitor.JSDetail) *monitor.ClusterInfo, add func(*[]Reason, string, string, string, ...any)) {
	node := in.Node
	r1, quorum := ReasonR1Stream, ReasonStreamQuorum
	if kind == "consumer" {
		r1, quorum = ReasonR1Consumer, ReasonConsumerQuorum
	}
	if replicas <= 1 {
		add(&v.Unavailable, r1, asset, "%s %s is R1 and its only replica is on %s: it is unavailable while %s is down; give it more replicas (nats %s edit --replicas 3) or accept the outage with --allow-unavailable", kind, asset, node, node, kind)
		return
	}
	need := replicas/2 + 1
	if ci == nil || ci.Leader == "" {
		add(&v.Unavailable, quorum, asset, "%s %s (R%d) has no leader now: it is already unavailable, and stopping %s, one of its replicas, delays its recovery; wait until it has one (nats %s info), or accept with --allow-unavailable", kind, asset, replicas, node, kind)
		return
	}
	leader := ci.Leader
	view := ci
	if leader != node {
		ld := in.Streams[leader]
		var lv *monitor.ClusterInfo
		if ld != nil {
			lv = leaderView(ld)
		}
		if lv == nil {
			add(&v.Warnings, ReasonUnjudged, asset, "%s %s: its leader %s's view of its replicas was not read (%s): their lag is not judged", kind, asset, leader, errText(in.Errs[leader]))
			return
		}
		view = lv
	}
	current := 0
	if leader != node {
		current = 1 // the leader itself
	}
	var behind []string
	for _, p := range view.Replicas {
		if p.Name == node || p.Name == leader {
			continue
		}
		if p.Current && !p.Offline {
			current++
			continue
		}
		behind = append(behind, fmt.Sprintf("%s (%s)", p.Name, peerState(p.Lag, p.Active, p.Offline)))
	}
	sort.Strings(behind)
	switch {
	case current < need:
		add(&v.Unavailable, quorum, asset, "%s %s (R%d, leader %s) needs %d current replicas; without %s only %d would be: %s not current; wait until it catches up, or accept the outage with --allow-unavailable", kind, asset, replicas, leader, need, node, current, strings.Join(behind, ", "))
	case len(behind) > 0:
		add(&v.Warnings, ReasonPeerLagging, asset, "%s %s (R%d, leader %s): %s not current; without %s %d of %d needed stay current", kind, asset, replicas, leader, strings.Join(behind, ", "), node, current, need)
	}
}

func peerState(lag uint64, active time.Duration, offline bool) string {
	parts := []string{fmt.Sprintf("lag %d", lag)}
	if active > 0 {
		parts = append(parts, "last seen "+active.Round(time.Millisecond).String()+" ago")
	} else {
		parts = append(parts, "never seen")
	}
	if offline {
		parts = append(parts, "offline")
	}
	return strings.Join(parts, ", ")
}

func errText(err error) string {
	if err == nil {
		return "no reading"
	}
	return err.Error()
}

func streamReplicas(s monitor.StreamDetail) int {
	if s.Config != nil && s.Config.Replicas > 0 {
		return s.Config.Replicas
	}
	if s.Cluster != nil {
		return 1 + len(s.Cluster.Replicas)
	}
	return 1
}

func findStream(d *monitor.JSDetail, account, stream string) *monitor.StreamDetail {
	for _, a := range d.Accounts {
		if a.Name != account {
			continue
		}
		for i := range a.Streams {
			if a.Streams[i].Name == stream {
				return &a.Streams[i]
			}
		}
	}
	return nil
}

// streamLevel is the JetStream API level a stream needs and where that
// was read: its _nats.req.level metadata (2.11 and later record it), or
// the features that need a level (as nats-server's
// jetstream_versioning.go sets it), whichever is higher.
func streamLevel(c *monitor.StreamConfig) (int, string) {
	if c == nil {
		return 0, ""
	}
	level, from := 0, ""
	if l, ok := metaLevel(c.Metadata); ok {
		level, from = l, "metadata "+RequiredLevelKey
	}
	feature := func(l int, name string) {
		if l > level {
			level, from = l, name
		}
	}
	if c.AllowMsgTTL || c.SubjectDeleteMarkerTTL > 0 {
		feature(1, "per-message TTL")
	}
	if c.AllowMsgCounter {
		feature(2, "counters")
	}
	if c.AllowAtomicPublish {
		feature(2, "atomic batch publish")
	}
	if c.AllowMsgSchedules {
		feature(2, "message schedules")
	}
	if c.AsyncPersist() {
		feature(2, "async persist mode")
	}
	if c.AllowBatchPublish {
		feature(4, "fast batch publish")
	}
	return level, from
}

func metaLevel(md map[string]string) (int, bool) {
	s, ok := md[RequiredLevelKey]
	if !ok {
		return 0, false
	}
	l, err := strconv.Atoi(s)
	return l, err == nil
}

// APILevel is the highest JetStream API level a nats-server version
// supports (server/jetstream_versioning.go's JSApiLevel, read from every
// release tag: none before 2.11, 1 in 2.11, 2 in 2.12.0-2.12.4, 3 from
// 2.12.5, 4 in 2.14, 5 in 2.15). A later version is assumed to support
// at least 5: levels only grow.
func APILevel(v cluster.Version) int {
	switch {
	case v.Major < 2 || v.Major == 2 && v.Minor < 11:
		return 0
	case v.Major == 2 && v.Minor == 11:
		return 1
	case v.Major == 2 && v.Minor == 12 && v.Patch < 5:
		return 2
	case v.Major == 2 && v.Minor <= 13:
		return 3
	case v.Major == 2 && v.Minor == 14:
		return 4
	}
	return 5
}
