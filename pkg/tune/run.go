package tune

import (
	"context"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/remote"
)

// HostRun is one host's tune, as reported (-o json: one object per host).
type HostRun struct {
	Node    string        `json:"node"`
	Host    string        `json:"host"`
	Plan    *Plan         `json:"plan,omitempty"`
	Applied bool          `json:"applied"`
	Verify  *Verification `json:"verify,omitempty"`
	// Limits is the running server's open-files limit next to the
	// desired one, with the connection capacity each gives.
	Limits *Limits `json:"limits,omitempty"`
	// Contract are the ways systemd's unit breaks the stop contract
	// (VerifyContract), read with the plan: a failure of this host even
	// when nothing is to be tuned. Notes say the rest (not installed yet).
	Contract []string `json:"contract_mismatches,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	Error    string   `json:"error,omitempty"`

	inv     *cluster.Inventory
	node    *cluster.Node
	host    remote.Host
	desired Desired
}

// Run is a tune of several hosts: how to reach them and how many at once.
type Run struct {
	Connect  func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	Parallel int
	Hosts    []*HostRun
}

// Read connects to every node (at most Parallel at once), reads what it
// has and plans it; a host that cannot be read or planned carries its
// error, and the others go on. A host with nothing to write is verified
// at once: the running server may still lack the limit (tuned earlier,
// never restarted).
func Read(ctx context.Context, inv *cluster.Inventory, nodes []*cluster.Node, connect func(context.Context, *cluster.Node) (remote.Host, error), parallel int) *Run {
	r := &Run{Connect: connect, Parallel: parallel}
	for _, n := range nodes {
		r.Hosts = append(r.Hosts, &HostRun{Node: n.Name, Host: n.Host, inv: inv, node: n, desired: DesiredFor(inv, n)})
	}
	r.each(ctx, func(ctx context.Context, h *HostRun) error {
		host, err := r.Connect(ctx, h.node)
		if err != nil {
			return err
		}
		h.host = host
		obs, err := Observe(ctx, host, h.desired)
		if err != nil {
			return err
		}
		h.Plan = MakePlan(h.Node, h.desired, obs)
		h.Contract, h.Notes = VerifyContract(h.desired, obs)
		l := LimitsFor(inv, h.node, h.desired, obs.Process)
		h.Limits = &l
		if !h.Plan.Pending() && len(h.Plan.Problems) == 0 {
			v := Verify(h.Node, h.desired, obs)
			h.Verify = &v
		}
		return nil
	})
	for _, h := range r.Hosts {
		if h.Error == "" && h.Plan != nil && len(h.Plan.Problems) > 0 {
			h.Error = h.Node + ": not tuned: " + strings.Join(h.Plan.Problems, "; ")
		}
	}
	return r
}

// Pending counts the changes planned on the hosts that can be tuned.
func (r *Run) Pending() int {
	n := 0
	for _, h := range r.Hosts {
		if h.Error == "" && h.Plan != nil {
			n += len(h.Plan.Changes)
		}
	}
	return n
}

// Ready counts the hosts that can be tuned (read, planned, no problem).
func (r *Run) Ready() int {
	n := 0
	for _, h := range r.Hosts {
		if h.Error == "" {
			n++
		}
	}
	return n
}

// Apply applies every plan of a host that can be tuned, then reads the
// host again and verifies it; a host whose values did not take is an
// error, and the others go on.
func (r *Run) Apply(ctx context.Context) {
	r.each(ctx, func(ctx context.Context, h *HostRun) error {
		if err := Apply(ctx, h.host, h.desired, h.Plan); err != nil {
			return err
		}
		h.Applied = h.Plan.Pending()
		obs, err := Observe(ctx, h.host, h.desired)
		if err != nil {
			return err
		}
		v := Verify(h.Node, h.desired, obs)
		h.Verify = &v
		h.Contract, h.Notes = VerifyContract(h.desired, obs)
		l := LimitsFor(h.inv, h.node, h.desired, obs.Process)
		h.Limits = &l
		if len(v.Mismatches) > 0 {
			return fmt.Errorf("applied, but %s", strings.Join(v.Mismatches, "; "))
		}
		return nil
	})
}

// Failed are the hosts with an error.
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

// each runs fn for every host without an error, at most Parallel at once;
// a failure is recorded on that host (one line) and the others go on.
func (r *Run) each(ctx context.Context, fn func(context.Context, *HostRun) error) {
	var todo []*HostRun
	for _, h := range r.Hosts {
		if h.Error == "" {
			todo = append(todo, h)
		}
	}
	rs := remote.Each(ctx, todo, r.Parallel, func(h *HostRun) string { return h.Node }, fn)
	for k, res := range rs {
		if res.Err != nil {
			todo[k].Error = remote.OneLine(res.Name, res.Err)
		}
	}
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
