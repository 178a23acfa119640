// Package cluster is the inventory: one TOML file describing a NATS cluster
// and its hosts, loaded strictly (unknown keys, wrong types and bad values
// refused with file:line:col and the fix), checked as a whole (duplicates,
// port clashes, contradictions), and resolved into nodes whose per-node
// overrides are merged over the cluster-wide settings.
//
// It owns the model and nothing else: it reads the inventory and its
// secret files, never a template, a host or a monitoring endpoint.
// Rendering and validating configs is pkg/config, judging health is
// pkg/health; both take their nodes from here.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// Defaults used when the inventory does not say otherwise. They follow
// nats-server's own defaults and Debian's nats-server package layout.
const (
	DefaultClientPort  = 4222
	DefaultHTTPPort    = 8222
	DefaultClusterPort = 6222
	DefaultListenHost  = "0.0.0.0"
	DefaultUnit        = "nats-server"
	DefaultConfigPath  = "/etc/nats-server.conf"
	DefaultBinary      = "nats-server"
	DefaultServiceUser = "nats"
)

// Inventory is a loaded, checked inventory with its nodes resolved: every
// per-node override merged over the cluster-wide settings.
type Inventory struct {
	Path string
	Dir  string
	File File
	// Nodes are the cluster's nodes; Removed the nodes marked remove =
	// true, leaving it (not rendered, no routes to them).
	Nodes   []*Node
	Removed []*Node
	// Estate is every cluster of the file (a single-cluster file's has
	// this one); gateways and leaf remotes are rendered from it.
	Estate *Estate

	loc   *locator
	index int // the cluster's [[clusters]] entry
}

// Node is one server with its effective settings.
type Node struct {
	Index      int
	Name       string
	Host       string
	RouteHost  string
	Connection string // "ssh" or "local"
	Tags       []string
	SSH        SSHSpec
	Service    Service
	Server     ServerSpec
	Cluster    NodeClusterSpec // effective port and listen host
	// Gateway and LeafNodes are the node's gateway and leaf node listener
	// (port and listen host) when its cluster runs them, else empty.
	Gateway   NodeListenSpec
	LeafNodes NodeListenSpec
	JetStream JetStreamSpec
	// Remove: the node leaves the cluster (it is in Inventory.Removed).
	Remove bool
}

// Service is a node's resolved service settings.
type Service struct {
	Manager      string `json:"manager"`
	Unit         string `json:"unit,omitempty"`
	ConfigPath   string `json:"config_path"`
	Binary       string `json:"binary"`
	User         string `json:"user"`
	StartCommand string `json:"start_command,omitempty"`
	NATSVersion  string `json:"nats_version,omitempty"`
	// Install is "package" or "binary" (see ServiceSpec.Install).
	Install      string `json:"install"`
	BinarySource string `json:"binary_source,omitempty"`
	// BinarySHA256 is lower-case hex.
	BinarySHA256 string `json:"binary_sha256,omitempty"`
	// GoMemLimit is GOMEMLIMIT as written ("" when unset).
	GoMemLimit string `json:"gomemlimit,omitempty"`
}

// Install modes (service.install).
const (
	InstallPackage = "package"
	InstallBinary  = "binary"
)

// UnitName is the systemd unit with its ".service" suffix (service.unit
// may leave it off), or "" when there is none.
func (s Service) UnitName() string {
	if s.Unit == "" || strings.HasSuffix(s.Unit, ".service") {
		return s.Unit
	}
	return s.Unit + ".service"
}

// Load reads and checks the inventory at path: one cluster (a file of
// several is refused naming them, as Parse does).
func Load(path string) (*Inventory, error) {
	est, err := LoadEstate(path)
	if err != nil {
		return nil, err
	}
	return est.Single()
}

// Parse checks inventory data; path names it in errors and anchors relative
// paths. A file describing several clusters ([[clusters]]) is refused
// here, naming them: commands that work on one cluster take it from
// ParseEstate and --cluster.
func Parse(path string, data []byte) (*Inventory, error) {
	est, err := ParseEstate(path, data)
	if err != nil {
		return nil, err
	}
	return est.Single()
}

// Single is the estate's only cluster, or an error naming them all.
func (est *Estate) Single() (*Inventory, error) {
	if len(est.Clusters) == 1 {
		return est.Clusters[0], nil
	}
	return nil, &InventoryError{Problems: []Problem{{File: est.Path,
		Msg: fmt.Sprintf("the inventory describes %d clusters (%s)", len(est.Clusters), strings.Join(est.Names(), ", ")),
		Fix: "pick one with --cluster NAME"}}}
}

// decodeProblems turns go-toml errors into problems with positions and the
// fix in words.
func decodeProblems(path string, err error) []Problem {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		out := make([]Problem, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			line, col := e.Position()
			key := strings.Join(e.Key(), ".")
			p := Problem{File: path, Line: line, Col: col, Key: key, Msg: "unknown key"}
			if s := suggestKey(e.Key()); s != "" {
				p.Fix = fmt.Sprintf("did you mean %q?", s)
			} else {
				p.Fix = "remove it; see `natsops init` for every supported key"
			}
			out = append(out, p)
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		p := Problem{File: path, Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: msg}
		p.Msg, p.Fix = explainDecode(msg)
		return []Problem{p}
	}
	return []Problem{{File: path, Msg: err.Error()}}
}

var typeMismatchRE = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)$`)

// explainDecode rewrites go-toml's type errors in the inventory's terms.
func explainDecode(msg string) (string, string) {
	m := typeMismatchRE.FindStringSubmatch(msg)
	if m == nil {
		return msg, ""
	}
	got, want := m[1], m[2]
	want = strings.TrimLeft(want, "*[]")
	switch {
	case strings.HasSuffix(want, "cluster.Duration"):
		return "a duration must be a quoted string, got a TOML " + got, `write it like "3s" or "2m" (a bare number is read as seconds by nats-server and is refused here)`
	case strings.HasSuffix(want, "cluster.Size"):
		return "a size must be an integer byte count or a quoted size, got a TOML " + got, `write it like 65536 or "64KB"`
	case strings.HasSuffix(want, "cluster.Secret"), want == "string":
		return "expected a string, got a TOML " + got, "quote the value"
	case strings.HasPrefix(want, "int"):
		return "expected an integer, got a TOML " + got, "write a whole number without quotes"
	case want == "bool":
		return "expected true or false, got a TOML " + got, "write true or false without quotes"
	}
	return fmt.Sprintf("expected %s, got a TOML %s", want, got), ""
}

// suggestKey returns the closest known key at the unknown key's level.
func suggestKey(key []string) string {
	t := reflect.TypeOf(File{})
	for _, part := range key[:len(key)-1] {
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
	}
	bad := key[len(key)-1]
	best, bestD := "", 4
	for i := 0; i < t.NumField(); i++ {
		tag := tomlName(t.Field(i))
		if d := editDistance(bad, tag); d < bestD || (strings.Contains(tag, bad) && len(bad) > 3 && bestD > 1) {
			best, bestD = tag, d
			if strings.Contains(tag, bad) {
				bestD = 1
			}
		}
	}
	if best == "" {
		return ""
	}
	return strings.Join(append(append([]string{}, key[:len(key)-1]...), best), ".")
}

// fieldType returns the Go type a dotted inventory key decodes into (array
// indices ignored), or nil for keys that do not exist.
func fieldType(path string) reflect.Type {
	t := reflect.TypeOf(File{})
	for _, part := range strings.Split(path, ".") {
		if i := strings.IndexByte(part, '['); i >= 0 {
			part = part[:i]
		}
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil
		}
		t = f.Type
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if tomlName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// resolveNodes merges each node's overrides over the cluster-wide settings
// and fills in defaults.
func (inv *Inventory) resolveNodes() {
	f := &inv.File
	inv.Nodes = make([]*Node, len(f.Nodes))
	for i, ns := range f.Nodes {
		n := &Node{
			Index:      i,
			Name:       ns.Name,
			Host:       ns.Host,
			RouteHost:  ns.RouteHost,
			Connection: ns.Connection,
			Tags:       ns.Tags,
			Remove:     ns.Remove,
		}
		overlay(&n.SSH, &f.SSH)
		overlay(&n.SSH, &ns.SSH)
		overlay(&n.Server, &f.Server)
		overlay(&n.Server, &ns.Server)
		overlay(&n.JetStream, &f.JetStream)
		overlay(&n.JetStream, &ns.JetStream)
		var svc ServiceSpec
		overlay(&svc, &f.Service)
		overlay(&svc, &ns.Service)

		if n.RouteHost == "" {
			n.RouteHost = n.Host
		}
		if n.Connection == "" {
			n.Connection = "ssh"
		}
		s := &n.Server
		s.ListenHost = orDefault(s.ListenHost, DefaultListenHost)
		s.Port = orDefault(s.Port, DefaultClientPort)
		if s.HTTPPort == nil && s.HTTPSPort == nil {
			s.HTTPPort = ptr(DefaultHTTPPort)
		}
		n.Cluster.Port = orDefault(ns.Cluster.Port, deref(f.Cluster.Port, DefaultClusterPort))
		n.Cluster.ListenHost = orDefault(ns.Cluster.ListenHost, deref(f.Cluster.ListenHost, *s.ListenHost))
		n.Service = Service{
			Manager:      deref(svc.Manager, "systemd"),
			Unit:         deref(svc.Unit, DefaultUnit),
			ConfigPath:   deref(svc.ConfigPath, DefaultConfigPath),
			Binary:       deref(svc.Binary, DefaultBinary),
			User:         deref(svc.User, DefaultServiceUser),
			StartCommand: deref(svc.StartCommand, ""),
			NATSVersion:  deref(svc.NATSVersion, ""),
			Install:      deref(svc.Install, InstallPackage),
			BinarySource: deref(svc.BinarySource, ""),
			BinarySHA256: strings.ToLower(deref(svc.BinarySHA256, "")),
			GoMemLimit:   deref(svc.GoMemLimit, ""),
		}
		inv.resolveListeners(n, &f.Nodes[i])
		inv.Nodes[i] = n
	}
}

// Clustered reports whether the nodes form a cluster (routes are rendered).
func (inv *Inventory) Clustered() bool { return len(inv.Nodes) > 1 }

// JetStreamEnabled reports whether the node runs JetStream.
func (n *Node) JetStreamEnabled() bool { return deref(n.JetStream.Enabled, false) }

// overlay copies every field set in src over dst. Structs (and pointers to
// structs) merge field by field; slices and maps are replaced whole.
func overlay[T any](dst, src *T) {
	overlayValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func overlayValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			overlayValue(dst.Field(i), src.Field(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if src.Elem().Kind() == reflect.Struct {
			if dst.IsNil() {
				dst.Set(reflect.New(src.Elem().Type()))
			}
			overlayValue(dst.Elem(), src.Elem())
			return
		}
		v := reflect.New(src.Elem().Type())
		v.Elem().Set(src.Elem())
		dst.Set(v)
	case reflect.Slice, reflect.Map:
		if !src.IsNil() {
			dst.Set(src)
		}
	default:
		if !src.IsZero() {
			dst.Set(src)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func orDefault[T any](p *T, def T) *T {
	if p == nil {
		return &def
	}
	return p
}

// Peers are the names of the other nodes of n's cluster: the routes n
// must have.
func (inv *Inventory) Peers(n *Node) []string {
	out := make([]string, 0, len(inv.Nodes)-1)
	for _, p := range inv.Nodes {
		if p != n {
			out = append(out, p.Name)
		}
	}
	return out
}

// ClientAddr is where a node's clients connect: its route address (the
// host its peers reach) and client port, as host:port.
func (n *Node) ClientAddr() string {
	return net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.Port))
}

// MonitorURL is where a node's monitoring endpoint is read: its route
// address (the host its peers reach) and http(s) port.
func (n *Node) MonitorURL() string {
	if p := n.Server.HTTPSPort; p != nil {
		return "https://" + net.JoinHostPort(n.RouteHost, strconv.Itoa(*p))
	}
	return "http://" + net.JoinHostPort(n.RouteHost, strconv.Itoa(*n.Server.HTTPPort))
}

// WithRemoved is inv with the leaving nodes back among its nodes: the
// cluster as it runs before a deploy takes them out.
func (inv *Inventory) WithRemoved() *Inventory {
	if len(inv.Removed) == 0 {
		return inv
	}
	out := *inv
	out.Nodes = append(append([]*Node(nil), inv.Nodes...), inv.Removed...)
	sort.SliceStable(out.Nodes, func(i, j int) bool { return out.Nodes[i].Index < out.Nodes[j].Index })
	return &out
}

// Without is inv without the named nodes (the cluster as it stands while
// new nodes have not joined yet): a shallow copy, the nodes kept as they
// are.
func (inv *Inventory) Without(names map[string]bool) *Inventory {
	if len(names) == 0 {
		return inv
	}
	out := *inv
	out.Nodes = nil
	for _, n := range inv.Nodes {
		if !names[n.Name] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return &out
}
