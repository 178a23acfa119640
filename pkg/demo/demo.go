// Package demo creates, starts and removes the throwaway local cluster of
// `natsops demo`: the nodes of inventory/local.toml on free loopback ports,
// in a directory of their own, each node a separate process of the natsops
// binary running `natsops server` (the embedded nats-server); with
// --supercluster the estate of inventory/local-supercluster.toml (two
// regions joined by gateways, an edge site attached as a leaf node) the
// same way.
//
// It owns that directory and the processes started from it, and nothing
// else: nodes are started with the rollout's own pidfile start command
// through the local transport, restarts go through pkg/rollout, health is
// judged by pkg/health. Stop and Remove touch only processes whose command
// line names the directory, and only a directory carrying the demo's
// marker file.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/inventory"
	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/config"
	"github.com/natsops/natsops/pkg/fleet"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/monitor"
	"github.com/natsops/natsops/pkg/progress"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/service"
)

// Files in a demo directory.
const (
	InventoryFile = "natsops.toml"
	// Marker says the directory is a demo's: Open and Remove refuse others.
	Marker = ".natsops-demo"
	// Wrapper is the nodes' service.binary: a script that execs
	// `natsops server` (service.binary is one word in every command).
	Wrapper = "nats-server"
	// PIDs lists every server process the wrapper started, one pid a
	// line, so that Stop finds a node restarted by anyone.
	PIDs = "started.pids"
	// Binary is the demo's own copy of natsops: `go run` deletes its
	// build when it exits, and a kept cluster must still restart.
	Binary = "natsops"
)

// LameDuck is the demo nodes' lame_duck_duration (nats-server's minimum)
// and LameDuckGrace their grace period: with a client connected, a
// graceful stop takes a few seconds instead of the default minutes.
const (
	LameDuck      = 30 * time.Second
	LameDuckGrace = time.Second
)

// Cluster is one demo directory and its inventory: one cluster, or an
// estate of several (Estate.Multi).
type Cluster struct {
	Dir string
	// Inventory is the demo's cluster; nil for an estate of several.
	Inventory *cluster.Inventory
	// Estate is every cluster of the file (an estate of one for a single
	// cluster).
	Estate *cluster.Estate
}

// Supercluster reports whether the demo is an estate of several clusters.
func (c *Cluster) Supercluster() bool { return c.Estate != nil && c.Estate.Multi }

// Nodes are every node of the demo, cluster by cluster in file order.
func (c *Cluster) Nodes() []*cluster.Node {
	if c.Estate == nil {
		return c.Inventory.Nodes
	}
	var out []*cluster.Node
	for _, inv := range c.Estate.Clusters {
		out = append(out, inv.Nodes...)
	}
	return out
}

// Natsops is the demo's copy of the natsops binary (what the nodes run).
func (c *Cluster) Natsops() string { return filepath.Join(c.Dir, Binary) }

// InventoryPath is the inventory natsops commands take with -i.
func (c *Cluster) InventoryPath() string { return filepath.Join(c.Dir, InventoryFile) }

// Create makes a demo directory under parent (the system's temporary
// directory when empty) for the nodes of inventory/local.toml, each on
// free ports, run by exe (the natsops binary): the inventory, the
// wrapper script and every node's rendered config, validated. On error
// nothing is left behind.
func Create(parent, exe string) (*Cluster, error) { return createIn(parent, exe, single) }

// CreateWithAccounts is Create with the accounts `natsops demo` runs:
// SYS, the system account, with user admin, and APP, with JetStream,
// whose user app every client without credentials is (the demo's own
// traffic logs in as nobody). Their passwords are random, in files of
// the directory (secrets/*.password, mode 0600). admin is what natscli's
// `nats server` commands need, through `natsops contexts`; Create's bare
// cluster is for tests that add their own auth.
func CreateWithAccounts(parent, exe string) (*Cluster, error) {
	return createIn(parent, exe, singleAccounts)
}

// CreateSupercluster is Create for the estate of
// inventory/local-supercluster.toml: east and west joined by gateways,
// edge a leaf node of east, with the accounts' passwords random, in
// files of the directory (secrets/*.password, mode 0600).
func CreateSupercluster(parent, exe string) (*Cluster, error) { return createIn(parent, exe, estate) }

// kind is which demo inventory createIn builds.
type kind int

const (
	single kind = iota
	singleAccounts
	estate
)

func createIn(parent, exe string, k kind) (*Cluster, error) {
	dir, err := os.MkdirTemp(parent, "natsops-demo-")
	if err != nil {
		return nil, fmt.Errorf("create the demo directory: %w", err)
	}
	// Absolute: every path in the inventory must mean the same from any
	// working directory (commands run with -i DIR/natsops.toml).
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	c, err := create(dir, exe, k)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func create(dir, exe string, k kind) (*Cluster, error) {
	if err := os.WriteFile(filepath.Join(dir, Marker), []byte("natsops demo\n"), 0o600); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, Binary)
	if err := copyFile(exe, bin); err != nil {
		return nil, fmt.Errorf("copy natsops into the demo directory: %w", err)
	}
	exe = bin
	wrapper := filepath.Join(dir, Wrapper)
	// Only servers are recorded, not `-t` or `--signal` runs, whose pids
	// are soon free for other processes to take.
	script := fmt.Sprintf("#!/bin/sh\n# nats-server for this natsops demo: the natsops binary's embedded one.\ncase \" $* \" in\n*\" -t \"* | *\" --signal \"* | *\" -sl \"* | *\" --signal=\"* | *\" -v \"* | *\" --version \"* | *\" -h \"* | *\" --help \"*) ;;\n*) echo $$ >>%s ;;\nesac\nexec %s server \"$@\"\n",
		remote.Quote(filepath.Join(dir, PIDs)), remote.Quote(exe))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, err
	}
	var data []byte
	var err error
	switch k {
	case estate:
		data, err = estateInventoryFor(dir, wrapper)
	default:
		data, err = inventoryFor(dir, wrapper, k == singleAccounts)
	}
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, InventoryFile)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	est, err := cluster.LoadEstate(path)
	if err != nil {
		return nil, fmt.Errorf("the demo inventory is invalid (a natsops bug): %w", err)
	}
	ts, err := config.LoadTemplates(nil)
	if err != nil {
		return nil, err
	}
	selected := map[*cluster.Inventory][]*cluster.Node{}
	for _, inv := range est.Clusters {
		selected[inv] = inv.Nodes
	}
	res := config.BuildEstate(est, ts, selected, func(string) (string, bool) { return "", false })
	if !res.OK(config.SevError) {
		var msgs []string
		for _, f := range res.Findings {
			if f.Severity == config.SevError {
				msgs = append(msgs, f.Node+": "+f.Message)
			}
		}
		return nil, fmt.Errorf("the demo configs do not validate (a natsops bug): %s", strings.Join(msgs, "; "))
	}
	for _, r := range res.Configs {
		if err := os.MkdirAll(*r.Node.JetStream.StoreDir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(r.Node.Service.ConfigPath, r.Config, 0o600); err != nil {
			return nil, err
		}
	}
	return newCluster(dir, est), nil
}

func newCluster(dir string, est *cluster.Estate) *Cluster {
	c := &Cluster{Dir: dir, Estate: est}
	if !est.Multi {
		c.Inventory = est.Clusters[0]
	}
	return c
}

// copyFile links src to dst, or copies it (another file system).
func copyFile(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// inventoryFor is local.toml with every node's ports, files and binary
// set for dir, and with accounts the demo's accounts (addAccounts) and
// their password files.
func inventoryFor(dir, wrapper string, accounts bool) ([]byte, error) {
	var doc map[string]any
	if err := toml.Unmarshal(inventory.Local(), &doc); err != nil {
		return nil, err
	}
	nodes, _ := doc["node"].([]any)
	if len(nodes) == 0 {
		return nil, errors.New("inventory/local.toml has no nodes")
	}
	ports, err := freePorts(portsPerNode * len(nodes))
	if err != nil {
		return nil, err
	}
	setDefaults(doc, wrapper)
	for i, x := range nodes {
		if err := placeNode(x, dir, ports[portsPerNode*i:], "inventory/local.toml", i); err != nil {
			return nil, err
		}
	}
	if accounts {
		addAccounts(doc)
		if err := writeSecrets(dir, doc); err != nil {
			return nil, err
		}
	}
	// Tables in local.toml's order (a map would sort them), nodes last.
	body, err := marshalInOrder(doc, "cluster", "service", "ssh", "server", "jetstream", "accounts")
	if err != nil {
		return nil, err
	}
	accountsNote, contextsHint := "", ""
	if accounts {
		accountsNote = "\n# Clients without credentials are user app of account APP; admin (the\n# system account SYS, password in secrets/) is what natscli's server\n# commands log in as."
		contextsHint = fmt.Sprintf("\n#   %s contexts -i %s --write && nats --context local server ls", filepath.Join(dir, Binary), filepath.Join(dir, InventoryFile))
	}
	head := fmt.Sprintf(`# natsops demo cluster: inventory/local.toml on free ports, in %s.
# Each node is the natsops binary running its embedded nats-server
# (service.binary is a wrapper for `+"`natsops server`"+`), started as a local
# process (pidfile mode).%[4]s Try:
#   %[3]s status  -i %[2]s
#   %[3]s restart -i %[2]s --yes%[5]s
#   %[3]s demo --stop %[1]s

`, dir, filepath.Join(dir, InventoryFile), filepath.Join(dir, Binary), accountsNote, contextsHint)
	return append([]byte(head), body...), nil
}

// addAccounts gives the demo cluster the accounts of
// local-supercluster.toml: SYS, the system account, with user admin (what
// `nats server ls` needs, through `natsops contexts`), and APP, with
// JetStream, whose user app is every client without credentials (the
// demo's own traffic), so nothing else has to log in. local.toml itself
// stays without auth: its passwords would be files that only a demo
// directory has.
func addAccounts(doc map[string]any) {
	auth := table(table(doc, "server"), "auth")
	auth["system_account"] = "SYS"
	auth["no_auth_user"] = "app"
	doc["accounts"] = map[string]any{
		"SYS": map[string]any{"users": []any{map[string]any{"user": "admin", "password": "file:secrets/admin.password"}}},
		"APP": map[string]any{
			"users":     []any{map[string]any{"user": "app", "password": "file:secrets/app.password"}},
			"jetstream": map[string]any{"max_file": "1GB", "max_memory": "256MB"},
		},
	}
}

// estateInventoryFor is local-supercluster.toml with every node's ports,
// files and binary set for dir, and every file:secrets/... password it
// names written with a random value.
func estateInventoryFor(dir, wrapper string) ([]byte, error) {
	const src = "inventory/local-supercluster.toml"
	var doc map[string]any
	if err := toml.Unmarshal(inventory.LocalSupercluster(), &doc); err != nil {
		return nil, err
	}
	clusters, _ := doc["clusters"].([]any)
	var nodes []any
	for _, x := range clusters {
		if c, ok := x.(map[string]any); ok {
			ns, _ := c["node"].([]any)
			nodes = append(nodes, ns...)
		}
	}
	if len(nodes) == 0 {
		return nil, errors.New(src + " has no nodes")
	}
	ports, err := freePorts(portsPerNode * len(nodes))
	if err != nil {
		return nil, err
	}
	setDefaults(doc, wrapper)
	for i, x := range nodes {
		if err := placeNode(x, dir, ports[portsPerNode*i:], src, i); err != nil {
			return nil, err
		}
	}
	if err := writeSecrets(dir, doc); err != nil {
		return nil, err
	}
	body, err := marshalInOrder(doc, "service", "ssh", "server", "jetstream", "gateway", "accounts")
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf(`# natsops demo supercluster: inventory/local-supercluster.toml on free
# ports, in %s: east and west joined by gateways, edge a leaf node of
# east. Each node is the natsops binary running its embedded nats-server
# (service.binary is a wrapper for `+"`natsops server`"+`), started as a local
# process (pidfile mode). Try:
#   %[3]s status  -i %[2]s
#   %[3]s restart -i %[2]s --mode fast --yes     # every cluster, one at a time
#   %[3]s demo --stop %[1]s

`, dir, filepath.Join(dir, InventoryFile), filepath.Join(dir, Binary))
	return append([]byte(head), body...), nil
}

// portsPerNode is what placeNode takes: client, monitoring, cluster,
// gateway and leaf node ports (the last three set only where the
// inventory has them).
const portsPerNode = 5

// setDefaults makes every node run the wrapper, without sudo, with the
// demo's lame duck.
func setDefaults(doc map[string]any, wrapper string) {
	table(doc, "service")["binary"] = wrapper
	table(doc, "ssh")["sudo"] = false
	srv := table(doc, "server")
	srv["lame_duck_duration"] = LameDuck.String()
	srv["lame_duck_grace_period"] = LameDuckGrace.String()
}

// placeNode sets node x's ports (from ports) and files for dir: the
// client and monitoring ports, and the cluster, gateway and leaf node
// ports where the inventory sets one for it.
func placeNode(x any, dir string, ports []int, src string, i int) error {
	n, ok := x.(map[string]any)
	name, _ := n["name"].(string)
	if !ok || name == "" {
		return fmt.Errorf("%s: node %d has no name", src, i+1)
	}
	base := filepath.Join(dir, name)
	s := table(n, "server")
	s["port"], s["http_port"], s["pid_file"] = ports[0], ports[1], base+".pid"
	log := table(s, "log")
	log["file"], log["size_limit"] = base+".log", "10MB"
	for j, key := range []string{"cluster", "gateway", "leafnodes"} {
		if t, ok := n[key].(map[string]any); ok && t["port"] != nil {
			t["port"] = ports[2+j]
		}
	}
	table(n, "service")["config_path"] = base + ".conf"
	table(n, "jetstream")["store_dir"] = filepath.Join(base, "jetstream")
	return nil
}

// writeSecrets writes every "file:secrets/NAME" secret doc refers to,
// relative to dir, with a random value (mode 0600).
func writeSecrets(dir string, doc any) error {
	const prefix = "file:secrets/"
	seen := map[string]bool{}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if err := walk(x[k]); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case string:
			rel, ok := strings.CutPrefix(x, "file:")
			if !ok || !strings.HasPrefix(x, prefix) || seen[rel] {
				return nil
			}
			seen[rel] = true
			path := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			return os.WriteFile(path, []byte(rand.Text()+"\n"), 0o600)
		}
		return nil
	}
	return walk(doc)
}

// marshalInOrder writes doc's tables named first in that order (a map
// would sort them), then the rest.
func marshalInOrder(doc map[string]any, first ...string) ([]byte, error) {
	var body []byte
	for _, key := range first {
		if v, ok := doc[key]; ok {
			delete(doc, key)
			part, err := toml.Marshal(map[string]any{key: v})
			if err != nil {
				return nil, err
			}
			body = append(append(body, part...), '\n')
		}
	}
	rest, err := toml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(body, rest...), nil
}

func table(m map[string]any, key string) map[string]any {
	if t, ok := m[key].(map[string]any); ok {
		return t
	}
	t := map[string]any{}
	m[key] = t
	return t
}

// freePorts returns n distinct loopback ports that were free a moment
// ago (all held open together, so no two are the same).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Open reads the demo cluster in dir (for --stop); dir must be a demo's.
func Open(dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, Marker)); err != nil {
		return nil, fmt.Errorf("%s is not a natsops demo directory (no %s in it): pass the directory `natsops demo --keep` printed", dir, Marker)
	}
	est, err := cluster.LoadEstate(filepath.Join(dir, InventoryFile))
	if err != nil {
		return nil, err
	}
	return newCluster(dir, est), nil
}

// Start starts every node with the rollout's pidfile start command,
// through the local transport, as `natsops restart` would.
func (c *Cluster) Start(ctx context.Context) error {
	for _, n := range c.Nodes() {
		h, err := remote.Connect(ctx, n, c.Dir, remote.Env{}, remote.DialOptions{})
		if err != nil {
			return err
		}
		start := service.CommandsFor(n, service.Fast).Start
		res, err := h.Run(ctx, start, remote.RunOptions{Sudo: true})
		if err == nil {
			err = res.Err(h, "start")
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("%s: %w (its log: %s)", n.Name, err, *n.Server.Log.File)
		}
	}
	return nil
}

// Reader is the fleet reader of the demo's nodes: a supercluster's
// gateways and leaf connections read too.
func (c *Cluster) Reader() fleet.Reader {
	r := fleet.Reader{Monitor: &monitor.Client{}}
	if c.Supercluster() {
		r.Options = fleet.EstateOptions(c.Estate)
	}
	return r
}

// Snapshots reads every node's monitoring endpoint, routes named.
func (c *Cluster) Snapshots(ctx context.Context) fleet.Snapshots {
	return c.Reader().Read(ctx, c.Nodes(), nil)
}

// Ready is every reason a cluster of the demo is not healthy in snaps:
// health.ClusterReady, and for a supercluster health.EstateReady
// (gateways both ways, leaf connections), reasons about the whole
// cluster named "cluster NAME".
func (c *Cluster) Ready(snaps fleet.Snapshots) []health.Reason {
	if !c.Supercluster() {
		return health.ClusterReady(c.Inventory, snaps)
	}
	var out []health.Reason
	for _, inv := range c.Estate.Clusters {
		for _, r := range append(health.ClusterReady(inv, snaps), health.EstateReady(inv, snaps)...) {
			if r.Node == "cluster" {
				r.Node = "cluster " + inv.ClusterName()
			}
			out = append(out, r)
		}
	}
	return out
}

// WaitHealthy polls until every cluster is Ready, or timeout (then the
// reasons are the error).
func (c *Cluster) WaitHealthy(ctx context.Context, timeout, poll time.Duration) error {
	return c.waitHealthy(ctx, fleet.RealClock{}, c.Snapshots, timeout, poll, nil)
}

// waitHealthy is WaitHealthy on clk, reading with read and telling f (nil:
// nobody) what keeps the demo from being healthy, at least every
// progress.Every.
func (c *Cluster) waitHealthy(ctx context.Context, clk fleet.Clock, read func(context.Context) fleet.Snapshots, timeout, poll time.Duration, f progress.Func) error {
	what := "the cluster is"
	if c.Supercluster() {
		what = "the supercluster is"
	}
	w := progress.Start(f, clk.Now(), progress.Report{Waiting: "demo " + strings.TrimSuffix(strings.TrimPrefix(what, "the "), " is") + " healthy", Limit: timeout})
	var rs []health.Reason
	err := fleet.Until(ctx, clk, poll, timeout, func() (bool, error) {
		rs = c.Ready(read(ctx))
		if len(rs) > 0 {
			w.Tick(clk.Now(), health.Brief("", rs))
		}
		return len(rs) == 0, nil
	})
	if errors.Is(err, fleet.ErrTimeout) {
		msgs := make([]string, len(rs))
		for i, r := range rs {
			msgs[i] = r.String()
		}
		return fmt.Errorf("%s not healthy after %s: %s (node logs: %s)", what, timeout, strings.Join(msgs, "; "), filepath.Join(c.Dir, "*.log"))
	}
	return err
}

// Started returns every server pid the wrapper recorded, in start order.
func (c *Cluster) Started() []int {
	data, _ := os.ReadFile(filepath.Join(c.Dir, PIDs))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 && !slices.Contains(out, pid) {
			out = append(out, pid)
		}
	}
	return out
}

// candidates are the started pids and those in the pid files.
func (c *Cluster) candidates() []int {
	out := c.Started()
	for _, n := range c.Nodes() {
		data, _ := os.ReadFile(*n.Server.PidFile)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && !slices.Contains(out, pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Running returns the pids of this demo's servers still running.
func (c *Cluster) Running() []int {
	var out []int
	for _, pid := range c.candidates() {
		if Ours(pid, c.Dir) {
			out = append(out, pid)
		}
	}
	return out
}

// Ours reports whether pid is a running (not exited, not a zombie)
// process whose command line names dir: a demo server, not another
// process that took a recycled pid.
func Ours(pid int, dir string) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-o", "args=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return false
	}
	line := strings.TrimSpace(string(out))
	return line != "" && !strings.HasPrefix(line, "Z") && strings.Contains(line, dir)
}

// Alive reports whether pid is a running process (a zombie has exited).
func Alive(pid int) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	s := strings.TrimSpace(string(out))
	return err == nil && s != "" && !strings.HasPrefix(s, "Z")
}

// Stop ends every server of this demo: SIGTERM (nats-server shuts down at
// once), then SIGKILL for any still running after grace (one in lame
// duck ignores SIGTERM). It returns the pids it signalled. A start in
// flight records its pid before it execs, so Stop looks again until no
// server of the demo runs.
func (c *Cluster) Stop(grace time.Duration) ([]int, error) {
	return c.StopReporting(grace, nil)
}

// StopReporting is Stop telling f (nil: nobody), at least every
// progress.Every, which servers it still waits for.
func (c *Cluster) StopReporting(grace time.Duration, f progress.Func) ([]int, error) {
	clk := fleet.RealClock{}
	ours := func(pid int) bool { return Ours(pid, c.Dir) }
	var signalled []int
	for round := 0; round < 3; round++ {
		pids := c.Running()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			if !slices.Contains(signalled, pid) {
				signalled = append(signalled, pid)
			}
		}
		if left := waitGone(clk, pids, ours, grace, progress.Start(f, clk.Now(), progress.Report{Waiting: "demo servers exiting (SIGTERM)", Limit: grace})); len(left) > 0 {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			waitGone(clk, left, ours, 5*time.Second, progress.Start(f, clk.Now(), progress.Report{Waiting: "demo servers exiting (SIGKILL)", Limit: 5 * time.Second}))
		}
		_ = clk.Sleep(context.Background(), 100*time.Millisecond)
	}
	if left := c.Running(); len(left) > 0 {
		return signalled, fmt.Errorf("demo servers still running after SIGKILL: pids %v", left)
	}
	return signalled, nil
}

// waitGone polls, on clk, until none of pids is ours any more or d has
// passed, telling w which are left; it returns those.
func waitGone(clk fleet.Clock, pids []int, ours func(pid int) bool, d time.Duration, w *progress.Waiter) []int {
	deadline := clk.Now().Add(d)
	for {
		var left []int
		for _, pid := range pids {
			if ours(pid) {
				left = append(left, pid)
			}
		}
		now := clk.Now()
		if len(left) == 0 || now.After(deadline) {
			return left
		}
		w.Tick(now, fmt.Sprintf("%s still running (pids %s)", text.Plural(len(left), "server"), joinPIDs(left)))
		_ = clk.Sleep(context.Background(), 20*time.Millisecond)
	}
}

// joinPIDs is pids as "1, 2".
func joinPIDs(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// Remove deletes the demo directory (only a demo's: it must hold Marker).
func (c *Cluster) Remove() error {
	if _, err := os.Stat(filepath.Join(c.Dir, Marker)); err != nil {
		return fmt.Errorf("not removing %s: no %s in it", c.Dir, Marker)
	}
	return os.RemoveAll(c.Dir)
}

// NotRunning names the nodes whose server process (from its pid file)
// is not running, with the pid: exited, crashed or killed.
func (c *Cluster) NotRunning() map[string]int {
	out := map[string]int{}
	for _, n := range c.Nodes() {
		data, _ := os.ReadFile(*n.Server.PidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid <= 0 || !Ours(pid, c.Dir) {
			out[n.Name] = pid
		}
	}
	return out
}

// Logs returns the last lines of a node's log (for failures).
func (c *Cluster) Logs(n *cluster.Node, lines int) string {
	data, _ := os.ReadFile(*n.Server.Log.File)
	ls := strings.Split(strings.TrimRight(string(bytes.TrimSpace(data)), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
