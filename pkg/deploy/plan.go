package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/rollout"
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
	// Unit is the ExecStart drop-in when it differs.
	Unit *UnitChange `json:"unit,omitempty"`
	// Binary: the version service.binary reports on the node and the one
	// running (/varz); a difference needs a restart (an upgrade).
	Binary Versions `json:"binary"`
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
}

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
	p.Diff = config.Diff(n.Name, p.Path, o.Config.Data, o.Config.Exists, d.Config)
	if p.Diff != "" {
		p.Changed = true
		p.Change = config.Classify(o.Config.Data, d.Config)
		if !o.Config.Exists {
			p.Change = config.Change{Keys: []string{"(new file)"}, NeedsRestart: true, RestartReason: []string{"no config was deployed"}}
		}
	}
	if o.Varz != nil {
		p.Binary.Running = o.Varz.Version
		// Installed after the running server last loaded its config (by
		// the node's clock, with a second for the file's resolution):
		// not loaded yet.
		if !p.Changed && o.Config.Exists && o.Config.MTime.After(o.Varz.ConfigLoadTime.Add(1e9)) {
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
	if u := d.Unit; u != nil && !(o.Unit.Exists && bytes.Equal(o.Unit.Data, u.Data)) {
		p.Unit = &UnitChange{Path: u.Path, Diff: config.Diff(n.Name, u.Path, o.Unit.Data, o.Unit.Exists, u.Data), existed: o.Unit.Exists}
		p.Changed = true
		p.Change.Keys = append(p.Change.Keys, "ExecStart")
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
		if u := n.desired.Unit; u != nil {
			h.Write([]byte(u.Path))
			h.Write(u.Data)
		}
		h.Write([]byte(n.Binary.Installed))
		parts = append(parts, fmt.Sprintf("%s:%s:%s", n.Node, n.How, hex.EncodeToString(h.Sum(nil))[:16]))
	}
	sort.Strings(parts)
	return "deploy " + strings.Join(parts, " ")
}

// Actions are the rollout actions of the changed nodes.
func (p *Plan) Actions() map[string]rollout.Action {
	out := map[string]rollout.Action{}
	for _, n := range p.Changed() {
		out[n.Node] = &action{plan: n}
	}
	return out
}

func (c *NodePlan) String() string {
	if c.Note != "" {
		return c.Note
	}
	return c.Change.String()
}
