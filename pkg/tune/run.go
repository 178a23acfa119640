package tune

import (
	"context"
	"fmt"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/hostrun"
	"github.com/natsops/natsops/pkg/remote"
)

// HostRun is one host's tune, as reported (-o json: one object per host).
type HostRun struct {
	hostrun.Host
	Plan   *Plan         `json:"plan,omitempty"`
	Verify *Verification `json:"verify,omitempty"`
	// Limits is the running server's open-files limit next to the
	// desired one, with the connection capacity each gives.
	Limits *Limits `json:"limits,omitempty"`
	// Contract are the ways systemd's unit breaks the stop contract
	// (VerifyContract), read with the plan: a failure of this host even
	// when nothing is to be tuned. Notes say the rest (not installed yet).
	Contract []string `json:"contract_mismatches,omitempty"`
	Notes    []string `json:"notes,omitempty"`

	inv      *cluster.Inventory
	desired  Desired
	observed Observed
}

// Observe reads the host (hostrun.Steps), and what follows from the
// reading alone: the stop contract and the open-files limits.
func (h *HostRun) Observe(ctx context.Context, c remote.Host) error {
	o, err := Observe(ctx, c, h.desired)
	if err != nil {
		return err
	}
	h.observed = o
	h.Contract, h.Notes = VerifyContract(h.desired, o)
	l := LimitsFor(h.inv, h.Target(), h.desired, o.Process)
	h.Limits = &l
	return nil
}

// MakePlan plans the host from what was read (hostrun.Steps).
func (h *HostRun) MakePlan() hostrun.Planned {
	h.Plan = MakePlan(h.Node, h.desired, h.observed)
	return hostrun.Planned{Changes: h.Plan.Items(), Problems: h.Plan.Problems}
}

// Apply applies the plan (hostrun.Steps).
func (h *HostRun) Apply(ctx context.Context, c remote.Host) error {
	return Apply(ctx, c, h.desired, h.Plan)
}

// Check verifies what was read last (hostrun.Steps): a server still on its
// old limit is a warning, not a failure.
func (h *HostRun) Check() hostrun.Verified {
	v := Verify(h.Node, h.desired, h.observed)
	h.Verify = &v
	out := hostrun.Verified{Mismatches: v.Mismatches}
	if v.RestartNeeded {
		out.Warning = fmt.Sprintf("running nats-server (pid %d) still has its old open-files limit: restart needed", v.Process.PID)
	}
	return out
}

// Run is a tune of several hosts (pkg/hostrun's engine): Plan reads and
// plans every host, Apply applies the plans of the hosts that can be
// tuned, then reads them again and verifies them. A host that cannot be
// read or planned, or whose values did not take, carries its error, and
// the others go on; a host's bad input (Plan.Problems) leaves that host
// alone ("not tuned"). A host with nothing to write is verified at once:
// the running server may still lack the limit (tuned earlier, never
// restarted), which is reported, not a failure.
type Run struct {
	hostrun.Run[*HostRun]
}

// New is a tune of nodes, no host reached yet.
func New(inv *cluster.Inventory, nodes []*cluster.Node, o hostrun.Options) *Run {
	r := &Run{hostrun.Run[*HostRun]{Options: o, Job: "tune", Refusal: "not tuned"}}
	for _, n := range nodes {
		r.Hosts = append(r.Hosts, &HostRun{Host: hostrun.NewHost(n), inv: inv, desired: DesiredFor(inv, n)})
	}
	return r
}

// Failed are the hosts with an error or whose unit breaks the stop
// contract.
func (r *Run) Failed() []string {
	var out []string
	for _, h := range r.Hosts {
		if h.Error != "" || len(h.Contract) > 0 {
			out = append(out, h.Node)
		}
	}
	return out
}

// RestartNeeded counts the hosts whose running nats-server still has its
// old open-files limit.
func (r *Run) RestartNeeded() int {
	n := 0
	for _, h := range r.Hosts {
		if h.Verify != nil && h.Verify.RestartNeeded {
			n++
		}
	}
	return n
}

// Limits is a host's open-files limit as the running nats-server has it
// and as the inventory wants it, and the client connections each allows
// (health.CapacityOf with the inventory's reserve estimate: the server is
// not asked how many clients it has).
type Limits struct {
	// PID is the running server's (0: not running; Running* are then 0).
	PID             int   `json:"pid"`
	RunningSoft     int64 `json:"running_soft"`
	RunningHard     int64 `json:"running_hard"`
	RunningCapacity int   `json:"running_capacity"`
	Desired         int64 `json:"desired"`
	DesiredCapacity int   `json:"desired_capacity"`
	MaxConnections  int   `json:"max_connections"`
	Reserve         int   `json:"reserve"`
}

// defaultMaxConnections is nats-server's max_connections default.
const defaultMaxConnections = 65536

// LimitsFor is node n's Limits from its desired tuning and its running
// server's limit. Pure.
func LimitsFor(inv *cluster.Inventory, n *cluster.Node, d Desired, p ProcLimit) Limits {
	maxConns := defaultMaxConnections
	if m := n.Server.MaxConnections; m != nil {
		maxConns = *m
	}
	static := health.StaticReserve(inv, n)
	want := health.CapacityOf(maxConns, static, &health.HostReading{Reached: true, PID: 1, State: "S", Soft: d.NoFile, Hard: d.NoFile}, -1)
	l := Limits{Desired: d.NoFile, DesiredCapacity: want.Capacity, MaxConnections: maxConns, Reserve: want.Reserve}
	if p.PID > 0 {
		now := health.CapacityOf(maxConns, static, &health.HostReading{Reached: true, PID: p.PID, State: "S", Soft: p.Soft, Hard: p.Hard}, -1)
		l.PID, l.RunningSoft, l.RunningHard, l.RunningCapacity = p.PID, p.Soft, p.Hard, now.Capacity
	}
	return l
}
