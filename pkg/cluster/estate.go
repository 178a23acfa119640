package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/natsops/natsops/internal/text"
)

// Defaults for the supercluster listeners, nats-server's own.
const (
	DefaultGatewayPort  = 7222
	DefaultLeafNodePort = 7422
)

// Estate is one inventory file with every cluster it describes. A file
// with today's single [cluster] and [[node]] tables is an estate of one
// cluster that means exactly what it always meant; a file with
// [[clusters]] describes several, joined by gateways and leaf nodes,
// sharing its accounts. Settings merge estate -> cluster -> node.
type Estate struct {
	Path string
	Dir  string
	File File
	// Clusters in file order, each a checked single-cluster inventory.
	Clusters []*Inventory
	// Multi: the file has [[clusters]] (cluster names are then required
	// and problems name the cluster).
	Multi bool
}

// LoadEstate reads and checks the inventory at path with every cluster.
func LoadEstate(path string) (*Estate, error) {
	data, err := ReadBounded(path, MaxInventoryBytes)
	if err != nil {
		hint := "pass the inventory with -i FILE or NATSOPS_INVENTORY, or create one with `natsops init`"
		// A missing or forbidden file is an I/O error; one natsops will
		// not read (a device, a FIFO, too large) is a bad inventory.
		io := errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
		return nil, &InventoryError{IO: io, Problems: []Problem{{File: path, Msg: "cannot read inventory: " + err.Error(), Fix: hint}}}
	}
	return ParseEstate(path, data)
}

// ParseEstate checks inventory data with every cluster it describes;
// nothing is returned when any cluster has a problem.
func ParseEstate(path string, data []byte) (*Estate, error) {
	loc := newLocator(data)
	if ps := loc.bareDurations(path); len(ps) > 0 {
		return nil, &InventoryError{Problems: ps}
	}
	est := &Estate{Path: path, Dir: filepath.Dir(path)}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&est.File); err != nil {
		return nil, &InventoryError{Problems: decodeProblems(path, err)}
	}
	f := &est.File
	var problems []Problem
	if len(f.Clusters) == 0 {
		est.Clusters = []*Inventory{{Path: path, Dir: est.Dir, File: *f, loc: loc, Estate: est}}
	} else {
		est.Multi = true
		problems = append(problems, est.checkShape(loc)...)
		for i := range f.Clusters {
			est.Clusters = append(est.Clusters, &Inventory{Path: path, Dir: est.Dir, File: mergeCluster(f, &f.Clusters[i]), loc: loc.view(fmt.Sprintf("clusters[%d]", i)), Estate: est, index: i})
		}
	}
	for _, inv := range est.Clusters {
		inv.resolveNodes()
		c := &checker{inv: inv}
		c.check()
		for _, p := range c.problems {
			if est.Multi {
				p.Cluster = inv.ClusterName()
			}
			problems = append(problems, p)
		}
	}
	problems = append(problems, est.check()...)
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		return nil, &InventoryError{Problems: problems}
	}
	for _, inv := range est.Clusters {
		all := inv.Nodes
		inv.Nodes = nil
		for _, n := range all {
			if n.Remove {
				inv.Removed = append(inv.Removed, n)
			} else {
				inv.Nodes = append(inv.Nodes, n)
			}
		}
	}
	return est, nil
}

// checkShape refuses an estate file's tables that only a single-cluster
// file has.
func (est *Estate) checkShape(loc *locator) []Problem {
	f := &est.File
	var out []Problem
	add := func(key, msg, fix string) {
		line, col := loc.find(key, key+"[0]")
		out = append(out, Problem{File: est.Path, Line: line, Col: col, Key: key, Msg: msg, Fix: fix})
	}
	if len(f.Nodes) > 0 {
		add("node", "a file with [[clusters]] lists each cluster's nodes under it", "write the nodes as [[clusters.node]] after their [[clusters]] entry")
	}
	if f.Cluster.Name != nil {
		add("cluster.name", "a file with [[clusters]] names each cluster in its entry; [cluster] holds only the defaults they share", "move the name to its [[clusters]] entry")
	}
	if f.LeafNodes != nil {
		add("leafnodes", "a file with [[clusters]] sets leaf nodes per cluster: hubs listen, leaf clusters dial", "move it to [clusters.leafnodes] of the cluster it belongs to")
	}
	return out
}

// mergeCluster is cluster entry e's settings over the estate's: the
// single-cluster file the cluster would be on its own.
func mergeCluster(f *File, e *ClusterEntry) File {
	cf := File{Accounts: f.Accounts, Nodes: e.Nodes, LeafNodes: e.LeafNodes}
	overlay(&cf.Cluster, &f.Cluster)
	overlay(&cf.Cluster, &ClusterSpec{Name: e.Name, Port: e.Port, ListenHost: e.ListenHost, PoolSize: e.PoolSize, User: e.User, Password: e.Password, TLS: e.TLS})
	overlay(&cf.SSH, &f.SSH)
	overlay(&cf.SSH, &e.SSH)
	overlay(&cf.Service, &f.Service)
	overlay(&cf.Service, &e.Service)
	overlay(&cf.Server, &f.Server)
	overlay(&cf.Server, &e.Server)
	overlay(&cf.JetStream, &f.JetStream)
	overlay(&cf.JetStream, &e.JetStream)
	overlay(&cf.Tune, &f.Tune)
	overlay(&cf.Tune, &e.Tune)
	if f.Gateway != nil || e.Gateway != nil {
		cf.Gateway = &GatewaySpec{}
		if f.Gateway != nil {
			overlay(cf.Gateway, f.Gateway)
		}
		if e.Gateway != nil {
			overlay(cf.Gateway, e.Gateway)
		}
	}
	return cf
}

// Names are the clusters' names in file order ("" for an unnamed single
// cluster).
func (est *Estate) Names() []string {
	out := make([]string, len(est.Clusters))
	for i, c := range est.Clusters {
		out[i] = c.ClusterName()
	}
	return out
}

// Cluster is the cluster of that name, or nil.
func (est *Estate) Cluster(name string) *Inventory {
	for _, c := range est.Clusters {
		if c.ClusterName() == name {
			return c
		}
	}
	return nil
}

// Select returns the clusters matching --cluster patterns (names or
// globs) in file order; no patterns select all. A pattern matching no
// cluster is an error.
func (est *Estate) Select(patterns []string) ([]*Inventory, error) {
	if len(patterns) == 0 {
		return est.Clusters, nil
	}
	matched := map[*Inventory]bool{}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--cluster %q is not a valid pattern: %v", p, err)
		}
		hit := false
		for _, c := range est.Clusters {
			if ok, _ := path.Match(p, c.ClusterName()); ok {
				hit, matched[c] = true, true
			}
		}
		if !hit {
			return nil, fmt.Errorf("--cluster %q matches no cluster in %s (clusters: %s)", p, est.Path, strings.Join(est.Names(), ", "))
		}
	}
	var out []*Inventory
	for _, c := range est.Clusters {
		if matched[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// ClusterName is the cluster's name ("" when a single-cluster file gives
// none).
func (inv *Inventory) ClusterName() string { return deref(inv.File.Cluster.Name, "") }

// IsLeaf reports whether the cluster is a leaf cluster: it dials hubs.
func (inv *Inventory) IsLeaf() bool {
	return inv.File.LeafNodes != nil && len(inv.File.LeafNodes.Remotes) > 0
}

// HasGateway reports whether the cluster's nodes run a gateway: [gateway]
// is set for it and it is not a leaf cluster.
func (inv *Inventory) HasGateway() bool { return inv.File.Gateway != nil && !inv.IsLeaf() }

// LeafListens reports whether the cluster's nodes accept leaf node
// connections (a hub).
func (inv *Inventory) LeafListens() bool {
	l := inv.File.LeafNodes
	return l != nil && (l.Port != nil || len(l.Users) > 0 || l.TLS != nil)
}

// GatewayRemote is another cluster a gateway dials: its name and nodes.
type GatewayRemote struct {
	Name  string
	Nodes []*Node
}

// GatewayRemotes are every other cluster of the estate that runs a
// gateway, in file order: what each of inv's nodes dials (never itself).
func (inv *Inventory) GatewayRemotes() []GatewayRemote {
	if !inv.HasGateway() || inv.Estate == nil {
		return nil
	}
	var out []GatewayRemote
	for _, c := range inv.Estate.Clusters {
		// By name: inv may be a copy (WithRemoved, Without).
		if c.ClusterName() == inv.ClusterName() || !c.HasGateway() {
			continue
		}
		out = append(out, GatewayRemote{Name: c.ClusterName(), Nodes: c.Nodes})
	}
	return out
}

// GatewayAddr is where the node's gateway is dialled (route host and
// gateway port).
func (n *Node) GatewayAddr() string {
	return net.JoinHostPort(n.RouteHost, strconv.Itoa(deref(n.Gateway.Port, DefaultGatewayPort)))
}

// LeafAddr is where the node accepts leaf node connections.
func (n *Node) LeafAddr() string {
	return net.JoinHostPort(n.RouteHost, strconv.Itoa(deref(n.LeafNodes.Port, DefaultLeafNodePort)))
}

// Hub is the cluster a leaf remote dials, or nil.
func (inv *Inventory) Hub(r LeafRemoteSpec) *Inventory {
	if inv.Estate == nil {
		return nil
	}
	return inv.Estate.Cluster(r.Hub)
}

// AccountNames are the estate's accounts, sorted.
func (inv *Inventory) AccountNames() []string { return text.SortedKeys(inv.File.Accounts) }

// resolveListeners sets the node's gateway and leaf node port and listen
// host when its cluster runs them.
func (inv *Inventory) resolveListeners(n *Node, ns *NodeSpec) {
	f := &inv.File
	if g := f.Gateway; g != nil && inv.HasGateway() {
		n.Gateway.Port = orDefault(ns.Gateway.Port, deref(g.Port, DefaultGatewayPort))
		n.Gateway.ListenHost = orDefault(ns.Gateway.ListenHost, deref(g.ListenHost, *n.Server.ListenHost))
	}
	if l := f.LeafNodes; l != nil && inv.LeafListens() {
		n.LeafNodes.Port = orDefault(ns.LeafNodes.Port, deref(l.Port, DefaultLeafNodePort))
		n.LeafNodes.ListenHost = orDefault(ns.LeafNodes.ListenHost, deref(l.ListenHost, *n.Server.ListenHost))
	}
}
