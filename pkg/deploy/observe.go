// Package deploy decides and carries out a config deploy, built like
// pkg/tune: what each node should run (Desired: its rendered config, the
// unit drop-in for service.binary), what it has (Observe: the deployed
// files, the binary's version, the running server's /varz), a pure Plan
// of the difference (a diff with secrets masked, and whether a reload, a
// restart or only an install applies it), and the per-node rollout.Action
// that installs, and restores, the files inside one rollout run.
//
// It decides and provides the node's steps; sequencing them across the
// cluster under one lock (preflight, order, never two down, rollback) is
// pkg/rollout's. It never prints: internal/cmd/deploy shows the plan.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Desired is what one node should run.
type Desired struct {
	Node *cluster.Node
	// Config is the rendered config (with its secrets: it is what gets
	// installed; the plan only ever shows it masked).
	Config []byte
	// Units are the systemd drop-ins natsops writes for the node's unit:
	// the one that sets ExecStart, when natsops manages it
	// (service.binary absolute), and the stop contract (service.
	// ContractDropIn); none in pidfile mode.
	Units []File
	// Remove: the node leaves the cluster (remove = true): no config.
	Remove bool
}

// File is a file natsops writes on a node.
type File struct {
	Path string
	Data []byte
}

// DesiredFor is the desired state of a rendered node.
func DesiredFor(r *config.Rendered) Desired {
	d := Desired{Node: r.Node, Config: r.Config}
	if path, data, ok := service.ExecDropIn(r.Node); ok {
		d.Units = append(d.Units, File{Path: path, Data: data})
	}
	if path, data, ok := service.ContractDropIn(r.Node); ok {
		d.Units = append(d.Units, File{Path: path, Data: data})
	}
	return d
}

// FileState is a file as found on a node.
type FileState struct {
	Exists bool
	Data   []byte
	// MTime is its modification time by the node's clock.
	MTime time.Time
}

// Observed is what one node has now.
type Observed struct {
	Config FileState
	// Backup is the config's .natsops-bak: what the server ran before
	// the last deploy (read to classify a config installed but not
	// loaded).
	Backup FileState
	// Units are the drop-ins of Desired.Units as found, by path.
	Units map[string]FileState
	// Installed is the version service.binary reports on the node.
	Installed string
	// Streams are the JetStream streams ("account/stream") found under
	// the node's store_dir (the first 20), and StoreKB how much the
	// directory holds: data a new cluster would not know.
	Streams []string
	StoreKB int64
	// Enabled and Active are the systemd unit's state (is-enabled,
	// is-active), read for a node that leaves; "" otherwise.
	Enabled, Active string
	// Varz is the running server's /varz; VarzErr why there is none.
	Varz    *monitor.Varz
	VarzErr error
}

// Observe reads what h has for d in one round trip, and the node's /varz.
func Observe(ctx context.Context, h remote.Host, m fleet.Monitor, url string, d Desired) (Observed, error) {
	var o Observed
	varz := make(chan struct{})
	go func() {
		defer close(varz)
		s := m.Snapshot(ctx, url)
		o.Varz = s.Varz
		if o.Varz == nil {
			o.VarzErr = s.Errs["varz"]
			if o.VarzErr == nil {
				o.VarzErr = s.Err()
			}
		}
	}()
	res, err := h.Run(ctx, observeScript(d), remote.RunOptions{Sudo: true})
	<-varz
	if err != nil {
		return o, err
	}
	if err := res.Err(h, "read the deployed config"); err != nil {
		return o, err
	}
	n := d.Node
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var version []string
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case f[0] == "file" && len(f) == 5:
			data, err := base64.StdEncoding.DecodeString(f[4])
			if err != nil {
				return o, fmt.Errorf("%s: read %s: %v", h.Name(), f[1], err)
			}
			secs, _ := strconv.ParseInt(f[3], 10, 64)
			fs := FileState{Exists: f[2] == "1", Data: data, MTime: time.Unix(secs, 0)}
			switch path, unit := strings.CutPrefix(f[1], "unit:"); {
			case f[1] == "config":
				o.Config = fs
			case f[1] == "backup":
				o.Backup = fs
			case unit:
				if o.Units == nil {
					o.Units = map[string]FileState{}
				}
				o.Units[path] = fs
			}
		case f[0] == "version":
			version = append(version, strings.Join(f[1:], " "))
		case f[0] == "stream" && len(f) == 2:
			o.Streams = append(o.Streams, f[1])
		case f[0] == "unitstate" && len(f) == 3:
			o.Enabled, o.Active = f[1], f[2]
		case f[0] == "storekb" && len(f) == 2:
			o.StoreKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return o, fmt.Errorf("%s: read the deployed config: %v", h.Name(), err)
	}
	out := strings.Join(version, "\n")
	o.Installed = service.ParseServerVersion(out)
	if o.Installed == "" {
		return o, fmt.Errorf("service.binary %s does not run on the node (%s --version: %s): set service.binary to the nats-server installed there", n.Service.Binary, n.Service.Binary, strings.TrimSpace(out))
	}
	return o, nil
}

// observeScript prints tagged lines: "file <TAB> what <TAB> 1|0 <TAB>
// mtime <TAB> base64", and "version <TAB> line" for each line of
// `service.binary --version`.
func observeScript(d Desired) string {
	var b strings.Builder
	b.WriteString("natsops_file() { if [ -e \"$2\" ]; then printf 'file\\t%s\\t1\\t%s\\t%s\\n' \"$1\" \"$(stat -c %Y \"$2\")\" \"$(base64 -w0 < \"$2\")\"; else printf 'file\\t%s\\t0\\t0\\t\\n' \"$1\"; fi; }\n")
	p := d.Node.Service.ConfigPath
	fmt.Fprintf(&b, "natsops_file config %s\nnatsops_file backup %s\n", remote.Quote(p), remote.Quote(p+remote.BackupSuffix))
	for _, u := range d.Units {
		fmt.Fprintf(&b, "natsops_file %s %s\n", remote.Quote("unit:"+u.Path), remote.Quote(u.Path))
	}
	fmt.Fprintf(&b, "%s 2>&1 | sed 's/^/version\\t/' || true\n", remote.Command(d.Node.Service.Binary, "--version"))
	if d.Remove && d.Node.Service.Manager == "systemd" {
		u := remote.Quote(d.Node.Service.Unit)
		fmt.Fprintf(&b, "printf 'unitstate\\t%%s\\t%%s\\n' \"$(systemctl is-enabled %s 2>/dev/null)\" \"$(systemctl is-active %s 2>/dev/null)\"\n", u, u)
	}
	if js := d.Node.JetStream; d.Node.JetStreamEnabled() && js.StoreDir != nil && *js.StoreDir != "" {
		// Streams live in <store_dir>/jetstream/<account>/streams/<name>.
		fmt.Fprintf(&b, "d=%s/jetstream\nif [ -d \"$d\" ]; then\n  find \"$d\" -mindepth 3 -maxdepth 3 -type d -path '*/streams/*' 2>/dev/null | head -n 20 | while read -r p; do printf 'stream\\t%%s/%%s\\n' \"$(basename \"$(dirname \"$(dirname \"$p\")\")\")\" \"$(basename \"$p\")\"; done\n  printf 'storekb\\t%%s\\n' \"$(du -sk \"$d\" 2>/dev/null | cut -f1)\"\nfi\n", remote.Quote(*js.StoreDir))
	}
	return b.String()
}

// Env is what reading the nodes needs: their hosts and monitoring.
type Env struct {
	Inventory *cluster.Inventory
	// Getenv resolves env: secrets (the system password for a peer
	// removal).
	Getenv  cluster.Env
	Connect func(ctx context.Context, n *cluster.Node) (remote.Host, error)
	Reader  fleet.Reader
	// Parallel bounds the nodes read at once.
	Parallel int
	// Observe are the other clusters of the inventory's supercluster
	// (rollout.Across.Observe): read along, so that a cluster that never
	// formed joins their JetStream meta group instead of starting its own.
	Observe []*cluster.Node
}

// Read observes every desired node at once (at most env.Parallel) and
// plans each. A node that cannot be read carries its error in the plan.
func Read(ctx context.Context, env Env, ds []Desired, opts Options) *Plan {
	plan := &Plan{Nodes: make([]*NodePlan, len(ds))}
	idx := make([]int, len(ds))
	for i := range ds {
		idx[i] = i
	}
	rs := remote.Each(ctx, idx, env.Parallel, func(i int) string { return ds[i].Node.Name }, func(ctx context.Context, i int) error {
		d := ds[i]
		h, err := env.Connect(ctx, d.Node)
		if err != nil {
			return err
		}
		o, err := Observe(ctx, h, env.Reader.Monitor, env.Reader.URLOf(d.Node), d)
		if err != nil {
			return err
		}
		plan.Nodes[i] = MakePlan(d, o, opts)
		return nil
	})
	for i, r := range rs {
		if r.Err != nil {
			plan.Nodes[i] = &NodePlan{Node: ds[i].Node.Name, Path: ds[i].Node.Service.ConfigPath, Error: r.Err.Error(), desired: ds[i]}
		}
	}
	if len(plan.Failed()) == 0 {
		nodes := append(append([]*cluster.Node(nil), env.Inventory.Nodes...), env.Observe...)
		snaps := env.Reader.Read(ctx, nodes, nil)
		plan.Known(knownStreams(ctx, env, plan, snaps))
		plan.Decide(env.Inventory, snaps, opts)
		plan.leaver = newLeaver(env.Inventory, env.Getenv)
	}
	return plan
}

// knownStreams reads the streams the live members of the inventory's
// cluster hold (KnownStreams), when a node is down or holds streams on
// disk (what Decide judges with them); nil otherwise, or when no member
// answers.
func knownStreams(ctx context.Context, env Env, plan *Plan, snaps map[string]*monitor.Snapshot) map[string][]string {
	need := false
	for _, n := range plan.Nodes {
		if n.observed.Varz == nil || len(n.observed.Streams) > 0 {
			need = true
		}
	}
	var live []*cluster.Node
	for _, n := range env.Inventory.Nodes {
		if s := snaps[n.Name]; s != nil && s.Varz != nil && n.JetStreamEnabled() {
			live = append(live, n)
		}
	}
	if !need || len(live) == 0 {
		return nil
	}
	readings := map[string]*monitor.JSDetail{}
	for name, r := range env.Reader.Streams(ctx, live) {
		if r.Err == nil && r.Detail != nil {
			readings[name] = r.Detail
		}
	}
	if len(readings) == 0 {
		return nil
	}
	return KnownStreams(readings)
}
