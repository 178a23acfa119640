package cluster

// The inventory as written. Pointer fields tell "unset" from "set to the
// zero value", so a node's [node.server] table overrides only the keys it
// names. Every field carries a toml tag: the loader is strict and refuses
// keys that are not listed here.

// File is one inventory file.
type File struct {
	Cluster   ClusterSpec   `toml:"cluster" json:"cluster"`
	SSH       SSHSpec       `toml:"ssh" json:"ssh"`
	Service   ServiceSpec   `toml:"service" json:"service"`
	Server    ServerSpec    `toml:"server" json:"server"`
	JetStream JetStreamSpec `toml:"jetstream" json:"jetstream"`
	Tune      TuneSpec      `toml:"tune" json:"tune"`
	Nodes     []NodeSpec    `toml:"node" json:"nodes"`
	// Gateway joins clusters into a supercluster: estate-wide here,
	// overridden per cluster in [clusters.gateway].
	Gateway *GatewaySpec `toml:"gateway" json:"gateway,omitempty"`
	// LeafNodes is a single-cluster file's leaf node settings (a file
	// with [[clusters]] sets them per cluster).
	LeafNodes *LeafNodesSpec `toml:"leafnodes" json:"leafnodes,omitempty"`
	// Accounts are the estate's accounts (config mode), by name: rendered
	// on every node of every cluster.
	Accounts map[string]AccountSpec `toml:"accounts" json:"accounts,omitempty"`
	// Clusters makes the file an estate of several clusters; [cluster]
	// and the estate-wide tables are then every cluster's defaults.
	Clusters []ClusterEntry `toml:"clusters" json:"clusters,omitempty"`
}

// ClusterEntry is one [[clusters]] entry: a cluster of the estate with
// its nodes and the settings it overrides (estate -> cluster -> node).
type ClusterEntry struct {
	Name       *string        `toml:"name" json:"name,omitempty"`
	Port       *int           `toml:"port" json:"port,omitempty"`
	ListenHost *string        `toml:"listen_host" json:"listen_host,omitempty"`
	PoolSize   *int           `toml:"pool_size" json:"pool_size,omitempty"`
	User       *string        `toml:"user" json:"user,omitempty"`
	Password   *Secret        `toml:"password" json:"password,omitempty"`
	TLS        *TLSSpec       `toml:"tls" json:"tls,omitempty"`
	SSH        SSHSpec        `toml:"ssh" json:"ssh"`
	Service    ServiceSpec    `toml:"service" json:"service"`
	Server     ServerSpec     `toml:"server" json:"server"`
	JetStream  JetStreamSpec  `toml:"jetstream" json:"jetstream"`
	Tune       TuneSpec       `toml:"tune" json:"tune"`
	Gateway    *GatewaySpec   `toml:"gateway" json:"gateway,omitempty"`
	LeafNodes  *LeafNodesSpec `toml:"leafnodes" json:"leafnodes,omitempty"`
	Nodes      []NodeSpec     `toml:"node" json:"nodes"`
}

// GatewaySpec is nats-server's gateway block. The gateway name is the
// cluster's name; every other cluster's gateway URLs are generated from
// the inventory.
type GatewaySpec struct {
	Port       *int    `toml:"port" json:"port,omitempty"`
	ListenHost *string `toml:"listen_host" json:"listen_host,omitempty"`
	// User and Password authenticate gateways both ways: the same on
	// every cluster (each dials the others with them).
	User                 *string  `toml:"user" json:"user,omitempty"`
	Password             *Secret  `toml:"password" json:"password,omitempty"`
	TLS                  *TLSSpec `toml:"tls" json:"tls,omitempty"`
	RejectUnknownCluster *bool    `toml:"reject_unknown_cluster" json:"reject_unknown_cluster,omitempty"`
}

// LeafNodesSpec is nats-server's leafnodes block: a hub listens (Port,
// Users), a leaf cluster dials its hubs (Remotes).
type LeafNodesSpec struct {
	Port       *int             `toml:"port" json:"port,omitempty"`
	ListenHost *string          `toml:"listen_host" json:"listen_host,omitempty"`
	TLS        *TLSSpec         `toml:"tls" json:"tls,omitempty"`
	Users      []LeafUserSpec   `toml:"users" json:"users,omitempty"`
	Remotes    []LeafRemoteSpec `toml:"remotes" json:"remotes,omitempty"`
}

// LeafUserSpec is a user leaf nodes log in as on a hub, bound to an
// account there.
type LeafUserSpec struct {
	User     string `toml:"user" json:"user"`
	Password Secret `toml:"password" json:"password,omitempty"`
	Account  string `toml:"account" json:"account"`
}

// LeafRemoteSpec is one hub a leaf cluster's nodes dial: its URLs are
// the hub's nodes, from the inventory.
type LeafRemoteSpec struct {
	// Hub is the name of the hub cluster in this inventory.
	Hub string `toml:"hub" json:"hub"`
	// Account is the local account the connection is bound to.
	Account string `toml:"account" json:"account,omitempty"`
	// User and Password log in as a hub's leafnodes user; Credentials is a
	// creds file on the node instead (operator mode hubs).
	User        *string  `toml:"user" json:"user,omitempty"`
	Password    *Secret  `toml:"password" json:"password,omitempty"`
	Credentials *string  `toml:"credentials" json:"credentials,omitempty"`
	TLS         *TLSSpec `toml:"tls" json:"tls,omitempty"`
}

// AccountSpec is one account: its users, what it exports and imports,
// and its JetStream limits.
type AccountSpec struct {
	Users     []UserSpec            `toml:"users" json:"users,omitempty"`
	Exports   []ExportSpec          `toml:"exports" json:"exports,omitempty"`
	Imports   []ImportSpec          `toml:"imports" json:"imports,omitempty"`
	JetStream *AccountJetStreamSpec `toml:"jetstream" json:"jetstream,omitempty"`
}

// ExportSpec exports a stream or a service subject.
type ExportSpec struct {
	Stream  string `toml:"stream" json:"stream,omitempty"`
	Service string `toml:"service" json:"service,omitempty"`
}

// ImportSpec imports another account's stream or service export.
type ImportSpec struct {
	Stream  string `toml:"stream" json:"stream,omitempty"`
	Service string `toml:"service" json:"service,omitempty"`
	Account string `toml:"account" json:"account"`
	// To is the local subject a service import is reached at, or the
	// prefix of a stream import ("" keeps the exported subject).
	To string `toml:"to" json:"to,omitempty"`
}

// AccountJetStreamSpec enables JetStream for an account, with limits.
type AccountJetStreamSpec struct {
	MaxMemory    *Size `toml:"max_memory" json:"max_memory,omitempty"`
	MaxFile      *Size `toml:"max_file" json:"max_file,omitempty"`
	MaxStreams   *int  `toml:"max_streams" json:"max_streams,omitempty"`
	MaxConsumers *int  `toml:"max_consumers" json:"max_consumers,omitempty"`
}

// NodeListenSpec is a node's own port and listen host for a listener
// its cluster turns on (gateway, leafnodes).
type NodeListenSpec struct {
	Port       *int    `toml:"port" json:"port,omitempty"`
	ListenHost *string `toml:"listen_host" json:"listen_host,omitempty"`
}

// ClusterSpec is the cluster block shared by every node: routes between the
// nodes are generated from the inventory, never written by hand.
type ClusterSpec struct {
	Name       *string  `toml:"name" json:"name,omitempty"`
	Port       *int     `toml:"port" json:"port,omitempty"`
	ListenHost *string  `toml:"listen_host" json:"listen_host,omitempty"`
	PoolSize   *int     `toml:"pool_size" json:"pool_size,omitempty"`
	User       *string  `toml:"user" json:"user,omitempty"`
	Password   *Secret  `toml:"password" json:"password,omitempty"`
	TLS        *TLSSpec `toml:"tls" json:"tls,omitempty"`
}

// NodeClusterSpec is what one node may override in the cluster block.
type NodeClusterSpec struct {
	Port       *int    `toml:"port" json:"port,omitempty"`
	ListenHost *string `toml:"listen_host" json:"listen_host,omitempty"`
}

// SSHSpec says how natsops reaches a host. Unset values fall back to
// ~/.ssh/config and then OpenSSH's defaults.
type SSHSpec struct {
	User            *string   `toml:"user" json:"user,omitempty"`
	Port            *int      `toml:"port" json:"port,omitempty"`
	IdentityFile    *string   `toml:"identity_file" json:"identity_file,omitempty"`
	KnownHosts      *string   `toml:"known_hosts" json:"known_hosts,omitempty"`
	HostKeyChecking *string   `toml:"host_key_checking" json:"host_key_checking,omitempty"`
	ProxyJump       *string   `toml:"proxy_jump" json:"proxy_jump,omitempty"`
	Sudo            *bool     `toml:"sudo" json:"sudo,omitempty"`
	ConnectTimeout  *Duration `toml:"connect_timeout" json:"connect_timeout,omitempty"`
}

// ServiceSpec says how nats-server runs on a host.
type ServiceSpec struct {
	// Manager is "systemd" (default) or "pidfile" (started by a command,
	// stopped through its pid file, the seed's `gnatsd -c nats.conf &`).
	Manager      *string `toml:"manager" json:"manager,omitempty"`
	Unit         *string `toml:"unit" json:"unit,omitempty"`
	ConfigPath   *string `toml:"config_path" json:"config_path,omitempty"`
	Binary       *string `toml:"binary" json:"binary,omitempty"`
	User         *string `toml:"user" json:"user,omitempty"`
	StartCommand *string `toml:"start_command" json:"start_command,omitempty"`
	// NATSVersion is the nats-server version on the node (e.g. "2.9.10",
	// Debian bookworm's); options it does not know are refused by lint,
	// and `natsops provision` refuses a host whose nats-server is older.
	NATSVersion *string `toml:"nats_version" json:"nats_version,omitempty"`
	// Install is how `natsops provision` puts nats-server on a host:
	// "package" (default: the distribution's package, with apt or dnf) or
	// "binary" (BinarySource uploaded to Binary, which must be absolute).
	Install *string `toml:"install" json:"install,omitempty"`
	// BinarySource is the nats-server binary on the operator's machine
	// (relative to the inventory) that install = "binary" uploads.
	BinarySource *string `toml:"binary_source" json:"binary_source,omitempty"`
	// BinarySHA256 pins BinarySource's SHA-256 (hex): a file that does not
	// match is refused before any host is touched, and the uploaded copy is
	// checked on the host before it replaces anything.
	BinarySHA256 *string `toml:"binary_sha256" json:"binary_sha256,omitempty"`
	// GoMemLimit is the Go runtime's soft memory limit for nats-server
	// (GOMEMLIMIT: bytes, with an optional binary unit as Go reads it,
	// "3GiB"), set by natsops deploy as the unit's Environment=; systemd
	// only. It takes effect at the server's next start.
	GoMemLimit *string `toml:"gomemlimit" json:"gomemlimit,omitempty"`
}

// ServerSpec holds nats-server options; cluster-wide in [server], per node
// in [node.server].
type ServerSpec struct {
	ListenHost          *string        `toml:"listen_host" json:"listen_host,omitempty"`
	Port                *int           `toml:"port" json:"port,omitempty"`
	HTTPPort            *int           `toml:"http_port" json:"http_port,omitempty"`
	HTTPSPort           *int           `toml:"https_port" json:"https_port,omitempty"`
	MaxConnections      *int           `toml:"max_connections" json:"max_connections,omitempty"`
	MaxControlLine      *Size          `toml:"max_control_line" json:"max_control_line,omitempty"`
	MaxPayload          *Size          `toml:"max_payload" json:"max_payload,omitempty"`
	MaxPending          *Size          `toml:"max_pending" json:"max_pending,omitempty"`
	WriteDeadline       *Duration      `toml:"write_deadline" json:"write_deadline,omitempty"`
	PingInterval        *Duration      `toml:"ping_interval" json:"ping_interval,omitempty"`
	PingMax             *int           `toml:"ping_max" json:"ping_max,omitempty"`
	LameDuckDuration    *Duration      `toml:"lame_duck_duration" json:"lame_duck_duration,omitempty"`
	LameDuckGracePeriod *Duration      `toml:"lame_duck_grace_period" json:"lame_duck_grace_period,omitempty"`
	PidFile             *string        `toml:"pid_file" json:"pid_file,omitempty"`
	Tags                []string       `toml:"tags" json:"tags,omitempty"`
	Log                 LogSpec        `toml:"log" json:"log"`
	Auth                AuthSpec       `toml:"auth" json:"auth"`
	TLS                 *TLSSpec       `toml:"tls" json:"tls,omitempty"`
	Websocket           *WebsocketSpec `toml:"websocket" json:"websocket,omitempty"`
}

// LogSpec is nats-server logging. The seed ran with trace on and measured a
// two-orders-of-magnitude slowdown: trace and debug are linted.
type LogSpec struct {
	File      *string `toml:"file" json:"file,omitempty"`
	Time      *bool   `toml:"time" json:"time,omitempty"`
	Debug     *bool   `toml:"debug" json:"debug,omitempty"`
	Trace     *bool   `toml:"trace" json:"trace,omitempty"`
	SizeLimit *Size   `toml:"size_limit" json:"size_limit,omitempty"`
	MaxFiles  *int    `toml:"max_files" json:"max_files,omitempty"`
}

// AuthSpec is client authentication: one user, a token, or a list of users
// (with passwords or nkeys) with permissions.
type AuthSpec struct {
	Timeout  *Duration  `toml:"timeout" json:"timeout,omitempty"`
	User     *string    `toml:"user" json:"user,omitempty"`
	Password *Secret    `toml:"password" json:"password,omitempty"`
	Token    *Secret    `toml:"token" json:"token,omitempty"`
	Users    []UserSpec `toml:"users" json:"users,omitempty"`
	// SystemUser and SystemPassword are a user of the system account
	// (rendered as accounts { SYS } and system_account): what natsops
	// connects with to remove a leaving node from the JetStream meta
	// group. The password must be plain (env: or file:): natsops logs in
	// with it.
	SystemUser     *string `toml:"system_user" json:"system_user,omitempty"`
	SystemPassword *Secret `toml:"system_password" json:"system_password,omitempty"`
	// SystemAccount names the account of [accounts] that is the system
	// account, and NoAuthUser the user of an account clients without
	// credentials are: both estate-wide, with [accounts].
	SystemAccount *string `toml:"system_account" json:"system_account,omitempty"`
	NoAuthUser    *string `toml:"no_auth_user" json:"no_auth_user,omitempty"`
}

// UserSpec is one client user: user+password or an nkey.
type UserSpec struct {
	User        string           `toml:"user" json:"user,omitempty"`
	Password    Secret           `toml:"password" json:"password,omitempty"`
	NKey        string           `toml:"nkey" json:"nkey,omitempty"`
	Permissions *PermissionsSpec `toml:"permissions" json:"permissions,omitempty"`
}

// PermissionsSpec limits what a user may publish and subscribe to.
type PermissionsSpec struct {
	Publish        *SubjectPerm `toml:"publish" json:"publish,omitempty"`
	Subscribe      *SubjectPerm `toml:"subscribe" json:"subscribe,omitempty"`
	AllowResponses *bool        `toml:"allow_responses" json:"allow_responses,omitempty"`
}

// SubjectPerm is an allow and a deny list of subjects.
type SubjectPerm struct {
	Allow []string `toml:"allow" json:"allow,omitempty"`
	Deny  []string `toml:"deny" json:"deny,omitempty"`
}

// TLSSpec names certificate files as they are on the node.
type TLSSpec struct {
	CertFile *string   `toml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  *string   `toml:"key_file" json:"key_file,omitempty"`
	CAFile   *string   `toml:"ca_file" json:"ca_file,omitempty"`
	Verify   *bool     `toml:"verify" json:"verify,omitempty"`
	Timeout  *Duration `toml:"timeout" json:"timeout,omitempty"`
}

// WebsocketSpec is nats-server's native websocket listener (the seed ran a
// separate ws-tcp-relay for browsers).
type WebsocketSpec struct {
	Port           *int     `toml:"port" json:"port,omitempty"`
	ListenHost     *string  `toml:"listen_host" json:"listen_host,omitempty"`
	NoTLS          *bool    `toml:"no_tls" json:"no_tls,omitempty"`
	Compression    *bool    `toml:"compression" json:"compression,omitempty"`
	SameOrigin     *bool    `toml:"same_origin" json:"same_origin,omitempty"`
	AllowedOrigins []string `toml:"allowed_origins" json:"allowed_origins,omitempty"`
	TLS            *TLSSpec `toml:"tls" json:"tls,omitempty"`
}

// JetStreamSpec enables persistence.
type JetStreamSpec struct {
	Enabled   *bool   `toml:"enabled" json:"enabled,omitempty"`
	StoreDir  *string `toml:"store_dir" json:"store_dir,omitempty"`
	MaxMemory *Size   `toml:"max_memory" json:"max_memory,omitempty"`
	MaxFile   *Size   `toml:"max_file" json:"max_file,omitempty"`
	// Domain is the JetStream domain: a leaf cluster's own, so its
	// streams stay apart from the hub's.
	Domain *string `toml:"domain" json:"domain,omitempty"`
}

// TuneSpec is the desired host tuning, applied by `natsops tune`.
type TuneSpec struct {
	// NoFile is the open-files limit for nats-server (systemd LimitNOFILE and
	// limits.d nofile). The seed used 1024000.
	NoFile *int64 `toml:"nofile" json:"nofile,omitempty"`
	// Sysctl maps kernel parameter names to values (integer or string).
	Sysctl map[string]any `toml:"sysctl" json:"sysctl,omitempty"`
}

// NodeSpec is one [[node]] entry.
type NodeSpec struct {
	Name string `toml:"name" json:"name"`
	// Host is where natsops connects (an address or an ~/.ssh/config alias).
	Host string `toml:"host" json:"host"`
	// RouteHost is the address peers use for cluster routes; defaults to Host.
	RouteHost  string          `toml:"route_host" json:"route_host,omitempty"`
	Connection string          `toml:"connection" json:"connection,omitempty"`
	Tags       []string        `toml:"tags" json:"tags,omitempty"`
	SSH        SSHSpec         `toml:"ssh" json:"ssh"`
	Service    ServiceSpec     `toml:"service" json:"service"`
	Server     ServerSpec      `toml:"server" json:"server"`
	Cluster    NodeClusterSpec `toml:"cluster" json:"cluster"`
	JetStream  JetStreamSpec   `toml:"jetstream" json:"jetstream"`
	Gateway    NodeListenSpec  `toml:"gateway" json:"gateway"`
	LeafNodes  NodeListenSpec  `toml:"leafnodes" json:"leafnodes"`
	// Remove takes the node out of the cluster at the next deploy: lame
	// duck, stop, disable, JetStream peer removal, then the others drop
	// its route. It stays listed so natsops can reach it.
	Remove bool `toml:"remove" json:"remove,omitempty"`
}
