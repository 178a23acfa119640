package provision

import (
	"context"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/remote"
)

// Host is one host's provisioning, as reported (-o json: one object per
// host).
type Host struct {
	hostrun.Host
	Plan   *Plan         `json:"plan,omitempty"`
	Verify *Verification `json:"verify,omitempty"`

	desired  Desired
	observed Observed
}

// Observe reads the host (hostrun.Steps).
func (h *Host) Observe(ctx context.Context, c remote.Host) (err error) {
	h.observed, err = Observe(ctx, c, h.desired)
	return err
}

// MakePlan plans the host from what was read (hostrun.Steps).
func (h *Host) MakePlan() hostrun.Planned {
	h.Plan = MakePlan(h.desired, h.observed)
	return hostrun.Planned{Changes: h.Plan.Items(), Problems: h.Plan.Problems}
}

// Apply carries out the plan (hostrun.Steps).
func (h *Host) Apply(ctx context.Context, c remote.Host) error {
	return Apply(ctx, c, h.desired, h.Plan)
}

// Check verifies what was read last (hostrun.Steps).
func (h *Host) Check() hostrun.Verified {
	v := Verify(h.desired, h.observed)
	h.Verify = &v
	return hostrun.Verified{Mismatches: v.Mismatches}
}

// Run provisions the selected nodes (pkg/hostrun's engine): Plan reads
// and plans every host, Apply changes them, then reads them again and
// verifies them. A host that fails (unreachable, a step that fails) is
// reported on its own and the others go on; bad input found on any host
// (Plan.Problems) refuses the whole run before anything changes on any
// host (hostrun.ErrRefused); a host with nothing to do that does not
// verify fails.
type Run struct {
	hostrun.Run[*Host]
}

// New computes every node's desired state. Inventory problems (a binary
// that is missing or does not match its pinned digest, a setting provision
// cannot carry out) come back as a *cluster.InventoryError, before any
// host is reached.
func New(inv *cluster.Inventory, nodes []*cluster.Node, o hostrun.Options) (*Run, error) {
	sources, err := LoadSources(inv, nodes)
	if err != nil {
		return nil, err
	}
	r := &Run{hostrun.Run[*Host]{Options: o, Job: "provision", Refusal: "refused", RefuseAll: true, VerifyUnchanged: true}}
	var problems []cluster.Problem
	for _, n := range nodes {
		d, ps := DesiredFor(inv, n, sources)
		problems = append(problems, ps...)
		r.Hosts = append(r.Hosts, &Host{Host: hostrun.NewHost(n), desired: d})
	}
	if len(problems) > 0 {
		return nil, &cluster.InventoryError{Problems: problems}
	}
	return r, nil
}
