package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/natsops/natsops/pkg/audit"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/natsadmin"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// Restart policies (deploy --restart).
const (
	RestartAuto   = "auto"   // reload when every change reloads, else restart
	RestartNever  = "never"  // install only
	RestartAlways = "always" // restart every changed node
)

// Options are how a plan applies changes.
type Options struct {
	// Restart is RestartAuto, RestartNever or RestartAlways.
	Restart string
	// Bootstrap forms the cluster even when nodes already run it
	// (refused then, unless Force).
	Bootstrap bool
	// Force goes on where the plan would refuse: a bootstrap of a formed
	// cluster, JetStream data a new member would orphan.
	Force bool
}

// NodePlan is what a deploy does to one node (-o json: one per line).
type NodePlan struct {
	Node    string `json:"node"`
	Path    string `json:"path"`
	Changed bool   `json:"changed"`
	// Diff is deployed -> rendered, secrets masked on both sides.
	Diff string `json:"diff,omitempty"`
	// Pending: the file is current but the running server has not loaded
	// it (installed after its last load).
	Pending bool          `json:"pending,omitempty"`
	Change  config.Change `json:"change"`
	// Units are the drop-ins that differ (ExecStart, the stop contract).
	Units []*UnitChange `json:"units,omitempty"`
	// Binary: the version service.binary reports on the node and the one
	// running (/varz); a difference needs a restart (an upgrade).
	Binary Versions `json:"binary"`
	// Digest is the rendered config's digest and the one the running
	// server reports (/varz config_digest, nats-server 2.11 and later).
	Digest Digests `json:"digest"`
	// How is how the change is applied; "" when nothing changes.
	How rollout.Kind `json:"how,omitempty"`
	// Note says why How is what it is when that is not obvious.
	Note string `json:"note,omitempty"`
	// Unknown says why the running server's state could not be read
	// (its monitoring endpoint does not answer): whether it runs this
	// config cannot be told.
	Unknown string `json:"unknown,omitempty"`
	// Error is why the node could not be read (nothing is planned for
	// it, and nothing is deployed anywhere).
	Error string `json:"error,omitempty"`

	desired  Desired
	observed Observed
}

// UnitChange is a drop-in that differs.
type UnitChange struct {
	Path    string `json:"path"`
	Diff    string `json:"diff"`
	existed bool
	data    []byte
}

// Digests are a config's digest as rendered and as running.
type Digests struct {
	Desired string `json:"desired,omitempty"`
	Running string `json:"running,omitempty"`
}

// Known reports whether the running server reports a digest to compare.
func (d Digests) Known() bool { return d.Desired != "" && d.Running != "" }

// Versions are service.binary's version and the running server's.
type Versions struct {
	Path      string `json:"path"`
	Installed string `json:"installed"`
	Running   string `json:"running,omitempty"`
}

// Upgrade reports whether the running server is another version than the
// one service.binary would start.
func (v Versions) Upgrade() bool { return v.Running != "" && v.Installed != v.Running }

// MakePlan decides one node's change from what it should run and what it
// has. Pure.
func MakePlan(d Desired, o Observed, opts Options) *NodePlan {
	n := d.Node
	p := &NodePlan{Node: n.Name, Path: n.Service.ConfigPath, desired: d, observed: o,
		Binary: Versions{Path: n.Service.Binary, Installed: o.Installed}}
	if d.Remove {
		if o.Varz != nil {
			p.Binary.Running = o.Varz.Version
		}
		// Out already: nothing answers, and its unit neither runs nor
		// starts at boot (Decide still checks the meta group).
		if o.Varz == nil && o.Active != "active" && (n.Service.Manager != "systemd" || o.Enabled != "enabled") {
			p.Note = "out of the cluster"
			return p
		}
		p.Changed, p.How = true, rollout.Remove
		p.Note = "leaves the cluster: stopped, its service disabled, removed from the JetStream meta group"
		return p
	}
	p.Diff = config.Diff(n.Name, p.Path, o.Config.Data, o.Config.Exists, d.Config)
	if p.Diff != "" {
		p.Changed = true
		p.Change = config.Classify(o.Config.Data, d.Config)
		if !o.Config.Exists {
			p.Change = config.Change{Keys: []string{"(new file)"}, NeedsRestart: true, RestartReason: []string{"no config was deployed"}}
		}
	}
	p.Digest.Desired, _ = config.Digest(d.Config)
	if o.Varz != nil {
		p.Binary.Running = o.Varz.Version
		p.Digest.Running = o.Varz.ConfigDigest
		// Not loaded yet: the running server's digest is another config's
		// (2.11+), or, older servers, the file was installed after the
		// server last loaded its config (by the node's clock, with a
		// second for the file's resolution).
		notLoaded := o.Config.MTime.After(o.Varz.ConfigLoadTime.Add(1e9))
		if p.Digest.Known() {
			notLoaded = p.Digest.Running != p.Digest.Desired
		}
		if !p.Changed && o.Config.Exists && notLoaded {
			p.Changed, p.Pending = true, true
			if o.Backup.Exists {
				p.Change = config.Classify(o.Backup.Data, d.Config)
			}
			if !o.Backup.Exists || len(p.Change.Keys) == 0 {
				p.Change = config.Change{Keys: []string{"(whole file)"}, NeedsRestart: true, RestartReason: []string{"the running server never loaded this config"}}
			}
		}
	} else {
		p.Unknown = fmt.Sprintf("the monitoring endpoint does not answer (%v): whether the running server has this config (and this version) cannot be told", o.VarzErr)
	}
	if p.Binary.Upgrade() {
		p.Changed = true
		p.Change.Keys = append(p.Change.Keys, "service.binary")
		p.Change.NeedsRestart = true
		p.Change.RestartReason = append(p.Change.RestartReason, fmt.Sprintf("nats-server %s runs, %s is %s", p.Binary.Running, n.Service.Binary, p.Binary.Installed))
	}
	for _, u := range d.Units {
		have := o.Units[u.Path]
		if have.Exists && bytes.Equal(have.Data, u.Data) {
			continue
		}
		p.Units = append(p.Units, &UnitChange{Path: u.Path, Diff: config.Diff(n.Name, u.Path, have.Data, have.Exists, u.Data), existed: have.Exists, data: u.Data})
		p.Changed = true
		switch path.Base(u.Path) {
		case service.ExecDropInName:
			p.Change.Keys = append(p.Change.Keys, "ExecStart")
		case service.ContractDropInName:
			// KillSignal and TimeoutStopSec take at daemon-reload (the
			// install does it); the environment only at the next start.
			p.Change.Keys = append(p.Change.Keys, "stop contract")
			if old, want := service.ContractEnv(have.Data), service.ContractEnv(u.Data); old != want {
				p.Change.Keys = append(p.Change.Keys, "GOMEMLIMIT")
				p.Change.NeedsRestart = true
				p.Change.RestartReason = append(p.Change.RestartReason, fmt.Sprintf("GOMEMLIMIT %s (Environment= takes effect at the next start)", arrow(old, want)))
			}
		}
	}
	if !p.Changed {
		return p
	}
	switch {
	case opts.Restart == RestartNever:
		p.How = rollout.Install
	case opts.Restart == RestartAlways || p.Change.NeedsRestart:
		p.How = rollout.Restart
	case p.Diff == "" && !p.Pending:
		// Only the drop-in changed, to what the running server already
		// is: systemd's units are reloaded, nothing else to apply.
		p.How, p.Note = rollout.Install, "unit updated"
	case len(p.Units) == 0 && !p.Pending && len(p.Change.Keys) == 0:
		// Only comments differ (the header names another inventory
		// file): the file is replaced, the running server has nothing to
		// take.
		p.How, p.Note = rollout.Install, "comments only: installed, nothing to reload"
	case o.Varz == nil:
		// Nothing answers to reload: start the node with its new config.
		p.How, p.Note = rollout.Restart, "the server does not answer: it is started with the new config"
	default:
		p.How = rollout.Reload
	}
	return p
}

// Plan is a whole deploy.
type Plan struct {
	Nodes []*NodePlan
	// Formation is how the running servers stand to the cluster.
	Formation health.Formation `json:"formation"`
	// Bootstrap: the cluster has never formed (or --bootstrap): every
	// node is installed, then all start together.
	Bootstrap bool `json:"bootstrap,omitempty"`
	// Joining are nodes new to a formed cluster (scale-out), or every
	// node of a cluster that joins its supercluster's meta group.
	Joining []string `json:"joining,omitempty"`
	// JoinsMetaLeader: the cluster has never formed, and the JetStream
	// meta group of its supercluster runs, led by this server of another
	// cluster: its nodes start one at a time into that group instead of
	// together into a group of their own.
	JoinsMetaLeader string `json:"joins_meta_leader,omitempty"`
	// MembersDown are nodes the cluster knows (a peer of its JetStream
	// meta group, or a replica of a stream the live members hold) whose
	// server does not answer: members that are down, never nodes that
	// join. A deploy is refused while one is down (the cluster is not
	// healthy: exit 3), unless Force starts it with the new config.
	MembersDown []string `json:"members_down,omitempty"`
	// Unrollable are the changes old and new servers cannot run side by
	// side (config.Change.Unrollable), node by node: refused before any
	// node is touched; a planned outage applies them (--bootstrap --force).
	Unrollable []string `json:"unrollable,omitempty"`
	// Refusal says why this deploy must not go on, with the fix; nothing
	// is changed.
	Refusal string `json:"refusal,omitempty"`

	leaver leaver
	// known are the streams ("account/stream") the live members of the
	// cluster hold, each with the servers that hold a replica (their
	// /jsz?streams=true: the meta group's assignments as the members
	// carry them); nil when not read.
	known map[string][]string
}

// Known sets the cluster's streams as the live members' /jsz show them
// (KnownStreams), for Decide.
func (p *Plan) Known(streams map[string][]string) { p.known = streams }

// KnownStreams is every stream ("account/stream") of the readings, each
// with the servers holding a replica as its leader reports them (and the
// server that reported it). Pure.
func KnownStreams(readings map[string]*monitor.JSDetail) map[string][]string {
	out := map[string][]string{}
	for server, d := range readings {
		if d == nil {
			continue
		}
		for _, a := range d.Accounts {
			for _, st := range a.Streams {
				k := a.Name + "/" + st.Name
				peers := append(out[k], server)
				if c := st.Cluster; c != nil {
					if c.Leader != "" {
						peers = append(peers, c.Leader)
					}
					for _, r := range c.Replicas {
						peers = append(peers, r.Name)
					}
				}
				slices.Sort(peers)
				out[k] = slices.Compact(peers)
			}
		}
	}
	return out
}

// Decide sets how the plan meets the cluster, from a reading of every
// inventory node: a cluster with no member is bootstrapped, nodes outside
// a formed one join it; a bootstrap of a formed cluster, a bootstrap of
// part of the nodes, or a non-member holding JetStream streams that the
// cluster would orphan is refused (the last two unless Force). Pure.
func (p *Plan) Decide(inv *cluster.Inventory, snaps map[string]*monitor.Snapshot, opts Options) {
	p.Formation = health.Form(inv, snaps)
	if opts.Restart == RestartNever {
		return
	}
	var refusals []string
	var active, leaving []*NodePlan
	for _, n := range p.Nodes {
		switch {
		case n.desired.Remove && !n.Changed && inMetaGroup(snaps, n.Node):
			// Stopped and disabled, but the meta group still lists it.
			n.Changed, n.How, n.Note = true, rollout.Remove, "stopped, but still in the JetStream meta group: removed from it"
			leaving = append(leaving, n)
		case n.desired.Remove:
			if n.Changed {
				leaving = append(leaving, n)
			}
		default:
			active = append(active, n)
		}
	}
	start := func(n *NodePlan, note string) {
		if !n.Changed {
			n.Changed, n.Note = true, note
		}
		n.How = rollout.Restart
	}
	// A cluster that never formed, in a supercluster whose JetStream
	// meta group runs elsewhere: its nodes started together would elect a
	// leader of their own before their gateways connect (2.9 dials them a
	// second after start), splitting the meta group; started one at a
	// time each finds the group through the gateways and joins it.
	if !p.Formation.Formed() && !opts.Bootstrap && inv.HasGateway() && len(inv.Nodes) > 0 && inv.Nodes[0].JetStreamEnabled() {
		p.JoinsMetaLeader = elsewhereLeader(inv, snaps)
	}
	switch {
	case p.JoinsMetaLeader != "":
		if len(leaving) > 0 {
			refusals = append(refusals, "the cluster has not formed, so it has no node to remove: drop the nodes marked remove = true from the inventory")
		}
		for _, n := range active {
			p.Joining = append(p.Joining, n.Node)
			start(n, "joins the supercluster's JetStream meta group (led by "+p.JoinsMetaLeader+"), one node at a time")
		}
	case !p.Formation.Formed() || opts.Bootstrap:
		if p.Formation.Formed() && !opts.Force {
			refusals = append(refusals, fmt.Sprintf("--bootstrap restarts every node at once, but %s: without --bootstrap, deploy changes the cluster one node at a time (--force bootstraps anyway)", p.Formation.Why()))
		}
		if len(active) != len(inv.Nodes) {
			refusals = append(refusals, "the cluster has not formed and a bootstrap starts every node together: deploy without --limit")
		}
		if len(leaving) > 0 {
			refusals = append(refusals, "the cluster has not formed, so it has no node to remove: drop the nodes marked remove = true from the inventory")
		}
		p.Bootstrap = true
		for _, n := range active {
			start(n, "started with the new cluster")
		}
	default:
		var down []string
		for _, n := range active {
			switch why := p.memberDown(snaps, n); {
			case p.Formation.IsMember(n.Node):
			case why != "":
				// A crashed or stopped member: its store is the cluster's.
				p.MembersDown = append(p.MembersDown, n.Node)
				down = append(down, n.Node+" ("+why+")")
				start(n, "")
				n.Note = "a member of the cluster that is down (" + why + "): started with the new config (deploy --force), or first by natsops restart --node " + n.Node + " --force"
			default:
				p.Joining = append(p.Joining, n.Node)
				start(n, "joins the cluster")
			}
		}
		if len(down) > 0 && !opts.Force {
			verb := "a member of the cluster is"
			if len(down) > 1 {
				verb = fmt.Sprintf("%d members of the cluster are", len(down))
			}
			refusals = append(refusals, fmt.Sprintf("%s down: %s; a deploy changes a cluster whose members all serve. Bring it back first with %s (it starts on the config it has and keeps its JetStream store, a good replica), then deploy again (--force instead starts it with the new config)",
				verb, strings.Join(down, "; "), bringBack(p.MembersDown)))
		}
	}
	for _, n := range p.Nodes {
		o := n.observed
		if len(o.Streams) == 0 || !(p.Bootstrap || slices.Contains(p.Joining, n.Node)) || opts.Force {
			continue
		}
		// nats-server deletes, once current with the meta leader, the
		// streams the meta group has no assignment for (getOrphans,
		// server/jetstream_cluster.go:2146 in v2.15.2): only those are at
		// risk; a stream the cluster knows is kept.
		var orphans []string
		for _, st := range o.Streams {
			if _, ok := p.known[st]; !ok || p.Bootstrap {
				orphans = append(orphans, st)
			}
		}
		if len(orphans) > 0 {
			refusals = append(refusals, fmt.Sprintf("%s holds JetStream data in %s (%s; %d KB) that the cluster it starts into does not know (no live member holds them): nats-server deletes such streams (\"Detected orphaned stream\"); back them up (nats stream backup) and empty the directory, or pass --force to lose them", n.Node, *n.desired.Node.JetStream.StoreDir, streamList(orphans), o.StoreKB))
		}
	}
	for _, n := range active {
		for _, why := range n.Change.Unrollable {
			if !slices.Contains(p.Unrollable, why) {
				p.Unrollable = append(p.Unrollable, why)
			}
		}
	}
	if len(p.Unrollable) > 0 && !p.Bootstrap {
		refusals = append(refusals, fmt.Sprintf("this change cannot roll one node at a time: %s. Apply it in a planned outage instead: `natsops deploy --bootstrap --force --yes` installs every node's config, then restarts all of them together (clients reconnect once the cluster is back)", strings.Join(p.Unrollable, "; ")))
	}
	for _, n := range leaving {
		if n.desired.Node.JetStreamEnabled() && !natsadmin.Declared(inv, inv.Nodes) && !opts.Force {
			refusals = append(refusals, fmt.Sprintf("%s runs JetStream: taking it out of the cluster needs its removal from the meta group, through the system account: set server.auth.system_user and system_password, or a user of the [accounts] table server.auth.system_account names (natsops then does it), or pass --force and run `nats server raft peer-remove %s` with a system account context yourself", n.Node, n.Node))
		}
	}
	p.Refusal = strings.Join(refusals, "\n")
}

// bringBack is the commands that start the members that are down, one
// restart --node each (the flag takes one node).
func bringBack(nodes []string) string {
	cmds := make([]string, len(nodes))
	for i, n := range nodes {
		cmds[i] = "`natsops restart --node " + n + " --force --yes`"
	}
	return strings.Join(cmds, ", then ")
}

// elsewhereLeader is the JetStream meta leader that the readings of
// servers outside inv agree on (another cluster of its supercluster), or
// "".
func elsewhereLeader(inv *cluster.Inventory, snaps map[string]*monitor.Snapshot) string {
	own := map[string]bool{}
	for _, n := range inv.Nodes {
		own[n.Name] = true
	}
	others := map[string]*monitor.Snapshot{}
	for name, s := range snaps {
		if !own[name] {
			others[name] = s
		}
	}
	if l := health.MetaLeader(others); l != "" && !own[l] {
		return l
	}
	return ""
}

// memberDown says why node n, whose server does not answer, is a member
// of the cluster: a peer of the JetStream meta group as a live member
// sees it, or a replica of a stream the live members hold (p.known); ""
// when it answers or nothing shows the cluster knows it.
func (p *Plan) memberDown(snaps map[string]*monitor.Snapshot, n *NodePlan) string {
	if s := snaps[n.Node]; s != nil && (s.Varz != nil || s.Healthz != nil) {
		return ""
	}
	var why []string
	if inMetaGroup(snaps, n.Node) {
		why = append(why, "a peer of the JetStream meta group")
	}
	var held []string
	for st, peers := range p.known {
		if slices.Contains(peers, n.Node) {
			held = append(held, st)
		}
	}
	if len(held) > 0 {
		sort.Strings(held)
		why = append(why, "a replica of "+streamList(held))
	}
	return strings.Join(why, ", ")
}

// inMetaGroup reports whether any reading's JetStream meta group lists
// node (as its leader or a replica).
func inMetaGroup(snaps map[string]*monitor.Snapshot, node string) bool {
	for _, s := range snaps {
		if s == nil || s.Jsz == nil || s.Jsz.Meta == nil {
			continue
		}
		if s.Jsz.Meta.Leader == node {
			return true
		}
		for _, r := range s.Jsz.Meta.Replicas {
			if r.Name == node {
				return true
			}
		}
	}
	return false
}

func streamList(s []string) string {
	if len(s) >= 20 {
		return "streams " + strings.Join(s, ", ") + " and more"
	}
	return "streams " + strings.Join(s, ", ")
}

// Failed are the nodes that could not be read.
func (p *Plan) Failed() []*NodePlan {
	var out []*NodePlan
	for _, n := range p.Nodes {
		if n.Error != "" {
			out = append(out, n)
		}
	}
	return out
}

// Changed are the nodes with something to apply.
func (p *Plan) Changed() []*NodePlan {
	var out []*NodePlan
	for _, n := range p.Nodes {
		if n.Changed {
			out = append(out, n)
		}
	}
	return out
}

// ChangedNodes are the inventory nodes of Changed, in the plan's order.
func (p *Plan) ChangedNodes() []*cluster.Node {
	var out []*cluster.Node
	for _, n := range p.Changed() {
		out = append(out, n.desired.Node)
	}
	return out
}

// Restarts counts the nodes a deploy restarts.
func (p *Plan) Restarts() int {
	k := 0
	for _, n := range p.Nodes {
		if n.How == rollout.Restart {
			k++
		}
	}
	return k
}

// Operation names the deploy for the rollout's resume state: the nodes,
// how each changes and a digest of what each gets.
func (p *Plan) Operation() string {
	var parts []string
	for _, n := range p.Changed() {
		h := sha256.New()
		h.Write(n.desired.Config)
		for _, u := range n.desired.Units {
			h.Write([]byte(u.Path))
			h.Write(u.Data)
		}
		h.Write([]byte(n.Binary.Installed))
		parts = append(parts, fmt.Sprintf("%s:%s:%s", n.Node, n.How, hex.EncodeToString(h.Sum(nil))[:16]))
	}
	sort.Strings(parts)
	kind := "deploy "
	if p.Bootstrap {
		kind = "bootstrap "
	}
	return kind + strings.Join(parts, " ")
}

// Audit is the plan as the audit record keeps it: each changed node, how
// it takes its change and what changes (config keys, the unit drop-ins,
// the binary, the note).
func (p *Plan) Audit() []audit.Planned {
	var out []audit.Planned
	for _, n := range p.Changed() {
		pl := audit.Planned{Node: n.Node, Change: string(n.How)}
		if pl.Change == "" {
			pl.Change = string(rollout.Install)
		}
		pl.Items = append(pl.Items, n.Change.Keys...)
		for _, u := range n.Units {
			pl.Items = append(pl.Items, "unit "+u.Path)
		}
		if n.Binary.Upgrade() {
			pl.Items = append(pl.Items, fmt.Sprintf("nats-server %s -> %s", n.Binary.Running, n.Binary.Installed))
		}
		if n.Note != "" {
			pl.Items = append(pl.Items, n.Note)
		}
		out = append(out, pl)
	}
	return out
}

// Actions are the rollout actions of the changed nodes.
func (p *Plan) Actions() map[string]rollout.Action {
	out := map[string]rollout.Action{}
	for _, n := range p.Changed() {
		a := &action{plan: n}
		if n.How == rollout.Remove {
			out[n.Node] = &leaving{action: a, leaver: p.leaver}
			continue
		}
		out[n.Node] = a
	}
	return out
}

// arrow is "old -> new", an unset side shown as "unset".
func arrow(old, new string) string {
	if old == "" {
		old = "unset"
	}
	if new == "" {
		new = "unset"
	}
	return old + " -> " + new
}

func (c *NodePlan) String() string {
	if c.Note != "" {
		return c.Note
	}
	return c.Change.String()
}
