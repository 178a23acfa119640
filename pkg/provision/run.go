package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// Host is one host's provisioning, as reported (-o json: one object per
// host).
type Host struct {
	Node    string        `json:"node"`
	Address string        `json:"host"`
	Plan    *Plan         `json:"plan,omitempty"`
	Applied bool          `json:"applied"`
	Verify  *Verification `json:"verify,omitempty"`
	// Error is this host's failure in one line, naming it.
	Error string `json:"error,omitempty"`

	node     *cluster.Node
	desired  Desired
	observed Observed
	conn     remote.Host
}

// Failed reports whether the host failed or was refused.
func (h *Host) Failed() bool { return h.Error != "" }

// Connect reaches a node (cmd/natsops's connector: SSH or local); its
// owner closes the connections.
type Connect func(context.Context, *cluster.Node) (remote.Host, error)

// Run provisions the selected nodes: Plan reads every host, Apply changes
// them, at most Parallel hosts at once. A host that fails (unreachable, a
// step that fails) is reported on its own and the others go on; bad input
// found on any host (Plan.Problems) stops Apply before anything changes
// on any host.
type Run struct {
	Hosts    []*Host
	parallel int
}

// New computes every node's desired state. Inventory problems (a binary
// that is missing or does not match its pinned digest, a setting provision
// cannot carry out) come back as a *cluster.InventoryError, before any
// host is reached.
func New(inv *cluster.Inventory, nodes []*cluster.Node, parallel int) (*Run, error) {
	sources, err := LoadSources(inv, nodes)
	if err != nil {
		return nil, err
	}
	r := &Run{parallel: parallel}
	var problems []cluster.Problem
	for _, n := range nodes {
		d, ps := DesiredFor(inv, n, sources)
		problems = append(problems, ps...)
		r.Hosts = append(r.Hosts, &Host{Node: n.Name, Address: n.Host, node: n, desired: d})
	}
	if len(problems) > 0 {
		return nil, &cluster.InventoryError{Problems: problems}
	}
	return r, nil
}

// each runs fn on every host that has not failed, at most r.parallel at
// once; an error is recorded on its host.
func (r *Run) each(ctx context.Context, fn func(context.Context, *Host) error) {
	var todo []*Host
	for _, h := range r.Hosts {
		if !h.Failed() {
			todo = append(todo, h)
		}
	}
	rs := remote.Each(ctx, todo, r.parallel, func(h *Host) string { return h.Node }, fn)
	for i, res := range rs {
		if res.Err != nil {
			todo[i].Error = remote.OneLine(res.Name, res.Err)
		}
	}
}

// Plan connects to every host, reads it and plans it. A host with nothing
// to do is verified from what was read.
func (r *Run) Plan(ctx context.Context, connect Connect) {
	r.each(ctx, func(ctx context.Context, h *Host) error {
		c, err := connect(ctx, h.node)
		if err != nil {
			return err
		}
		h.conn = c
		if h.observed, err = Observe(ctx, c, h.desired); err != nil {
			return err
		}
		h.Plan = MakePlan(h.desired, h.observed)
		if len(h.Plan.Problems) > 0 {
			return errors.New("refused: " + strings.Join(h.Plan.Problems, "; "))
		}
		if !h.Plan.Pending() {
			v := Verify(h.desired, h.observed)
			h.Verify = &v
			if !v.OK() {
				return fmt.Errorf("nothing to do, but %s", strings.Join(v.Mismatches, "; "))
			}
		}
		return nil
	})
}

// Pending counts the steps to apply.
func (r *Run) Pending() (steps, hosts int) {
	for _, h := range r.Hosts {
		if h.Plan != nil && !h.Failed() && h.Plan.Pending() {
			steps += len(h.Plan.Steps)
			hosts++
		}
	}
	return steps, hosts
}

// Refused lists the hosts whose plan found bad input.
func (r *Run) Refused() []string {
	var out []string
	for _, h := range r.Hosts {
		if h.Plan != nil && len(h.Plan.Problems) > 0 {
			out = append(out, h.Node)
		}
	}
	return out
}

// Failed lists the hosts that failed or were refused.
func (r *Run) Failed() []string {
	var out []string
	for _, h := range r.Hosts {
		if h.Failed() {
			out = append(out, h.Node)
		}
	}
	return out
}

// ErrRefused: a host's plan found bad input, so no host was changed.
var ErrRefused = errors.New("refused: nothing was changed on any host")

// Apply carries out every pending plan, then reads each host again and
// verifies it. It changes nothing when any host was refused.
func (r *Run) Apply(ctx context.Context) error {
	if len(r.Refused()) > 0 {
		return ErrRefused
	}
	r.each(ctx, func(ctx context.Context, h *Host) error {
		if !h.Plan.Pending() {
			return nil // verified while planning
		}
		if err := Apply(ctx, h.conn, h.desired, h.Plan); err != nil {
			return err
		}
		h.Applied = true
		o, err := Observe(ctx, h.conn, h.desired)
		if err != nil {
			return err
		}
		v := Verify(h.desired, o)
		h.Verify = &v
		if !v.OK() {
			return fmt.Errorf("applied, but %s", strings.Join(v.Mismatches, "; "))
		}
		return nil
	})
	return nil
}
