package ansible

import (
	"fmt"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/shlex"

	"github.com/natsops/natsops/pkg/cluster"
)

// Options say what to import.
type Options struct {
	// Group is the Ansible group whose hosts become the nodes.
	Group string
	// ClusterName overrides the cluster name (else nats_cluster_name when
	// every host agrees on one, else the group's name).
	ClusterName string
	// Out is the path the inventory will be written to ("-": stdout): it
	// names the result in the check and anchors relative paths.
	Out string
}

// Node is one imported host. From says, per natsops key, which Ansible
// variable (or what) the value came from.
type Node struct {
	Ansible      string            `json:"ansible_host_name"`
	Name         string            `json:"name"`
	Host         string            `json:"host"`
	RouteHost    string            `json:"route_host,omitempty"`
	Connection   string            `json:"connection,omitempty"`
	User         string            `json:"ssh_user,omitempty"`
	Port         int               `json:"ssh_port,omitempty"`
	IdentityFile string            `json:"ssh_identity_file,omitempty"`
	ProxyJump    string            `json:"ssh_proxy_jump,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	From         map[string]string `json:"from"`
	// Ignored are the host's variables natsops does not use, by name
	// (never their values), and the ssh options of its ssh args it
	// does not use.
	Ignored []string `json:"ignored"`
}

// Result is an import: the nodes, where the cluster name came from, and
// the commented TOML, already checked by pkg/cluster.
type Result struct {
	Group       string `json:"group"`
	Cluster     string `json:"cluster"`
	ClusterFrom string `json:"cluster_from"`
	Nodes       []Node `json:"nodes"`
	TOML        []byte `json:"-"`
}

// Ignored counts, per ignored variable name, the hosts that had it.
func (r *Result) Ignored() map[string]int {
	out := map[string]int{}
	for _, n := range r.Nodes {
		for _, v := range n.Ignored {
			out[v]++
		}
	}
	return out
}

const fixGroup = "pass the group of your NATS servers with --group"

// Import maps opts.Group's hosts to natsops nodes and writes the
// inventory. Every problem of every host is reported at once.
func Import(inv *Inventory, opts Options) (*Result, error) {
	hosts, ok := inv.Hosts(opts.Group)
	if !ok {
		return nil, &Error{Kind: KindNoGroup, Problems: []Problem{{
			Source: inv.Source, Group: opts.Group, Msg: "no such group in the inventory",
			Fix: "pass one of its groups with --group: " + strings.Join(printableAll(inv.Groups()), ", "),
		}}}
	}
	bad := func(ps ...Problem) error { return &Error{Kind: KindInvalid, Problems: ps} }
	if len(hosts) == 0 {
		what := "it has no hosts"
		if c := inv.groups[opts.Group].Children; len(c) > 0 {
			what = fmt.Sprintf("neither it nor its children (%s) have hosts", strings.Join(printableAll(c), ", "))
		}
		return nil, bad(Problem{Source: inv.Source, Group: opts.Group, Msg: "the group is empty: " + what, Fix: "add the NATS hosts to it in the Ansible inventory, or " + fixGroup})
	}
	if len(hosts) > cluster.MaxNodes {
		return nil, bad(Problem{Source: inv.Source, Group: opts.Group, Msg: fmt.Sprintf("%d hosts: one natsops inventory takes at most %d nodes", len(hosts), cluster.MaxNodes), Fix: "import each cluster's own group (a child group) on its own"})
	}
	res := &Result{Group: opts.Group}
	var problems []Problem
	for _, h := range hosts {
		n, ps := mapHost(inv, h)
		for i := range ps {
			ps[i].Source, ps[i].Host = inv.Source, h
			if h == "" {
				ps[i].Host = `""` // an empty inventory hostname, still named
			}
		}
		problems = append(problems, ps...)
		res.Nodes = append(res.Nodes, n)
	}
	problems = append(problems, clashes(inv.Source, res.Nodes)...)
	name, from, ps := clusterName(inv, opts, res.Nodes)
	problems = append(problems, ps...)
	if len(problems) > 0 {
		return nil, bad(problems...)
	}
	res.Cluster, res.ClusterFrom = name, from
	res.TOML = res.write(inv.Source)
	out := opts.Out
	if out == "" || out == "-" {
		out = "imported.toml"
	}
	if _, err := cluster.Parse(out, res.TOML); err != nil {
		// A value got past the checks above that natsops refuses: say so
		// rather than write an inventory that does not load.
		return nil, bad(Problem{Source: inv.Source, Group: opts.Group, Msg: fmt.Sprintf("the imported inventory does not load: %v", err), Fix: "fix those values in the Ansible inventory"})
	}
	return res, nil
}

// clashes: two hosts that would be one node name, or one address (natsops
// gives every imported node the same ports, so two on one host clash).
func clashes(source string, nodes []Node) []Problem {
	var ps []Problem
	names, addrs := map[string]string{}, map[string]string{}
	for _, n := range nodes {
		if n.Name != "" {
			if prev, dup := names[n.Name]; dup {
				ps = append(ps, Problem{Source: source, Host: n.Ansible, Msg: fmt.Sprintf("its node name %s is also host %s's", printable(n.Name), printable(prev)), Fix: "give one of them its own name with the host variable nats_server_name"})
			} else {
				names[n.Name] = n.Ansible
			}
		}
		if n.Host != "" {
			key := strings.ToLower(strings.Trim(n.Host, "[]"))
			if prev, dup := addrs[key]; dup {
				ps = append(ps, Problem{Source: source, Host: n.Ansible, Msg: fmt.Sprintf("has the same address %s as host %s: natsops would run both nodes on one machine with the same ports", printable(n.Host), printable(prev)), Fix: "give each host its own ansible_host; two nodes on one machine need their own ports, set by hand under [node.server] and [node.cluster] after importing one"})
			} else {
				addrs[key] = n.Ansible
			}
		}
	}
	return ps
}

// clusterName: --cluster-name, else the nats_cluster_name every host
// agrees on, else the group's name.
func clusterName(inv *Inventory, opts Options, nodes []Node) (name, from string, ps []Problem) {
	problem := func(msg, fix string) []Problem {
		return []Problem{{Source: inv.Source, Group: opts.Group, Msg: msg, Fix: fix}}
	}
	if opts.ClusterName != "" {
		if !cluster.ValidNodeName(opts.ClusterName) {
			return "", "", problem(fmt.Sprintf("--cluster-name %q is not a cluster name", opts.ClusterName), "use letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		return opts.ClusterName, "--cluster-name", nil
	}
	seen := map[string][]string{}
	for _, n := range nodes {
		if v := n.From["cluster"]; v != "" {
			seen[v] = append(seen[v], n.Ansible)
		}
	}
	switch len(seen) {
	case 0:
		name, from = opts.Group, "the group's name"
		if !cluster.ValidNodeName(name) {
			return "", "", problem("the group's name is not a cluster name", "name the cluster with --cluster-name")
		}
		return name, from, nil
	case 1:
		for v, hs := range seen {
			if len(hs) != len(nodes) {
				return "", "", problem(fmt.Sprintf("nats_cluster_name %s is set on %d of the %d hosts", printable(v), len(hs), len(nodes)), "set it on every host of the group (a group var), or name the cluster with --cluster-name")
			}
			if !cluster.ValidNodeName(v) {
				return "", "", problem(fmt.Sprintf("nats_cluster_name %q is not a cluster name", v), "use letters, digits, '.', '_' or '-', or name the cluster with --cluster-name")
			}
			return v, "nats_cluster_name", nil
		}
	}
	var vs []string
	for v, hs := range seen {
		vs = append(vs, fmt.Sprintf("%s (%s)", printable(v), strings.Join(printableAll(hs), ", ")))
	}
	sort.Strings(vs)
	return "", "", problem("the hosts disagree on nats_cluster_name: "+strings.Join(vs, "; "), "one natsops inventory is one cluster: import each cluster's group on its own, or name it with --cluster-name")
}

// mapHost maps one Ansible host. Problems carry no source or host (the
// caller adds them).
func mapHost(inv *Inventory, h string) (Node, []Problem) {
	vars := inv.Vars(h)
	n := Node{Ansible: h, From: map[string]string{}}
	used := map[string]bool{}
	var ps []Problem
	add := func(msg, fix string) { ps = append(ps, Problem{Msg: msg, Fix: fix}) }
	// str reads a string variable; the later names win, as in Ansible's
	// ssh connection plugin (ansible_ssh_host over ansible_host).
	str := func(names ...string) (value, name string, set bool) {
		for _, v := range names {
			x, ok := vars[v]
			if !ok {
				continue
			}
			used[v] = true
			switch s := x.(type) {
			case string:
				value, name, set = s, v, true
			case float64:
				value, name, set = strconv.FormatFloat(s, 'f', -1, 64), v, true
			default:
				add(fmt.Sprintf("%s is a %s, not a string", v, jsonType(x)), "set it to a string in the Ansible inventory")
			}
		}
		return value, name, set
	}

	// Connection.
	if c, v, set := str("ansible_connection"); set {
		switch c {
		case "ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.legacy.ssh", "":
			n.From["connection"] = v
		case "local", "ansible.builtin.local", "ansible.legacy.local":
			n.Connection, n.From["connection"] = "local", v
		default:
			add(fmt.Sprintf("ansible_connection is %s: natsops reaches hosts over SSH or runs locally", printable(c)), "import only hosts Ansible reaches over ssh (or local), or leave this host out of the group")
		}
	}

	// Address.
	if a, v, set := str("ansible_host", "ansible_ssh_host"); set {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			add(v+" is empty: the host has no address", "set "+v+" to the host's IP address or DNS name")
		case !cluster.ValidHost(a):
			add(fmt.Sprintf("%s %q is not a host name or an IP address", v, a), "set "+v+" to the host's IP address or DNS name")
		default:
			n.Host, n.From["host"] = a, v
		}
	} else if cluster.ValidHost(h) {
		n.Host, n.From["host"] = h, "the inventory hostname (no ansible_host)"
	} else {
		add("the host has no address: no ansible_host, and its inventory name is not a host name or an IP address", "set ansible_host for it in the Ansible inventory")
	}

	// SSH.
	if p, v, set := str("ansible_port", "ansible_ssh_port"); set {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || port < 1 || port > 65535 {
			add(fmt.Sprintf("%s %q is not a port", v, p), "set it to the SSH port, 1..65535")
		} else {
			n.Port, n.From["ssh.port"] = port, v
		}
	}
	if u, v, set := str("ansible_user", "ansible_ssh_user"); set {
		switch {
		case strings.TrimSpace(u) == "" || cluster.HasControl(u) || strings.ContainsAny(u, " @"):
			add(fmt.Sprintf("%s %q is not a user name", v, u), "set it to the SSH login name")
		default:
			n.User, n.From["ssh.user"] = u, v
		}
	}
	if k, v, set := str("ansible_ssh_private_key_file", "ansible_private_key_file"); set {
		if k == "" || cluster.HasControl(k) {
			add(fmt.Sprintf("%s %q is not a path", v, k), "set it to the private key's path on this machine")
		} else {
			n.IdentityFile, n.From["ssh.identity_file"] = k, v
			if !path.IsAbs(k) && !strings.HasPrefix(k, "~") {
				n.From["ssh.identity_file"] += " (relative: natsops reads it from the inventory's directory)"
			}
		}
	}
	var ignoredOpts []string
	for _, v := range []string{"ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		args, _, set := str(v)
		if !set || strings.TrimSpace(args) == "" {
			continue
		}
		jump, via, others, err := proxyFromArgs(args)
		if err != nil {
			add(fmt.Sprintf("%s: %v", v, err), "natsops follows ProxyJump (-J host, -o ProxyJump=host) and -o ProxyCommand=\"ssh -W %h:%p host\": write the proxy that way, or set ProxyJump for the host in ~/.ssh/config")
			continue
		}
		for _, o := range others {
			ignoredOpts = append(ignoredOpts, v+" "+o)
		}
		if jump == "" || n.From["ssh.proxy_jump"] != "" {
			continue // ssh: the first value given wins
		}
		if jump != "none" {
			if msg := jumpProblem(jump); msg != "" {
				add(fmt.Sprintf("%s: %s %q: %s", v, via, jump, msg), "use [user@]host[:port], comma-separated for several jump hosts")
				continue
			}
		}
		n.ProxyJump, n.From["ssh.proxy_jump"] = jump, v+" "+via
	}
	if n.ProxyJump == "none" {
		n.ProxyJump = ""
		delete(n.From, "ssh.proxy_jump")
	}

	// natsops's own variables.
	if s, v, set := str("nats_server_name"); set {
		if !cluster.ValidNodeName(s) {
			add(fmt.Sprintf("nats_server_name %q is not a natsops node name", s), "use letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters")
		} else {
			n.Name, n.From["name"] = s, v
		}
	} else if cluster.ValidNodeName(h) {
		n.Name, n.From["name"] = h, "the inventory hostname"
	} else if m := nodeName(h); m != "" {
		n.Name, n.From["name"] = m, fmt.Sprintf("the inventory hostname %s, made a node name (set nats_server_name to choose it)", printable(h))
	} else {
		add("its inventory name cannot be made a node name", "set the host variable nats_server_name to a name of letters, digits, '.', '_' or '-'")
	}
	if c, _, set := str("nats_cluster_name"); set {
		n.From["cluster"] = c // the value: clusterName checks the hosts agree
	}
	if r, v, set := str("nats_route_host"); set {
		if !cluster.ValidHost(r) {
			add(fmt.Sprintf("nats_route_host %q is not a host name or an IP address", r), "set it to the address the other nodes reach this one at")
		} else if r != n.Host {
			n.RouteHost, n.From["route_host"] = r, v
		}
	}
	if t, ok := vars["nats_tags"]; ok {
		used["nats_tags"] = true
		tags, msg := tagList(t)
		if msg != "" {
			add("nats_tags "+msg, "write it as a list of lower-case strings, e.g. [\"zone-a\"]")
		} else {
			n.Tags, n.From["tags"] = tags, "nats_tags"
		}
	}

	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !used[k] {
			n.Ignored = append(n.Ignored, k)
		}
	}
	n.Ignored = append(n.Ignored, ignoredOpts...)
	return n, ps
}

// nodeName makes an inventory hostname a node name: every character
// natsops does not allow becomes '-', leading ones dropped, 63 at most.
func nodeName(h string) string {
	var b strings.Builder
	for _, r := range h {
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "._-")
	if len(s) > 63 {
		s = s[:63]
	}
	if !cluster.ValidNodeName(s) {
		return ""
	}
	return s
}

func tagList(v any) ([]string, string) {
	var raw []any
	switch x := v.(type) {
	case []any:
		raw = x
	case string:
		for _, s := range strings.Split(x, ",") {
			raw = append(raw, strings.TrimSpace(s))
		}
	default:
		return nil, fmt.Sprintf("is a %s, not a list", jsonType(v))
	}
	var tags []string
	for _, r := range raw {
		s, ok := r.(string)
		switch {
		case !ok:
			return nil, fmt.Sprintf("has a %s, not a string", jsonType(r))
		case s == "":
			continue
		case s != strings.ToLower(strings.TrimSpace(s)) || cluster.HasControl(s):
			return nil, fmt.Sprintf("tag %q would be changed by nats-server (it lower-cases and trims tags)", s)
		case !tagRE.MatchString(s):
			return nil, fmt.Sprintf("tag %q is not a tag (a list written as a string in an INI [group:vars] section?)", s)
		}
		tags = append(tags, s)
	}
	return tags, ""
}

// tagRE: what placement tags are made of ("zone-a", "az:us-east-1a").
var tagRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._:=/-]*$`)

var hopUserRE = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)

// jumpProblem checks a ProxyJump list the way natsops's SSH transport
// reads it: [user@]host[:port], comma-separated.
func jumpProblem(spec string) string {
	for _, hop := range strings.Split(spec, ",") {
		hop = strings.TrimPrefix(strings.TrimSpace(hop), "ssh://")
		if hop == "" {
			return "an empty jump host"
		}
		if i := strings.LastIndexByte(hop, '@'); i >= 0 {
			if !hopUserRE.MatchString(hop[:i]) {
				return fmt.Sprintf("%q is not a user name", hop[:i])
			}
			hop = hop[i+1:]
		}
		host := hop
		if h, p, err := net.SplitHostPort(hop); err == nil {
			port, perr := strconv.Atoi(p)
			if perr != nil || port < 1 || port > 65535 {
				return fmt.Sprintf("%q is not a port", p)
			}
			host = h
		} else if strings.Count(hop, ":") == 1 {
			return fmt.Sprintf("%q is not host:port", hop)
		}
		if !cluster.ValidHost(host) {
			return fmt.Sprintf("%q is not a host name or an IP address", host)
		}
	}
	return ""
}

// proxyFromArgs finds the proxy in ssh arguments as Ansible passes them
// (split like a shell): -J X, -o ProxyJump=X, -o ProxyCommand="ssh -W
// %h:%p [-q] [-p PORT] [-l USER] [user@]host". via says which form; others
// are the options natsops does not use (names only: a value could be
// anything). A ProxyCommand of another shape is an error: natsops could
// not reach the host.
func proxyFromArgs(args string) (jump, via string, others []string, err error) {
	words, err := shlex.Split(args)
	if err != nil {
		return "", "", nil, fmt.Errorf("cannot split the arguments: %v", err)
	}
	set := func(j, v string) {
		if jump == "" {
			jump, via = j, v
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		next := func() (string, bool) {
			if i+1 < len(words) {
				i++
				return words[i], true
			}
			return "", false
		}
		switch {
		case w == "-J":
			v, ok := next()
			if !ok {
				return "", "", nil, fmt.Errorf("-J without a jump host")
			}
			set(v, "-J")
		case strings.HasPrefix(w, "-J"):
			set(w[2:], "-J")
		case w == "-o" || strings.HasPrefix(w, "-o"):
			opt := strings.TrimPrefix(w, "-o")
			if opt == "" {
				v, ok := next()
				if !ok {
					return "", "", nil, fmt.Errorf("-o without an option")
				}
				opt = v
			}
			key, val := splitOption(opt)
			switch strings.ToLower(key) {
			case "proxyjump":
				set(val, "-o ProxyJump")
			case "proxycommand":
				if strings.EqualFold(strings.TrimSpace(val), "none") {
					set("none", "-o ProxyCommand")
					continue
				}
				j, perr := jumpFromProxyCommand(val)
				if perr != nil {
					return "", "", nil, perr
				}
				set(j, "-o ProxyCommand")
			default:
				others = append(others, "-o "+printable(key))
			}
		case strings.HasPrefix(w, "-"):
			// An ssh flag natsops has no use for; its name only. Flags
			// that take an argument take the next word with them.
			if len(w) == 2 && strings.ContainsRune("bcDEeFIiLlmOpQRSWw", rune(w[1])) {
				next()
			}
			others = append(others, printable(w[:min(len(w), 2)]))
		default:
			others = append(others, "(an argument)")
		}
	}
	return jump, via, others, nil
}

// splitOption splits an ssh -o option "Key=Value" or "Key Value".
func splitOption(opt string) (key, val string) {
	opt = strings.TrimSpace(opt)
	if i := strings.IndexAny(opt, "= \t"); i >= 0 {
		return opt[:i], strings.TrimLeft(strings.TrimSpace(opt[i:]), "=")
	}
	return opt, ""
}

// jumpFromProxyCommand reads `ssh -W %h:%p [flags] [user@]host` as the
// jump host [user@]host[:port].
func jumpFromProxyCommand(cmd string) (string, error) {
	// The command is named by its program only: its arguments could hold
	// a password (sshpass -p ...).
	words, err := shlex.Split(cmd)
	program := "(empty)"
	if err == nil && len(words) > 0 {
		program = printable(path.Base(words[0]))
	}
	unsupported := fmt.Errorf("ProxyCommand runs %s, not `ssh -W %%h:%%p [user@]host`, which natsops can follow", program)
	if err != nil || len(words) == 0 || path.Base(words[0]) != "ssh" {
		return "", unsupported
	}
	var user, host, port string
	forward := false
	for i := 1; i < len(words); i++ {
		w := words[i]
		arg := func() (string, bool) {
			if i+1 < len(words) {
				i++
				return words[i], true
			}
			return "", false
		}
		switch w {
		case "-W":
			v, ok := arg()
			if !ok || (v != "%h:%p" && v != "[%h]:%p") {
				return "", unsupported
			}
			forward = true
		case "-q", "-4", "-6", "-T", "-a", "-x", "-C", "-v", "-N":
		case "-p":
			v, ok := arg()
			if !ok {
				return "", unsupported
			}
			port = v
		case "-l":
			v, ok := arg()
			if !ok {
				return "", unsupported
			}
			user = v
		default:
			if strings.HasPrefix(w, "-") || host != "" {
				return "", unsupported
			}
			host = w
		}
	}
	if !forward || host == "" {
		return "", unsupported
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		user, host = host[:i], host[i+1:]
	}
	j := host
	if port != "" {
		j = net.JoinHostPort(host, port)
	}
	if user != "" {
		j = user + "@" + j
	}
	return j, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

func printableAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = printable(s)
	}
	return out
}
