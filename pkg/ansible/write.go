package ansible

import (
	"fmt"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// tomlValue is v as a TOML value, by go-toml's encoder: whatever a
// hostname or a user holds, it stays one value.
func tomlValue(v any) string {
	b, err := toml.Marshal(map[string]any{"v": v})
	if err != nil {
		panic(fmt.Sprintf("ansible: encode %T: %v", v, err)) // strings, ints and string lists always encode
	}
	return strings.TrimSpace(strings.TrimPrefix(string(b), "v = "))
}

// comment is text from the document made safe for a TOML comment: one
// line, no control characters (quoted when it has any).
func comment(s string) string { return printable(s) }

// header is the shared part of every imported inventory: natsops's
// defaults for Debian hosts running the distribution's nats-server, as
// inventory/example.toml has them.
const header = `
[cluster]
name = %s%s
port = 6222
# Route credentials (every node dials its peers with them), kept out of the file:
#   user = "route"
#   password = "env:NATS_ROUTE_PASSWORD"

[ssh]
host_key_checking = "strict"    # known_hosts must know every host (ssh-keyscan, or one Ansible run)
# user, port and proxy_jump come per node from Ansible; unset ones fall back
# to ~/.ssh/config and OpenSSH's defaults, as they do for Ansible.

[service]
manager = "systemd"
unit = "nats-server"
config_path = "/etc/nats-server.conf"   # Debian's nats-server package
binary = "/usr/sbin/nats-server"
user = "nats"
install = "package"             # natsops provision installs the distribution's nats-server
# nats_version = "2.9.10"       # Debian bookworm's: lint then refuses options it lacks

[server]
listen_host = "0.0.0.0"
port = 4222
http_port = 8222                # natsops reads /healthz, /varz, /routez, /jsz here
write_deadline = "3s"
lame_duck_duration = "30s"
lame_duck_grace_period = "10s"

[server.log]
file = "/var/log/nats/nats-server.log"
time = true
size_limit = "100MB"

# Clients log in: add users (natsops hash-password makes bcrypt hashes), e.g.
# [[server.auth.users]]
# user = "app"
# password = "$2a$11$..."

[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"

[tune]
nofile = 1024000                # systemd LimitNOFILE and limits.d nofile (natsops tune)
`

// write renders the commented inventory.
func (r *Result) write(source string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# natsops inventory imported from Ansible by `natsops inventory import`.\n")
	fmt.Fprintf(&b, "#   source: %s\n", comment(source))
	fmt.Fprintf(&b, "#   group:  %s, %d hosts (its children's included)\n", comment(r.Group), len(r.Nodes))
	fmt.Fprintf(&b, "# Each node's values say which Ansible variable they came from; the\n")
	fmt.Fprintf(&b, "# variables natsops does not use are listed by name (never their values).\n")
	fmt.Fprintf(&b, "# The shared settings are natsops's defaults: review them, then\n")
	fmt.Fprintf(&b, "#   natsops validate -i THIS_FILE\n")
	fmt.Fprintf(&b, header, tomlValue(r.Cluster), "                # from "+comment(r.ClusterFrom))
	for _, n := range r.Nodes {
		b.WriteString("\n[[node]]\n")
		fmt.Fprintf(&b, "# Ansible host %s\n", comment(n.Ansible))
		line := func(key string, v any, from string) {
			kv := key + " = " + tomlValue(v)
			if pad := 32 - len(kv); pad > 0 {
				kv += strings.Repeat(" ", pad)
			}
			fmt.Fprintf(&b, "%s  # %s\n", kv, comment(from))
		}
		line("name", n.Name, n.From["name"])
		line("host", n.Host, n.From["host"])
		if n.RouteHost != "" {
			line("route_host", n.RouteHost, n.From["route_host"])
		}
		if n.Connection != "" {
			line("connection", n.Connection, n.From["connection"])
		}
		if n.User != "" {
			line("ssh.user", n.User, n.From["ssh.user"])
		}
		if n.Port != 0 {
			line("ssh.port", n.Port, n.From["ssh.port"])
		}
		if n.IdentityFile != "" {
			line("ssh.identity_file", n.IdentityFile, n.From["ssh.identity_file"])
		}
		if n.ProxyJump != "" {
			line("ssh.proxy_jump", n.ProxyJump, n.From["ssh.proxy_jump"])
		}
		if len(n.Tags) > 0 {
			line("tags", n.Tags, n.From["tags"])
		}
		if len(n.Ignored) > 0 {
			fmt.Fprintf(&b, "# ignored: %s\n", comment(strings.Join(n.Ignored, ", ")))
		}
	}
	return []byte(b.String())
}
