package cluster

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/natsops/natsops/internal/text"
)

// checker collects every inventory-level problem: the things TOML decoding
// cannot see (duplicates, clashes, missing fields, contradictions).
type checker struct {
	inv      *Inventory
	problems []Problem
}

func (c *checker) add(node, key string, paths []string, msg, fix string) {
	line, col := c.inv.loc.find(paths...)
	c.problems = append(c.problems, Problem{
		File: c.inv.Path, Line: line, Col: col, Node: node, Key: key, Msg: msg, Fix: fix,
	})
}

// nodeKey returns the locator paths for a setting that may be set on node i
// or cluster-wide.
func nodeKey(i int, key string) []string {
	return []string{fmt.Sprintf("node[%d].%s", i, key), key}
}

var (
	nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	sysctlRE   = regexp.MustCompile(`^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$`)
	subjectRE  = regexp.MustCompile(`^[^\s]+$`)
)

// ValidNodeName reports a name natsops accepts for a node (it becomes the
// node's server_name): letters, digits, '.', '_' or '-', starting with a
// letter or digit, at most 63 characters.
func ValidNodeName(name string) bool { return nodeNameRE.MatchString(name) }

// Kernel default for fs.nr_open: a LimitNOFILE above it makes systemd fail
// to start the service.
const defaultNrOpen = 1048576

func (c *checker) check() {
	inv := c.inv
	if len(inv.Nodes) == 0 {
		c.add("", "node", nil, "the inventory has no nodes", "add at least one [[node]] table with name and host")
		return
	}
	c.checkLimits()
	c.checkNodes()
	c.checkHosts()
	c.checkRemoved()
	c.checkPorts()
	c.checkCluster()
	c.checkTune()
	for _, n := range inv.Nodes {
		c.checkServer(n)
		c.checkHostValues(n)
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
}

func (c *checker) checkNodes() {
	first := map[string]int{}
	for i, n := range c.inv.Nodes {
		at := []string{fmt.Sprintf("node[%d].name", i), fmt.Sprintf("node[%d]", i)}
		switch {
		case n.Name == "":
			c.add("", fmt.Sprintf("node[%d].name", i), at, "node has no name", "give every [[node]] a unique name such as \"nats-1\"")
		case !nodeNameRE.MatchString(n.Name):
			c.add(n.Name, "name", at, "node name must be letters, digits, '.', '_' or '-' (it becomes the server_name)", "rename the node")
		}
		if j, dup := first[n.Name]; dup && n.Name != "" {
			line, _ := c.inv.loc.find(fmt.Sprintf("node[%d].name", j))
			c.add(n.Name, "name", at, fmt.Sprintf("duplicate node name (first defined at line %d)", line), "node names must be unique")
		} else {
			first[n.Name] = i
		}
		if strings.TrimSpace(n.Host) == "" {
			c.add(n.Name, "host", at, "node has no host", "set host to the address or ~/.ssh/config alias natsops connects to")
		}
		switch n.Connection {
		case "ssh", "local":
		default:
			c.add(n.Name, "connection", nodeKey(i, "connection"), fmt.Sprintf("unknown connection %q", n.Connection), `use "ssh" (default) or "local"`)
		}
		switch n.Service.Manager {
		case "systemd":
			if n.Service.Unit == "" {
				c.add(n.Name, "service.unit", nodeKey(i, "service.unit"), "systemd unit name is empty", "set service.unit, e.g. \"nats-server\"")
			}
		case "pidfile":
			if n.Server.PidFile == nil || *n.Server.PidFile == "" {
				c.add(n.Name, "server.pid_file", nodeKey(i, "service.manager"), "service manager \"pidfile\" needs server.pid_file", "set server.pid_file, e.g. \"/var/run/nats/nats.pid\"")
			}
		default:
			c.add(n.Name, "service.manager", nodeKey(i, "service.manager"), fmt.Sprintf("unknown service manager %q", n.Service.Manager), `use "systemd" or "pidfile"`)
		}
		if n.Service.ConfigPath == "" || !strings.HasPrefix(n.Service.ConfigPath, "/") && n.Connection == "ssh" {
			c.add(n.Name, "service.config_path", nodeKey(i, "service.config_path"), fmt.Sprintf("config path %q is not absolute", n.Service.ConfigPath), "use an absolute path on the node, e.g. /etc/nats-server.conf")
		}
		if v := n.Service.NATSVersion; v != "" {
			if _, ok := ParseVersion(v); !ok {
				c.add(n.Name, "service.nats_version", nodeKey(i, "service.nats_version"), fmt.Sprintf("%q is not a version", v), "write it like \"2.9.10\" (see `nats-server --version` on the node)")
			}
		}
		if hk := n.SSH.HostKeyChecking; hk != nil {
			switch *hk {
			case "strict", "accept-new", "insecure":
			default:
				c.add(n.Name, "ssh.host_key_checking", nodeKey(i, "ssh.host_key_checking"), fmt.Sprintf("unknown host_key_checking %q", *hk), `use "strict" (default), "accept-new" or, for throwaway labs only, "insecure"`)
			}
		}
		if p := n.SSH.Port; p != nil {
			c.checkPort(n, i, "ssh.port", *p)
		}
	}
}

// checkRemoved refuses taking a majority of the cluster out at once: one
// deploy removes fewer nodes than it keeps, so the JetStream meta group
// keeps its quorum while it shrinks.
func (c *checker) checkRemoved() {
	var removed []string
	var at []string
	for i, n := range c.inv.Nodes {
		if n.Remove {
			removed = append(removed, n.Name)
			at = append(at, fmt.Sprintf("node[%d].remove", i))
		}
	}
	if keep := len(c.inv.Nodes) - len(removed); len(removed) > 0 && len(removed) >= keep {
		c.add(strings.Join(removed, ","), "remove", at, fmt.Sprintf("removes %d of the %d nodes at once: the cluster would lose the quorum it needs while it shrinks", len(removed), len(c.inv.Nodes)), fmt.Sprintf("remove fewer nodes than stay (at most %d now), deploy, then remove the next", (len(c.inv.Nodes)-1)/2))
	}
}

func (c *checker) checkPort(n *Node, i int, key string, p int) {
	if p < 1 || p > 65535 {
		c.add(n.Name, key, nodeKey(i, key), fmt.Sprintf("port %d is out of range", p), "use a port between 1 and 65535")
	}
}

type listener struct {
	node, what string
	idx        int
}

// nodePort is one listener of a node: its inventory key and port.
type nodePort struct {
	key  string
	port *int
}

// ports are the listeners of node n of inv that the cluster's own
// settings open (client, monitoring, routes, websocket), in the order
// their clashes are reported.
func (inv *Inventory) ports(n *Node) []nodePort {
	s := n.Server
	ls := []nodePort{{"server.port", s.Port}, {"server.http_port", s.HTTPPort}, {"server.https_port", s.HTTPSPort}}
	if inv.Clustered() {
		ls = append(ls, nodePort{"cluster.port", n.Cluster.Port})
	}
	if s.Websocket != nil {
		ls = append(ls, nodePort{"server.websocket.port", s.Websocket.Port})
	}
	return ls
}

// checkPorts refuses two listeners on one port of one host: within a node,
// or between nodes that share a host.
func (c *checker) checkPorts() {
	byHost := map[string]map[int]listener{}
	for i, n := range c.inv.Nodes {
		host := strings.ToLower(n.Host)
		if byHost[host] == nil {
			byHost[host] = map[int]listener{}
		}
		for _, l := range c.inv.ports(n) {
			if l.port == nil {
				continue
			}
			if *l.port < 1 || *l.port > 65535 {
				c.checkPort(n, i, l.key, *l.port)
				continue
			}
			if prev, clash := byHost[host][*l.port]; clash {
				msg := fmt.Sprintf("port %d clashes with %s of node %s on host %s", *l.port, prev.what, prev.node, n.Host)
				if prev.idx == i {
					msg = fmt.Sprintf("port %d is also used by %s", *l.port, prev.what)
				}
				c.add(n.Name, l.key, nodeKey(i, l.key), msg, "give every listener on a host its own port (set it under [node.server] or [node.cluster])")
				continue
			}
			byHost[host][*l.port] = listener{node: n.Name, what: l.key, idx: i}
		}
	}
}

func (c *checker) checkCluster() {
	cl := c.inv.File.Cluster
	if cl.PoolSize != nil && (*cl.PoolSize < -1 || *cl.PoolSize == 0 || *cl.PoolSize > 64) {
		c.add("", "cluster.pool_size", []string{"cluster.pool_size"}, fmt.Sprintf("pool_size %d is not valid", *cl.PoolSize), "use 1..64, or -1 to disable route pooling")
	}
	hasUser := cl.User != nil && *cl.User != ""
	hasPass := cl.Password != nil && *cl.Password != ""
	if hasUser != hasPass {
		c.add("", "cluster", []string{"cluster.user", "cluster.password", "cluster"}, "route authentication needs both cluster.user and cluster.password", "set both, or neither")
	}
	if hasPass && cl.Password.Kind() == SecretLiteral && IsBcrypt(string(*cl.Password)) {
		c.add("", "cluster.password", []string{"cluster.password"}, "the route password cannot be a bcrypt hash: every node dials its peers with it", "use the plain password through env:NAME or file:PATH")
	}
	if cl.TLS != nil {
		c.checkTLS("", "cluster.tls", []string{"cluster.tls"}, cl.TLS)
	}
}

func (c *checker) checkTune() {
	t := c.inv.File.Tune
	nrOpen := int64(defaultNrOpen)
	for _, k := range text.SortedKeys(t.Sysctl) {
		v := t.Sysctl[k]
		at := []string{"tune.sysctl." + k, `tune.sysctl."` + k + `"`, "tune.sysctl"}
		if !sysctlRE.MatchString(k) {
			c.add("", "tune.sysctl", at, fmt.Sprintf("%q is not a sysctl name", k), "use the dotted name, e.g. \"fs.file-max\"")
			continue
		}
		switch x := v.(type) {
		case int64:
			if x < 0 {
				c.add("", "tune.sysctl."+k, at, fmt.Sprintf("negative value %d", x), "use a non-negative integer")
			}
			if k == "fs.nr_open" {
				nrOpen = x
			}
		case string:
			if strings.ContainsAny(x, "\n\r\x00") || strings.TrimSpace(x) == "" {
				c.add("", "tune.sysctl."+k, at, "value must be a single line", "write it like \"1024 65535\"")
			}
		default:
			c.add("", "tune.sysctl."+k, at, fmt.Sprintf("value has type %T", v), "use an integer or a string")
		}
	}
	if t.NoFile != nil {
		switch {
		case *t.NoFile < 1024:
			c.add("", "tune.nofile", []string{"tune.nofile"}, fmt.Sprintf("nofile %d is below the 1024 every process already gets", *t.NoFile), "use at least the expected connections plus headroom, e.g. 1024000")
		case *t.NoFile > nrOpen:
			c.add("", "tune.nofile", []string{"tune.nofile"}, fmt.Sprintf("nofile %d is above fs.nr_open (%d): the kernel refuses it and systemd will not start the service", *t.NoFile, nrOpen), fmt.Sprintf("add \"fs.nr_open\" = %d (or more) under [tune.sysctl], or lower nofile", *t.NoFile))
		}
	}
}

func (c *checker) checkTLS(node, key string, at []string, t *TLSSpec) {
	if t.CertFile == nil || t.KeyFile == nil || *t.CertFile == "" || *t.KeyFile == "" {
		c.add(node, key, at, "TLS needs both cert_file and key_file", "set both paths (as they are on the node)")
	}
}

func (c *checker) checkServer(n *Node) {
	i, s := n.Index, n.Server
	k := func(key string) []string { return nodeKey(i, key) }
	if s.MaxConnections != nil && *s.MaxConnections < 0 {
		c.add(n.Name, "server.max_connections", k("server.max_connections"), "max_connections is negative", "use a positive number; 0 rejects every client")
	}
	if s.PingMax != nil && *s.PingMax < 0 {
		c.add(n.Name, "server.ping_max", k("server.ping_max"), "ping_max is negative", "use a positive number (default 2)")
	}
	for _, z := range []struct {
		key string
		v   *Size
	}{{"server.max_payload", s.MaxPayload}, {"server.max_pending", s.MaxPending}, {"server.max_control_line", s.MaxControlLine}} {
		if z.v != nil && *z.v <= 0 {
			c.add(n.Name, z.key, k(z.key), "size must be positive", "remove it to use nats-server's default")
		}
	}
	if s.MaxPayload != nil && *s.MaxPayload > 64<<20 {
		c.add(n.Name, "server.max_payload", k("server.max_payload"), fmt.Sprintf("max_payload %s is above nats-server's hard limit of 64MB", *s.MaxPayload), "use at most \"8MB\"; send bigger data through JetStream object store")
	}
	if s.Log.MaxFiles != nil && *s.Log.MaxFiles < 0 {
		c.add(n.Name, "server.log.max_files", k("server.log.max_files"), "max_files is negative", "use 0 (keep all) or a positive count")
	}
	if s.HTTPSPort != nil && s.TLS == nil {
		c.add(n.Name, "server.https_port", k("server.https_port"), "https_port needs [server.tls] (monitoring uses the client TLS certificate)", "add [server.tls] with cert_file and key_file, or use http_port")
	}
	if s.TLS != nil {
		c.checkTLS(n.Name, "server.tls", k("server.tls"), s.TLS)
	}
	if w := s.Websocket; w != nil {
		if w.Port == nil {
			c.add(n.Name, "server.websocket.port", k("server.websocket"), "websocket needs a port", "set server.websocket.port, e.g. 8080")
		}
		if w.TLS == nil && !deref(w.NoTLS, false) {
			c.add(n.Name, "server.websocket", k("server.websocket"), "websocket needs TLS, or no_tls = true behind a TLS-terminating proxy", "add [server.websocket.tls] or set no_tls = true")
		}
		if w.TLS != nil {
			c.checkTLS(n.Name, "server.websocket.tls", k("server.websocket.tls"), w.TLS)
		}
	}
	if d := n.JetStream.Domain; d != nil && !accountNameRE.MatchString(*d) {
		c.add(n.Name, "jetstream.domain", k("jetstream.domain"), fmt.Sprintf("JetStream domain %q must be letters, digits, '_', '-' (nats-server refuses '.', '*', '>' and spaces: it becomes part of the $JS.<domain>.API subjects)", *d), "use a name such as \"edge\"")
	}
	if n.JetStreamEnabled() && n.JetStream.StoreDir != nil && !strings.HasPrefix(*n.JetStream.StoreDir, "/") && n.Connection == "ssh" {
		c.add(n.Name, "jetstream.store_dir", k("jetstream.store_dir"), "store_dir must be an absolute path on the node", "use e.g. /var/lib/nats/jetstream")
	}
	for j, tag := range s.Tags {
		switch {
		case strings.TrimSpace(tag) == "":
			c.add(n.Name, "server.tags", k("server.tags"), fmt.Sprintf("tag %d is empty", j+1), "remove it")
		case tag != strings.ToLower(strings.TrimSpace(tag)):
			// nats-server lower-cases and trims tags; placement rules written
			// against the inventory's spelling would silently not match.
			c.add(n.Name, "server.tags", k("server.tags"), fmt.Sprintf("tag %q would be changed to %q by nats-server", tag, strings.ToLower(strings.TrimSpace(tag))), "write tags in lower case without surrounding spaces")
		}
	}
	c.checkAuth(n)
}

func (c *checker) checkAuth(n *Node) {
	a := n.Server.Auth
	k := func(key string) []string { return nodeKey(n.Index, key) }
	single := a.User != nil || a.Password != nil
	kinds := 0
	for _, b := range []bool{single, a.Token != nil, len(a.Users) > 0} {
		if b {
			kinds++
		}
	}
	if kinds > 1 {
		c.add(n.Name, "server.auth", k("server.auth"), "use only one of: user+password, token, users", "nats-server refuses to combine them; move the single user into [[server.auth.users]]")
	}
	if single && (a.User == nil || *a.User == "" || a.Password == nil || *a.Password == "") {
		c.add(n.Name, "server.auth", k("server.auth"), "auth needs both user and password", "set both, or use [[server.auth.users]]")
	}
	if a.Token != nil {
		if *a.Token == "" {
			c.add(n.Name, "server.auth.token", k("server.auth.token"), "token is empty", "set it through env:NAME or file:PATH")
		}
	}
	if sys := a.SystemUser != nil || a.SystemPassword != nil; sys {
		switch {
		case a.SystemUser == nil || *a.SystemUser == "" || a.SystemPassword == nil || *a.SystemPassword == "":
			c.add(n.Name, "server.auth", k("server.auth.system_user"), "the system account needs both system_user and system_password", "set both, or neither")
		case single || a.Token != nil || len(a.Users) == 0:
			c.add(n.Name, "server.auth.system_user", k("server.auth.system_user"), "a system account goes with [[server.auth.users]]: nats-server refuses accounts next to a single user/password or a token, and once any user exists every client must log in", "list the clients in [[server.auth.users]]")
		case a.SystemPassword.Kind() == SecretLiteral && IsBcrypt(string(*a.SystemPassword)):
			c.add(n.Name, "server.auth.system_password", k("server.auth.system_password"), "the system password cannot be a bcrypt hash: natsops logs in with it", "use the plain password through env:NAME or file:PATH")
		}
		for _, u := range a.Users {
			if a.SystemUser != nil && u.User == *a.SystemUser {
				c.add(n.Name, "server.auth.system_user", k("server.auth.system_user"), fmt.Sprintf("user %q is both a client user and the system user", u.User), "give the system user its own name")
			}
		}
	}
	seen := map[string]bool{}
	for j, u := range a.Users {
		at := []string{fmt.Sprintf("node[%d].server.auth.users[%d]", n.Index, j), fmt.Sprintf("server.auth.users[%d]", j)}
		key := "server.auth.users[" + strconv.Itoa(j) + "]"
		switch {
		case u.NKey != "" && (u.User != "" || u.Password != ""):
			c.add(n.Name, key, at, "a user has either user+password or nkey, not both", "split it into two users")
		case u.NKey != "":
			if !nkeys.IsValidPublicUserKey(u.NKey) {
				c.add(n.Name, key+".nkey", at, "not a valid nkey user public key (it starts with U)", "generate one with `nk -gen user -pubout`")
			}
			if seen[u.NKey] {
				c.add(n.Name, key, at, "duplicate nkey", "list each nkey once")
			}
			seen[u.NKey] = true
		case u.User == "" || u.Password == "":
			c.add(n.Name, key, at, "user needs user and password (or an nkey)", "set both")
		default:
			if seen[u.User] {
				c.add(n.Name, key, at, fmt.Sprintf("duplicate user %q", u.User), "list each user once")
			}
			seen[u.User] = true
		}
		if p := u.Permissions; p != nil {
			for _, d := range []struct {
				dir string
				sp  *SubjectPerm
			}{{"publish", p.Publish}, {"subscribe", p.Subscribe}} {
				if d.sp == nil {
					continue
				}
				for _, subj := range append(append([]string{}, d.sp.Allow...), d.sp.Deny...) {
					if !subjectRE.MatchString(subj) {
						c.add(n.Name, key+".permissions."+d.dir, at, fmt.Sprintf("%q is not a subject", subj), "subjects have no spaces; use * and > as wildcards")
					}
				}
			}
		}
	}
}
