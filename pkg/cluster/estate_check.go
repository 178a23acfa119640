package cluster

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/natsops/natsops/internal/text"
)

// accountNameRE: an account name goes into the config as a quoted key and
// into subjects of the system account ($SYS.ACCOUNT.<name>...): no
// spaces, dots or wildcards.
var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9$][A-Za-z0-9_$-]{0,63}$`)

// estateChecker collects the problems only the whole file shows: names
// across clusters, gateways, leaf remotes, accounts.
type estateChecker struct {
	est      *Estate
	problems []Problem
}

// add reports a problem in cluster inv (nil: estate-wide) at the first
// path written (cluster-relative paths when inv is set).
func (c *estateChecker) add(inv *Inventory, node, key string, paths []string, msg, fix string) {
	p := Problem{File: c.est.Path, Node: node, Key: key, Msg: msg, Fix: fix}
	if inv != nil {
		p.Line, p.Col = inv.loc.find(paths...)
		if c.est.Multi {
			p.Cluster = inv.ClusterName()
		}
	} else {
		p.Line, p.Col = c.est.Clusters[0].loc.view("").find(paths...)
	}
	c.problems = append(c.problems, p)
}

func (est *Estate) check() []Problem {
	c := &estateChecker{est: est}
	c.checkNames()
	c.checkPorts()
	c.checkGateways()
	c.checkAccounts()
	c.checkLeafs()
	return c.problems
}

// checkNames: cluster names (they are the gateway names) unique and
// set; server names unique across the estate (nats-server#3082, #2378:
// two servers of one name in a supercluster confuse routing and
// JetStream).
func (c *estateChecker) checkNames() {
	seen := map[string]*Inventory{}
	for _, inv := range c.est.Clusters {
		name := inv.ClusterName()
		if !c.est.Multi {
			continue
		}
		at := []string{"cluster.name", "cluster"}
		switch {
		case name == "":
			c.add(inv, "", "name", at, "cluster has no name", "give every [[clusters]] entry a unique name, such as \"east\" (it is the gateway name)")
			continue
		case !nodeNameRE.MatchString(name):
			c.add(inv, "", "name", at, "cluster name must be letters, digits, '.', '_' or '-' (it is the cluster and gateway name)", "rename the cluster")
		}
		if first, dup := seen[name]; dup {
			line, _ := first.loc.find("cluster.name")
			c.add(inv, "", "name", at, fmt.Sprintf("duplicate cluster name (first defined at line %d)", line), "cluster names must be unique: a gateway is known by it")
		}
		seen[name] = inv
	}
	type where struct {
		inv *Inventory
		i   int
	}
	nodes := map[string]where{}
	for _, inv := range c.est.Clusters {
		for i, n := range inv.Nodes {
			if n.Name == "" {
				continue
			}
			if w, dup := nodes[n.Name]; dup && w.inv != inv {
				line, _ := w.inv.loc.find(fmt.Sprintf("node[%d].name", w.i))
				c.add(inv, n.Name, "name", []string{fmt.Sprintf("node[%d].name", i)}, fmt.Sprintf("server name also used in cluster %s (line %d): server names must be unique across a supercluster", w.inv.ClusterName(), line), "rename one of the nodes")
				continue
			}
			nodes[n.Name] = where{inv, i}
		}
	}
}

// checkPorts refuses two listeners on one port of one host across
// clusters, and a gateway or leaf node port clashing with a node's other
// listeners (the cluster's own check covers its other ports).
func (c *estateChecker) checkPorts() {
	type listener struct {
		inv  *Inventory
		node string
		what string
		own  bool
	}
	byHost := map[string]map[int]listener{}
	for _, inv := range c.est.Clusters {
		for i, n := range inv.Nodes {
			host := strings.ToLower(n.Host)
			if byHost[host] == nil {
				byHost[host] = map[int]listener{}
			}
			var ls []estatePort
			for _, p := range inv.ports(n) {
				ls = append(ls, estatePort{p, true})
			}
			if inv.HasGateway() {
				ls = append(ls, estatePort{nodePort{"gateway.port", n.Gateway.Port}, false})
			}
			if inv.LeafListens() {
				ls = append(ls, estatePort{nodePort{"leafnodes.port", n.LeafNodes.Port}, false})
			}
			for _, l := range ls {
				if l.port == nil || *l.port < 1 || *l.port > 65535 {
					if l.port != nil && !l.own {
						c.add(inv, n.Name, l.key, nodeKey(i, l.key), fmt.Sprintf("port %d is out of range", *l.port), "use a port between 1 and 65535")
					}
					continue
				}
				prev, clash := byHost[host][*l.port]
				if !clash {
					byHost[host][*l.port] = listener{inv, n.Name, l.key, l.own}
					continue
				}
				if prev.inv == inv && l.own && prev.own {
					continue // the cluster's own check said so
				}
				msg := fmt.Sprintf("port %d clashes with %s of node %s on host %s", *l.port, prev.what, prev.node, n.Host)
				if prev.inv != inv && c.est.Multi {
					msg += " (cluster " + prev.inv.ClusterName() + ")"
				}
				if prev.node == n.Name && prev.inv == inv {
					msg = fmt.Sprintf("port %d is also used by %s", *l.port, prev.what)
				}
				c.add(inv, n.Name, l.key, nodeKey(i, l.key), msg, "give every listener on a host its own port (set it under [node.server], [node.cluster], [node.gateway] or [node.leafnodes])")
			}
		}
	}
}

// estatePort is a node's listener in the estate's port check: own ones
// (Inventory.ports) are checked among themselves by the cluster's
// checker; gateway and leaf ports only here.
type estatePort struct {
	nodePort
	own bool
}

// checkGateways: gateway settings uniform across members (each cluster
// dials the others with its own credentials and TLS), a leaf cluster in
// no gateway.
func (c *estateChecker) checkGateways() {
	var first *Inventory
	for _, inv := range c.est.Clusters {
		g := inv.File.Gateway
		if g == nil {
			continue
		}
		at := []string{"gateway"}
		if inv.IsLeaf() {
			// The estate's [gateway] is for the hubs; a leaf cluster's own
			// is a mistake.
			if c.est.Multi && c.est.File.Clusters[inv.index].Gateway != nil {
				c.add(inv, "", "gateway", at, "a leaf cluster does not join the gateways: it reaches the supercluster through its hubs", "remove [clusters.gateway] from the leaf cluster")
			}
			continue
		}
		hasUser, hasPass := g.User != nil && *g.User != "", g.Password != nil && *g.Password != ""
		if hasUser != hasPass {
			c.add(inv, "", "gateway", []string{"gateway.user", "gateway.password", "gateway"}, "gateway authentication needs both gateway.user and gateway.password", "set both, or neither")
		}
		if hasPass && g.Password.Kind() == SecretLiteral && IsBcrypt(string(*g.Password)) {
			c.add(inv, "", "gateway.password", []string{"gateway.password"}, "the gateway password cannot be a bcrypt hash: every cluster dials the others with it", "use the plain password through env:NAME or file:PATH")
		}
		if g.TLS != nil {
			if g.TLS.CertFile == nil || g.TLS.KeyFile == nil || *g.TLS.CertFile == "" || *g.TLS.KeyFile == "" {
				c.add(inv, "", "gateway.tls", []string{"gateway.tls"}, "TLS needs both cert_file and key_file", "set both paths (as they are on the node)")
			}
		}
		if first == nil {
			first = inv
			continue
		}
		f := first.File.Gateway
		if deref(f.User, "") != deref(g.User, "") || deref(f.Password, "") != deref(g.Password, "") {
			c.add(inv, "", "gateway", []string{"gateway.user", "gateway.password", "gateway"}, fmt.Sprintf("gateway credentials differ from cluster %s's: each cluster dials the others with its own, so they would refuse each other", first.ClusterName()), "set gateway.user and gateway.password once, in the estate's [gateway]")
		}
		if (f.TLS == nil) != (g.TLS == nil) {
			c.add(inv, "", "gateway.tls", []string{"gateway.tls", "gateway"}, fmt.Sprintf("gateway TLS is on in one of this cluster and cluster %s and off in the other: their gateways cannot connect", first.ClusterName()), "set [gateway.tls] in the estate's [gateway] for every cluster")
		}
		if deref(f.RejectUnknownCluster, false) != deref(g.RejectUnknownCluster, false) {
			c.add(inv, "", "gateway.reject_unknown_cluster", []string{"gateway.reject_unknown_cluster", "gateway"}, fmt.Sprintf("reject_unknown_cluster differs from cluster %s's", first.ClusterName()), "set it once in the estate's [gateway]")
		}
	}
}

// checkAccounts: names, users (one account each, and not also a user of
// [server.auth]), imports naming an export that exists, the system
// account and no_auth_user.
func (c *estateChecker) checkAccounts() {
	f := &c.est.File
	if len(f.Accounts) == 0 {
		for _, inv := range c.est.Clusters {
			for _, n := range inv.Nodes {
				a := n.Server.Auth
				if a.SystemAccount != nil {
					c.add(inv, n.Name, "server.auth.system_account", nodeKey(n.Index, "server.auth.system_account"), fmt.Sprintf("system_account %q names an account, and the inventory has no [accounts]", *a.SystemAccount), "add [accounts."+*a.SystemAccount+"] with its users, or use system_user and system_password")
				}
				if a.NoAuthUser != nil {
					c.add(inv, n.Name, "server.auth.no_auth_user", nodeKey(n.Index, "server.auth.no_auth_user"), "no_auth_user names a user of an account, and the inventory has no [accounts]", "add the user to an account under [accounts]")
				}
			}
		}
		return
	}
	owner := map[string]string{} // user -> account
	for _, name := range text.SortedKeys(f.Accounts) {
		acc := f.Accounts[name]
		at := []string{"accounts." + name}
		if !accountNameRE.MatchString(name) {
			c.add(nil, "", "accounts."+name, at, "account name must be letters, digits, '_', '-' or '$'", "rename the account")
		}
		for j, u := range acc.Users {
			key := fmt.Sprintf("accounts.%s.users[%d]", name, j)
			uat := []string{key + ".user", key + ".nkey", key, "accounts." + name}
			switch {
			case u.NKey != "" && (u.User != "" || u.Password != ""):
				c.add(nil, "", key, uat, "a user has either user+password or nkey, not both", "split it into two users")
				continue
			case u.NKey == "" && (u.User == "" || u.Password == ""):
				c.add(nil, "", key, uat, "user needs user and password (or an nkey)", "set both")
				continue
			}
			id := u.User
			if u.NKey != "" {
				id = u.NKey
			}
			if prev, dup := owner[id]; dup {
				what := "also a user of account " + prev
				if prev == name {
					what = "listed twice in the account"
				}
				c.add(nil, "", key, uat, fmt.Sprintf("user %q is %s: nats-server refuses a user in two accounts", id, what), "give each account its own users")
				continue
			}
			owner[id] = name
		}
		for j, e := range acc.Exports {
			key := fmt.Sprintf("accounts.%s.exports[%d]", name, j)
			subj, kind := e.Stream, "stream"
			if e.Service != "" {
				subj, kind = e.Service, "service"
			}
			if (e.Stream == "") == (e.Service == "") {
				c.add(nil, "", key, []string{key}, "an export is either a stream or a service subject", "set stream = \"...\" or service = \"...\"")
				continue
			}
			if !validSubject(subj, true) {
				c.add(nil, "", key+"."+kind, []string{key + "." + kind, key}, fmt.Sprintf("%q is not a subject", subj), "subjects are dot-separated tokens without spaces; * and > as wildcards")
			}
		}
		for j, im := range acc.Imports {
			key := fmt.Sprintf("accounts.%s.imports[%d]", name, j)
			subj, kind := im.Stream, "stream"
			if im.Service != "" {
				subj, kind = im.Service, "service"
			}
			iat := []string{key + "." + kind, key}
			if (im.Stream == "") == (im.Service == "") {
				c.add(nil, "", key, iat, "an import is either a stream or a service subject", "set stream = \"...\" or service = \"...\"")
				continue
			}
			from, ok := f.Accounts[im.Account]
			switch {
			case im.Account == "":
				c.add(nil, "", key+".account", iat[1:], "an import names the account that exports it", "set account = \"NAME\"")
			case im.Account == name:
				c.add(nil, "", key+".account", append([]string{key + ".account"}, iat...), "an account cannot import from itself", "name the exporting account")
			case !ok:
				c.add(nil, "", key+".account", append([]string{key + ".account"}, iat...), fmt.Sprintf("account %q does not exist (accounts: %s)", im.Account, strings.Join(text.SortedKeys(f.Accounts), ", ")), "name an account under [accounts]")
			case !exports(from, kind, subj):
				c.add(nil, "", key+"."+kind, iat, fmt.Sprintf("account %s exports no %s covering %q", im.Account, kind, subj), fmt.Sprintf("add [[accounts.%s.exports]] %s = %q, or import what it exports", im.Account, kind, subj))
			}
			if !validSubject(subj, true) {
				c.add(nil, "", key+"."+kind, iat, fmt.Sprintf("%q is not a subject", subj), "subjects are dot-separated tokens without spaces; * and > as wildcards")
			}
		}
	}
	for _, inv := range c.est.Clusters {
		for _, n := range inv.Nodes {
			c.checkNodeAccounts(inv, n, owner)
		}
	}
}

// checkNodeAccounts checks what a node's auth says about the accounts.
func (c *estateChecker) checkNodeAccounts(inv *Inventory, n *Node, owner map[string]string) {
	f := &c.est.File
	a := n.Server.Auth
	k := func(key string) []string { return nodeKey(n.Index, key) }
	if a.SystemUser != nil {
		c.add(inv, n.Name, "server.auth.system_user", k("server.auth.system_user"), "system_user makes its own system account, which nats-server refuses next to [accounts]", "put the system user in an account under [accounts] and name it in server.auth.system_account")
	}
	for j, u := range a.Users {
		if acc, dup := owner[u.User]; dup && u.User != "" {
			c.add(inv, n.Name, fmt.Sprintf("server.auth.users[%d]", j), k(fmt.Sprintf("server.auth.users[%d]", j)), fmt.Sprintf("user %q is also a user of account %s", u.User, acc), "list the user once, in its account")
		}
	}
	estateSys, estateNoAuth := f.Server.Auth.SystemAccount, f.Server.Auth.NoAuthUser
	if deref(a.SystemAccount, "") != deref(estateSys, "") {
		c.add(inv, n.Name, "server.auth.system_account", k("server.auth.system_account"), "system_account is estate-wide: every server of a supercluster must have the same system account", "set it once, in the estate's [server.auth]")
	}
	if deref(a.NoAuthUser, "") != deref(estateNoAuth, "") {
		c.add(inv, n.Name, "server.auth.no_auth_user", k("server.auth.no_auth_user"), "no_auth_user is estate-wide", "set it once, in the estate's [server.auth]")
	}
	sys := deref(a.SystemAccount, "")
	if sys != "" {
		if _, ok := f.Accounts[sys]; !ok {
			c.add(inv, n.Name, "server.auth.system_account", k("server.auth.system_account"), fmt.Sprintf("system_account %q is not an account (accounts: %s)", sys, strings.Join(text.SortedKeys(f.Accounts), ", ")), "name one of [accounts]")
		}
	}
	if u := deref(a.NoAuthUser, ""); u != "" {
		acc, ok := owner[u]
		switch {
		case !ok:
			c.add(inv, n.Name, "server.auth.no_auth_user", k("server.auth.no_auth_user"), fmt.Sprintf("no_auth_user %q is not a user of any account", u), "name a user listed under [[accounts.NAME.users]]")
		case acc == sys:
			c.add(inv, n.Name, "server.auth.no_auth_user", k("server.auth.no_auth_user"), fmt.Sprintf("no_auth_user %q is in the system account %s: every client without credentials would be a system user", u, sys), "make it a user of an application account")
		}
	}
}

// checkLeafs: a leaf cluster's remotes name a hub of this inventory that
// listens, bind an account that exists, and log in as a user the hub
// knows; a hub's leaf users are bound to accounts that exist.
func (c *estateChecker) checkLeafs() {
	f := &c.est.File
	sys := deref(f.Server.Auth.SystemAccount, "")
	for _, inv := range c.est.Clusters {
		l := inv.File.LeafNodes
		if l == nil {
			continue
		}
		for j, u := range l.Users {
			key := fmt.Sprintf("leafnodes.users[%d]", j)
			at := []string{key + ".account", key, "leafnodes"}
			switch {
			case u.User == "" || u.Password == "":
				c.add(inv, "", key, at[1:], "a leaf node user needs user and password", "set both")
			case u.Account == "":
			case len(f.Accounts) == 0:
				c.add(inv, "", key+".account", at, fmt.Sprintf("account %q: the inventory has no [accounts]", u.Account), "add the account under [accounts], or leave account unset (the global account)")
			case !hasAccount(f, u.Account):
				c.add(inv, "", key+".account", at, fmt.Sprintf("account %q does not exist (accounts: %s)", u.Account, strings.Join(text.SortedKeys(f.Accounts), ", ")), "name an account under [accounts]")
			case u.Account == sys:
				c.add(inv, "", key+".account", at, fmt.Sprintf("leaf node user %q is bound to the system account: a leaf node would be a system client of the hub", u.User), "bind it to an application account")
			}
		}
		if len(l.Remotes) > 0 && (l.Port != nil || len(l.Users) > 0) {
			c.add(inv, "", "leafnodes", []string{"leafnodes.port", "leafnodes"}, "a cluster both listens for leaf nodes and dials hubs", "keep one role per cluster: a hub lists users (and a port), a leaf cluster lists remotes")
		}
		for j, r := range l.Remotes {
			key := fmt.Sprintf("leafnodes.remotes[%d]", j)
			at := []string{key, "leafnodes"}
			on := func(field string) []string { return append([]string{key + "." + field}, at...) }
			hub := inv.Hub(r)
			switch {
			case r.Hub == "":
				c.add(inv, "", key+".hub", on("hub"), "a leaf remote names the hub cluster it dials", "set hub = \"NAME\" (a cluster of this inventory)")
			case hub == nil:
				c.add(inv, "", key+".hub", on("hub"), fmt.Sprintf("hub %q is not a cluster of this inventory (clusters: %s)", r.Hub, strings.Join(c.est.Names(), ", ")), "name one of the [[clusters]]")
			case hub == inv:
				c.add(inv, "", key+".hub", on("hub"), "a leaf cluster cannot be its own hub", "name the hub cluster")
			case hub.IsLeaf():
				c.add(inv, "", key+".hub", on("hub"), fmt.Sprintf("hub %q is itself a leaf cluster", r.Hub), "dial a hub cluster (one that lists leafnodes users)")
			case !hub.LeafListens():
				c.add(inv, "", key+".hub", on("hub"), fmt.Sprintf("hub %q does not accept leaf nodes", r.Hub), fmt.Sprintf("add [clusters.leafnodes] with port and users to cluster %s", r.Hub))
			}
			if r.Account != "" {
				switch {
				case len(f.Accounts) == 0:
					c.add(inv, "", key+".account", on("account"), fmt.Sprintf("account %q: the inventory has no [accounts]", r.Account), "add the account under [accounts], or leave account unset")
				case !hasAccount(f, r.Account):
					c.add(inv, "", key+".account", on("account"), fmt.Sprintf("account %q does not exist (accounts: %s)", r.Account, strings.Join(text.SortedKeys(f.Accounts), ", ")), "name an account under [accounts]")
				case r.Account == sys:
					c.add(inv, "", key+".account", on("account"), "the remote is bound to the system account", "bind it to an application account")
				}
			}
			hasUser, hasPass := r.User != nil && *r.User != "", r.Password != nil && *r.Password != ""
			switch {
			case hasUser != hasPass:
				c.add(inv, "", key, on("user"), "a leaf remote needs both user and password", "set both, or use credentials = \"/path/on/node.creds\"")
			case hasUser && r.Credentials != nil:
				c.add(inv, "", key, on("credentials"), "a leaf remote logs in with user and password or with a creds file, not both", "keep one")
			case hasPass && r.Password.Kind() == SecretLiteral && IsBcrypt(string(*r.Password)):
				c.add(inv, "", key+".password", on("password"), "a leaf remote's password cannot be a bcrypt hash: the leaf dials the hub with it", "use the plain password through env:NAME or file:PATH")
			case r.Credentials != nil && !strings.HasPrefix(*r.Credentials, "/"):
				c.add(inv, "", key+".credentials", on("credentials"), "credentials must be an absolute path on the node", "use e.g. /etc/nats/leaf.creds")
			}
			if hub != nil && hub != inv && hasUser && hub.File.LeafNodes != nil && len(hub.File.LeafNodes.Users) > 0 {
				found := false
				for _, u := range hub.File.LeafNodes.Users {
					if u.User == *r.User {
						found = true
					}
				}
				if !found {
					c.add(inv, "", key+".user", on("user"), fmt.Sprintf("hub %s has no leaf node user %q", r.Hub, *r.User), fmt.Sprintf("add it to cluster %s's [[clusters.leafnodes.users]] or use one listed there", r.Hub))
				}
			}
		}
	}
}

func hasAccount(f *File, name string) bool {
	_, ok := f.Accounts[name]
	return ok
}

// exports reports whether acc exports a kind ("stream" or "service")
// whose subject covers subj.
func exports(acc AccountSpec, kind, subj string) bool {
	for _, e := range acc.Exports {
		have := e.Stream
		if kind == "service" {
			have = e.Service
		}
		if have != "" && SubjectCovers(have, subj) {
			return true
		}
	}
	return false
}

// SubjectCovers reports whether every subject that matches sub also
// matches pattern (NATS wildcards: * one token, > the rest).
func SubjectCovers(pattern, sub string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, t := range p {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) {
			return false
		}
		switch {
		case t == "*":
			if s[i] == ">" {
				return false
			}
		case t != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}

// validSubject: dot-separated non-empty tokens, no whitespace; with
// wildcards, * a whole token and > only the last.
func validSubject(s string, wildcards bool) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		if t == "" {
			return false
		}
		if strings.ContainsAny(t, "*>") {
			if !wildcards || len(t) > 1 || (t == ">" && i != len(toks)-1) {
				return false
			}
		}
	}
	return true
}
