package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/natsops/natsops/pkg/cluster"
)

// Rule describes one lint rule. IDs are stable: scripts may filter on them.
type Rule struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Why      string   `json:"why"`
}

// Lint rule IDs.
const (
	LTrace            = "L001"
	LDebug            = "L002"
	LPlaintextSecret  = "L003"
	LMaxConnZero      = "L004"
	LMaxConnNofile    = "L005"
	LPayloadLarge     = "L006"
	LPayloadPending   = "L007"
	LClusterNoName    = "L008"
	LJetStreamFew     = "L009"
	LWriteDeadline    = "L010"
	LLameDuck         = "L011"
	LNoAuth           = "L012"
	LStoreDir         = "L013"
	LLogNoRotation    = "L014"
	LControlLineSmall = "L015"
	LRouteNoAuth      = "L016"
	LShortSecret      = "L017"
	LInsecureSSH      = "L018"
	LServerTooOld     = "L019"
	// What only several clusters together show (lintEstate).
	LGatewayNoTLS    = "L020"
	LLeafNoCreds     = "L021"
	LDomainClash     = "L022"
	LJetStreamSingle = "L023"
)

// Rules lists every lint rule, for `natsops validate --rules` and the docs.
var rules = []Rule{
	{LTrace, "trace-enabled", SevWarning, "trace logs every message; the seed measured a drop of two orders of magnitude in throughput"},
	{LDebug, "debug-enabled", SevWarning, "debug logging costs throughput and fills disks"},
	{LPlaintextSecret, "plaintext-secret", SevWarning, "a password or token written in the inventory ends up in version control"},
	{LMaxConnZero, "max-connections-zero", SevError, "max_connections = 0 rejects every client"},
	{LMaxConnNofile, "max-connections-over-nofile", SevWarning, "each connection is a file descriptor; past the nofile limit clients see \"no servers available\" (a static check against the inventory: natsops status, check and tune show the running server's limit)"},
	{LPayloadLarge, "max-payload-large", SevWarning, "nats-server warns above 8MB: big messages stall every client sharing the connection"},
	{LPayloadPending, "max-payload-over-max-pending", SevError, "nats-server refuses to start when max_payload exceeds max_pending"},
	{LClusterNoName, "cluster-no-name", SevWarning, "an unnamed cluster gets a random name per node; JetStream needs a name"},
	{LJetStreamFew, "jetstream-few-nodes", SevWarning, "clustered JetStream needs 3 nodes to keep quorum with one node down"},
	{LWriteDeadline, "write-deadline-range", SevWarning, "too short a write_deadline disconnects healthy clients on a hiccup; too long lets a slow consumer hold memory"},
	{LLameDuck, "lame-duck-timing", SevError, "lame_duck_duration has a 30s minimum and the grace period must be shorter than it"},
	{LNoAuth, "no-auth", SevWarning, "clients on a non-loopback listener connect without credentials"},
	{LStoreDir, "jetstream-store-dir", SevWarning, "without store_dir JetStream writes under /tmp, which a service's PrivateTmp (Debian's unit) wipes on restart"},
	{LLogNoRotation, "log-no-rotation", SevWarning, "a log file without size_limit grows until the disk is full"},
	{LControlLineSmall, "max-control-line-small", SevWarning, "long subjects, reply inboxes and headers fail with \"maximum control line exceeded\""},
	{LRouteNoAuth, "route-no-auth", SevInfo, "any host that reaches the cluster port can join the cluster"},
	{LShortSecret, "short-secret", SevWarning, "short passwords and tokens are guessable"},
	{LInsecureSSH, "ssh-host-key-insecure", SevWarning, "host keys are not checked: anyone on the path can impersonate the node"},
	{LServerTooOld, "option-needs-newer-server", SevError, "the node's nats-server (service.nats_version) refuses options it does not know, and will not start"},
	{LGatewayNoTLS, "gateway-no-tls", SevWarning, "gateway traffic between clusters (often between regions) crosses networks in clear text, credentials included"},
	{LLeafNoCreds, "leaf-no-credentials", SevWarning, "a leaf remote without credentials needs a hub that accepts anyone reaching its leaf port"},
	{LDomainClash, "jetstream-domain-clash", SevError, "clusters joined only by leaf nodes must have different JetStream domains, and the clusters of one supercluster the same one: else their JetStream APIs collide"},
	{LJetStreamSingle, "jetstream-single-node-cluster", SevInfo, "a one-node cluster of an estate holds only R1 streams: an R3 stream cannot be placed there"},
}

// Rules returns the lint rules.
func Rules() []Rule { return append([]Rule(nil), rules...) }

func ruleSeverity(id string) Severity {
	for _, r := range rules {
		if r.ID == id {
			return r.Severity
		}
	}
	return SevWarning
}

// lintNode checks one node's effective settings.
func lintNode(inv *cluster.Inventory, n *cluster.Node, secrets map[string]string) []Finding {
	var out []Finding
	add := func(rule, key, msg, fix string) {
		line, _ := inv.NodeLine(n, key), 0
		out = append(out, Finding{Rule: rule, Severity: ruleSeverity(rule), Node: n.Name, Key: key, File: inv.Path, Line: line, Message: msg, Fix: fix})
	}
	s := n.Server
	if deref(s.Log.Trace, false) {
		add(LTrace, "server.log.trace", "trace logging is on", "set server.log.trace = false (turn it on for one node while debugging)")
	}
	if deref(s.Log.Debug, false) {
		add(LDebug, "server.log.debug", "debug logging is on", "set server.log.debug = false")
	}
	maxConn := deref(s.MaxConnections, server.DEFAULT_MAX_CONNECTIONS)
	if s.MaxConnections != nil && *s.MaxConnections == 0 {
		add(LMaxConnZero, "server.max_connections", "max_connections = 0 rejects every client", "remove it (default 65536) or set the expected connections plus headroom")
	}
	if budget, src := nofileBudget(inv, n); budget > 0 && int64(maxConn)+nofileReserve > budget {
		add(LMaxConnNofile, "server.max_connections", fmt.Sprintf("max_connections %d plus %d descriptors for routes, JetStream and logs exceeds the nofile limit %d (%s); a static check against the inventory, not the running server", maxConn, nofileReserve, budget, src), fmt.Sprintf("raise tune.nofile to at least %d, or lower max_connections; natsops status, check and tune --check show the running server's limit and capacity", int64(maxConn)+nofileReserve))
	}
	payload := int64(deref(s.MaxPayload, cluster.Size(server.MAX_PAYLOAD_SIZE)))
	pending := int64(deref(s.MaxPending, cluster.Size(server.MAX_PENDING_SIZE)))
	if payload > server.MAX_PAYLOAD_MAX_SIZE {
		add(LPayloadLarge, "server.max_payload", fmt.Sprintf("max_payload %s is above 8MB", cluster.Size(payload)), "keep messages at or below \"8MB\"; use the JetStream object store for large data")
	}
	if payload > pending {
		add(LPayloadPending, "server.max_payload", fmt.Sprintf("max_payload %s is above max_pending %s; nats-server will not start", cluster.Size(payload), cluster.Size(pending)), "raise server.max_pending or lower server.max_payload")
	}
	if wd := s.WriteDeadline; wd != nil && (wd.Duration < time.Second || wd.Duration > time.Minute) {
		add(LWriteDeadline, "server.write_deadline", fmt.Sprintf("write_deadline %s is outside 1s..1m", wd.Duration), "use a few seconds (the seed used \"3s\"; nats-server's default is \"10s\")")
	}
	if ld := s.LameDuckDuration; ld != nil && ld.Duration < 30*time.Second {
		add(LLameDuck, "server.lame_duck_duration", fmt.Sprintf("lame_duck_duration %s is below nats-server's 30s minimum", ld.Duration), "use \"30s\" or more")
	}
	ldd := deref(s.LameDuckDuration, cluster.Duration{Duration: server.DEFAULT_LAME_DUCK_DURATION})
	if gp := s.LameDuckGracePeriod; gp != nil && gp.Duration >= ldd.Duration {
		add(LLameDuck, "server.lame_duck_grace_period", fmt.Sprintf("lame_duck_grace_period %s is not below lame_duck_duration %s", gp.Duration, ldd.Duration), "make the grace period shorter than the duration (defaults: 10s and 2m)")
	}
	a := s.Auth
	if a.User == nil && a.Token == nil && len(a.Users) == 0 && !accountUsers(inv) && !isLoopback(*s.ListenHost) {
		add(LNoAuth, "server.auth", fmt.Sprintf("clients on %s:%d need no credentials", *s.ListenHost, *s.Port), "add [server.auth] users (bcrypt password hashes or env: secrets), or listen on 127.0.0.1")
	}
	for _, f := range inv.Secrets(n) {
		if f.Key == "cluster.password" {
			continue // lintInventory: one finding for the cluster
		}
		if f.Secret.Kind() == cluster.SecretLiteral && !cluster.IsBcrypt(string(f.Secret)) {
			add(LPlaintextSecret, f.Key, "plaintext secret in the inventory", "use env:NAME or file:PATH, or store a bcrypt hash (`natsops hash-password`)")
		}
		if v, ok := secrets[f.Key]; ok && !cluster.IsBcrypt(v) && len(v) < 12 {
			add(LShortSecret, f.Key, fmt.Sprintf("secret is only %d characters", len(v)), "use at least 12 random characters")
		}
	}

	if n.JetStreamEnabled() {
		if sd := n.JetStream.StoreDir; sd == nil || *sd == "" || strings.HasPrefix(*sd, "/tmp") {
			add(LStoreDir, "jetstream.store_dir", "JetStream data would live under /tmp", "set jetstream.store_dir, e.g. \"/var/lib/nats/jetstream\"")
		}
	}
	if s.Log.File != nil && s.Log.SizeLimit == nil {
		add(LLogNoRotation, "server.log.size_limit", "log file has no size limit", "set server.log.size_limit (e.g. \"100MB\") and server.log.max_files")
	}
	if cl := s.MaxControlLine; cl != nil && *cl < 1024 {
		add(LControlLineSmall, "server.max_control_line", fmt.Sprintf("max_control_line %d is small", int64(*cl)), "remove it (default 4KB); the seed's 512 breaks long subjects and request inboxes")
	}
	if have, ok := cluster.ParseVersion(n.Service.NATSVersion); ok {
		for _, o := range versionedOptions {
			need, _ := cluster.ParseVersion(o.since)
			if o.set(n, inv) && have.Less(need) {
				add(LServerTooOld, o.key, fmt.Sprintf("%s needs nats-server %s or newer; the node runs %s", o.key, o.since, n.Service.NATSVersion), "remove "+o.key+" or upgrade nats-server on the node")
			}
		}
	}
	if hk := n.SSH.HostKeyChecking; hk != nil && *hk == "insecure" {
		add(LInsecureSSH, "ssh.host_key_checking", "host key checking is off", "use \"strict\" with a known_hosts file, or \"accept-new\"")
	}
	return out
}

// accountUsers: some account of the inventory has users (clients log in
// to their accounts).
func accountUsers(inv *cluster.Inventory) bool {
	for _, a := range inv.File.Accounts {
		if len(a.Users) > 0 {
			return true
		}
	}
	return false
}

// lintInventory checks what concerns the cluster as a whole.
func lintInventory(inv *cluster.Inventory, secrets map[string]string) []Finding {
	var out []Finding
	add := func(rule, key, msg, fix string, also ...string) {
		line, _ := inv.Line(append([]string{key}, also...)...), 0
		out = append(out, Finding{Rule: rule, Severity: ruleSeverity(rule), Key: key, File: inv.Path, Line: line, Message: msg, Fix: fix})
	}
	cl := inv.File.Cluster
	if !inv.Clustered() {
		return out
	}
	if cl.Name == nil || *cl.Name == "" {
		add(LClusterNoName, "cluster.name", "the cluster has no name", "set cluster.name, e.g. \"nats-prod\"")
	}
	var js []string
	for _, n := range inv.Nodes {
		if n.JetStreamEnabled() {
			js = append(js, fmt.Sprintf("node[%d].jetstream.enabled", n.Index))
		}
	}
	if len(js) > 0 && len(js) < 3 {
		add(LJetStreamFew, "jetstream.enabled", fmt.Sprintf("JetStream runs on only %d of the cluster's %d nodes", len(js), len(inv.Nodes)), "run JetStream on 3 or more nodes (or on one standalone server)", js...)
	}
	if cl.Password == nil {
		if !allLoopback(inv.Nodes) {
			add(LRouteNoAuth, "cluster", "routes are not authenticated", "set cluster.user and cluster.password = \"env:NATS_ROUTE_PASSWORD\" (or use cluster TLS with verify)")
		}
	} else {
		if cl.Password.Kind() == cluster.SecretLiteral {
			add(LPlaintextSecret, "cluster.password", "plaintext secret in the inventory", "use env:NAME or file:PATH")
		}
		if v, ok := secrets["cluster.password"]; ok && len(v) < 12 {
			add(LShortSecret, "cluster.password", fmt.Sprintf("secret is only %d characters", len(v)), "use at least 12 random characters")
		}
	}
	return out
}

// nofileReserve is descriptors kept aside for routes, JetStream files, the
// log and the monitoring listener when comparing max_connections to nofile.
const nofileReserve = 1024

// systemdDefaultNofile is systemd's default hard LimitNOFILE; Go raises its
// soft limit to the hard one at start.
const systemdDefaultNofile = 524288

func nofileBudget(inv *cluster.Inventory, n *cluster.Node) (int64, string) {
	if nf := inv.File.Tune.NoFile; nf != nil {
		return *nf, "tune.nofile"
	}
	if n.Service.Manager == "systemd" {
		return systemdDefaultNofile, "systemd's default LimitNOFILE; set tune.nofile to raise it"
	}
	return 0, ""
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

func allLoopback(nodes []*cluster.Node) bool {
	for _, n := range nodes {
		if !isLoopback(*n.Cluster.ListenHost) {
			return false
		}
	}
	return true
}

// versionedOptions are inventory settings that older nats-server releases
// reject as unknown fields.
var versionedOptions = []struct {
	key, since string
	set        func(*cluster.Node, *cluster.Inventory) bool
}{
	{"server.log.max_files", "2.10.0", func(n *cluster.Node, _ *cluster.Inventory) bool { return n.Server.Log.MaxFiles != nil }},
	{"cluster.pool_size", "2.10.0", func(_ *cluster.Node, inv *cluster.Inventory) bool {
		return inv.Clustered() && inv.File.Cluster.PoolSize != nil
	}},
}
