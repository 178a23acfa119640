package cluster

import (
	"os"
	"strings"
	"testing"
)

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestInventoryErrors: every bad input is refused with the line, the key
// and what to do.
func TestInventoryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		// want are substrings of the whole error text.
		want []string
	}{
		{"unknown key with suggestion", base + "\n[server]\nmax_conection = 5\n",
			[]string{"test.toml:21:1", "server.max_conection", "unknown key", `did you mean "server.max_connections"`}},
		{"unknown top-level table", base + "\n[servre]\nport = 1\n",
			[]string{"test.toml:20:2", "servre", "unknown key"}},
		{"wrong type", base + "\n[server]\nport = \"4222\"\n",
			[]string{"test.toml:21:8", "server.port", "expected an integer, got a TOML string"}},
		{"bare duration", base + "\n[server]\nwrite_deadline = 2\n",
			[]string{"test.toml:21:1", "server.write_deadline", "a duration must be a quoted string", `"3s"`}},
		{"bad duration", base + "\n[server]\nping_interval = \"2 minutes\"\n",
			[]string{"test.toml:21", "server.ping_interval", "is not a duration"}},
		{"ambiguous size", base + "\n[server]\nmax_payload = \"1M\"\n",
			[]string{"test.toml:21", "server.max_payload", "ambiguous", "1MB"}},
		{"duplicate node", base + "\n[[node]]\nname = \"b\"\nhost = \"10.0.0.9\"\n",
			[]string{"test.toml:21:1", "node b", "duplicate node name (first defined at line 13)"}},
		{"a host with a space", base + "\n[[node]]\nname = \"d\"\nhost = \"nats 1.example\"\n",
			[]string{"test.toml:22:1", "node d: host", `host "nats 1.example" is not a host name or an IP address`}},
		{"a host with a newline", base + "\n[[node]]\nname = \"d\"\nhost = \"h\\nProxyCommand x\"\n",
			[]string{"node d: host", `"h\nProxyCommand x"`}},
		{"a host that ssh reads as an option", base + "\n[[node]]\nname = \"d\"\nhost = \"-oProxyCommand=x\"\n",
			[]string{"node d: host", "is not a host name"}},
		{"a bad route_host is node b's, at its line", strings.Replace(base, "name = \"b\"\nhost = \"10.0.0.2\"\n", "name = \"b\"\nhost = \"10.0.0.2\"\nroute_host = \"10.0.0.2/24\"\n", 1),
			[]string{"test.toml:15:1", "node b: route_host", `route_host "10.0.0.2/24"`}},
		{"a node name with an escape sequence is quoted", base + "\n[[node]]\nname = \"x\\u001b[31m\"\nhost = \"h\"\n",
			[]string{`node "x\x1b[31m": name`}},
		{"missing host", base + "\n[[node]]\nname = \"d\"\n",
			[]string{"node d", "host", "node has no host"}},
		{"removing a majority at once", strings.NewReplacer("host = \"10.0.0.2\"\n", "host = \"10.0.0.2\"\nremove = true\n", "host = \"10.0.0.3\"\n", "host = \"10.0.0.3\"\nremove = true\n").Replace(base),
			[]string{"node b,c: remove", "removes 2 of the 3 nodes at once", "remove fewer nodes than stay (at most 1 now)"}},
		{"a system account next to a single user", strings.Replace(base, "[server.auth]\n", "[server.auth]\nsystem_user = \"sys\"\nsystem_password = \"env:SYS\"\n", 1),
			[]string{"server.auth.system_user", "a system account goes with [[server.auth.users]]"}},
		{"a system user without a password", strings.Replace(strings.Replace(base, "user = \"app\"\npassword", "# single user replaced\n[[server.auth.users]]\nuser = \"app\"\npassword", 1), "[server.auth]\n", "[server.auth]\nsystem_user = \"sys\"\n", 1),
			[]string{"the system account needs both system_user and system_password"}},
		{"a bcrypt system password", strings.Replace(strings.Replace(base, "user = \"app\"\npassword", "# single user replaced\n[[server.auth.users]]\nuser = \"app\"\npassword", 1), "[server.auth]\n", "[server.auth]\nsystem_user = \"sys\"\nsystem_password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'\n", 1),
			[]string{"server.auth.system_password", "cannot be a bcrypt hash: natsops logs in with it"}},
		{"the system user is also a client", strings.Replace(strings.Replace(base, "user = \"app\"\npassword", "# single user replaced\n[[server.auth.users]]\nuser = \"app\"\npassword", 1), "[server.auth]\n", "[server.auth]\nsystem_user = \"app\"\nsystem_password = \"env:SYS\"\n", 1),
			[]string{`user "app" is both a client user and the system user`}},
		{"missing name", base + "\n[[node]]\nhost = \"10.0.0.9\"\n",
			[]string{"node[3].name", "node has no name"}},
		{"bad node name", strings.Replace(base, `name = "a"`, `name = "a b"`, 1),
			[]string{"test.toml:9", "node a b", "becomes the server_name"}},
		{"no nodes", "[cluster]\nname = \"x\"\n",
			[]string{"the inventory has no nodes", "add at least one [[node]]"}},
		{"port clash between nodes on one host", base + "\n[[node]]\nname = \"d\"\nhost = \"10.0.0.1\"\n",
			[]string{"node d", "server.port", "port 4222 clashes with server.port of node a on host 10.0.0.1"}},
		{"port clash within a node", base + "\n[server]\nhttp_port = 4222\n",
			[]string{"server.http_port", "port 4222 is also used by server.port"}},
		{"port out of range", base + "\n[server]\nport = 70000\n",
			[]string{"test.toml:21", "port 70000 is out of range"}},
		{"pidfile without pid_file", base + "\n[service]\nmanager = \"pidfile\"\n",
			[]string{"test.toml:21", "server.pid_file", "needs server.pid_file"}},
		{"unknown manager", base + "\n[service]\nmanager = \"upstart\"\n",
			[]string{"test.toml:21", `unknown service manager "upstart"`}},
		{"relative config path", base + "\n[service]\nconfig_path = \"nats.conf\"\n",
			[]string{"service.config_path", "not absolute"}},
		{"user and token", strings.Replace(base, "[server.auth]\n", "[server.auth]\ntoken = \"env:T\"\n", 1),
			[]string{"server.auth", "use only one of"}},
		{"user without password", strings.Replace(base, "password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'\n", "", 1),
			[]string{"server.auth", "needs both user and password"}},
		{"bad nkey", base + "\n[[node.server.auth.users]]\nnkey = \"NOTAKEY\"\n",
			[]string{"node c", "nkey", "not a valid nkey user public key"}},
		{"duplicate table", base + "\n[cluster]\n",
			[]string{"test.toml:20:2", "cluster", "already exists"}},
		{"route user without password", strings.Replace(base, "name = \"t\"\n", "name = \"t\"\nuser = \"r\"\n", 1),
			[]string{"test.toml:3", "cluster.user and cluster.password"}},
		{"route password is a hash", strings.Replace(base, "name = \"t\"\n", "name = \"t\"\nuser = \"r\"\npassword = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'\n", 1),
			[]string{"test.toml:4", "cannot be a bcrypt hash"}},
		{"nofile above nr_open", base + "\n[tune]\nnofile = 2000000\n",
			[]string{"tune.nofile", "above fs.nr_open (1048576)", `"fs.nr_open" = 2000000`}},
		{"nofile fine when nr_open raised", base + "\n[tune]\nnofile = 2000000\n[tune.sysctl]\n\"fs.nr_open\" = 1000000\n",
			[]string{"above fs.nr_open (1000000)"}},
		{"bad sysctl name", base + "\n[tune.sysctl]\n\"rm -rf /\" = 1\n",
			[]string{"tune.sysctl", "is not a sysctl name"}},
		{"websocket without tls", base + "\n[server.websocket]\nport = 8080\n",
			[]string{"server.websocket", "needs TLS, or no_tls = true"}},
		{"https without tls", base + "\n[server]\nhttps_port = 8443\n",
			[]string{"https_port needs [server.tls]"}},
		{"tls without key", base + "\n[server.tls]\ncert_file = \"/etc/nats/c.pem\"\n",
			[]string{"server.tls", "needs both cert_file and key_file"}},
		{"invalid toml", "[[node]\nname = 1\n",
			[]string{"test.toml:1"}},
		{"bad host key checking", base + "\n[ssh]\nhost_key_checking = \"no\"\n",
			[]string{"test.toml:21", "unknown host_key_checking"}},
		{"gomemlimit with a decimal unit", base + "\n[service]\ngomemlimit = \"2GB\"\n",
			[]string{"test.toml:21", "service.gomemlimit", `GOMEMLIMIT "2GB" has a unit the Go runtime does not read`, "crash at start", `write "2GiB"`}},
		{"gomemlimit with a lower-case unit", base + "\n[service]\ngomemlimit = \"512mib\"\n",
			[]string{"test.toml:21", "service.gomemlimit", `write "512MiB"`}},
		{"gomemlimit not a number", base + "\n[service]\ngomemlimit = \"lots\"\n",
			[]string{"test.toml:21", "service.gomemlimit", `"lots" is not a GOMEMLIMIT`, `e.g. "3GiB"`}},
		{"gomemlimit with a space", base + "\n[service]\ngomemlimit = \"3 GiB\"\n",
			[]string{"test.toml:21", "service.gomemlimit", `write "3GiB"`}},
		{"gomemlimit in bytes by mistake", base + "\n[service]\ngomemlimit = \"2048\"\n",
			[]string{"test.toml:21", "service.gomemlimit", `"2048" is 2048 bytes`, `"2048MiB"`}},
		{"gomemlimit of a node, at its line", strings.Replace(base, "name = \"b\"\nhost = \"10.0.0.2\"\n", "name = \"b\"\nhost = \"10.0.0.2\"\n[node.service]\ngomemlimit = \"1G\"\n", 1),
			[]string{"test.toml:16:1", "node b: service.gomemlimit", `write "1GiB"`}},
		{"gomemlimit in pidfile mode", base + "\n[service]\nmanager = \"pidfile\"\ngomemlimit = \"1GiB\"\n[server]\npid_file = \"/run/n.pid\"\n",
			[]string{"test.toml:22", "service.gomemlimit", "pidfile mode has none", "env GOMEMLIMIT=1GiB"}},
		{"max_payload above hard limit", base + "\n[server]\nmax_payload = \"128MB\"\n",
			[]string{"test.toml:21", "above nats-server's hard limit of 64MB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problems(t, tc.src)
			text := (&InventoryError{Problems: ps}).Error()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("error does not contain %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestNodeOverridesMerge(t *testing.T) {
	inv := mustParse(t, base+`
[server]
max_connections = 1000
write_deadline = "3s"

[server.log]
time = true

[[node]]
name = "d"
host = "10.0.0.4"
server.max_connections = 50
server.log.debug = true
cluster.port = 7222
`)
	d, a := inv.Nodes[3], inv.Nodes[0]
	if *d.Server.MaxConnections != 50 || *a.Server.MaxConnections != 1000 {
		t.Errorf("max_connections: d=%d a=%d, want 50 and 1000", *d.Server.MaxConnections, *a.Server.MaxConnections)
	}
	if d.Server.WriteDeadline.String() != "3s" {
		t.Errorf("d inherits write_deadline %v, want 3s", d.Server.WriteDeadline)
	}
	if !*d.Server.Log.Time || !*d.Server.Log.Debug || a.Server.Log.Debug != nil {
		t.Errorf("log merge wrong: d.time=%v d.debug=%v a.debug=%v", d.Server.Log.Time, d.Server.Log.Debug, a.Server.Log.Debug)
	}
	if *d.Cluster.Port != 7222 || *a.Cluster.Port != DefaultClusterPort {
		t.Errorf("cluster port d=%d a=%d", *d.Cluster.Port, *a.Cluster.Port)
	}
	// Overriding one node must not leak into another through shared pointers.
	*d.Server.WriteDeadline = Duration{}
	if a.Server.WriteDeadline.String() != "3s" {
		t.Error("nodes share the cluster-wide value's memory")
	}
}

func TestSelect(t *testing.T) {
	inv := mustParse(t, base)
	for _, tc := range []struct {
		limit []string
		want  string
		err   string
	}{
		{nil, "a,b,c", ""},
		{[]string{"b"}, "b", ""},
		{[]string{"c", "a"}, "a,c", ""},
		{[]string{"[ab]"}, "a,b", ""},
		{[]string{"*"}, "a,b,c", ""},
		{[]string{"a", "z"}, "", `--limit "z" matches no node in test.toml (nodes: a, b, c)`},
		{[]string{"["}, "", "not a valid pattern"},
	} {
		nodes, err := inv.Select(tc.limit)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Select(%v) error = %v, want %q", tc.limit, err, tc.err)
			}
			continue
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.Name)
		}
		if got := strings.Join(names, ","); err != nil || got != tc.want {
			t.Errorf("Select(%v) = %s, %v; want %s", tc.limit, got, err, tc.want)
		}
	}
}
