package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The estate topology: a supercluster of two hub clusters joined by
// gateways and a leaf node attached to one hub, each node a container
// like the testbed's (same image, Debian's nats-server with its
// standalone default config), started beside the running testbed on its
// network and with its key. It is not an `up` mode: the single-cluster
// testbed n1..nN stays as it is, and a test (or `testbed.sh estate`)
// starts the estate's nodes fresh and removes them (DownEstate).
const (
	// GatewayPort and LeafPort are the estate inventory's gateway and
	// leaf node ports (nats-server's defaults).
	GatewayPort = 7222
	LeafPort    = 7422
	// EstateHub is the hub the leaf cluster dials.
	EstateHub = "east"
	// AppAccount holds the clients and the leaf connection; SysAccount is
	// the system account (nats-server refuses gateways and leaf nodes
	// together without one).
	AppAccount = "APP"
	SysAccount = "SYS"
	// AppUser, SysUser, LeafUser and GatewayUser are the estate's users;
	// their passwords are Secret(name) (generated per run).
	AppUser     = "app"
	SysUser     = "sys"
	LeafUser    = "leaf"
	GatewayUser = "gateway"
	// EdgeDomain is the leaf cluster's JetStream domain.
	EdgeDomain = "edge"

	estateStateFile = "estate.json"
	estateSecrets   = "estate-secrets"
)

// EstateClusters is the estate's layout, in inventory order: the hubs
// east and west (2 nodes each, gateways), the leaf cluster edge (one
// node, a leaf of east).
var EstateClusters = []struct {
	Name  string
	Nodes int
}{{"east", 2}, {"west", 2}, {"edge", 1}}

// EstateIP is estate node i's (1-based, in EstateClusters order) address.
func EstateIP(i int) string { return fmt.Sprintf("10.213.77.%d", 40+i) }

// EstateNodes are the estate's nodes: <cluster>-<i>, EstateIP, containers
// natsops-testbed-<name>.
func EstateNodes() []Node {
	var out []Node
	i := 0
	for _, c := range EstateClusters {
		for j := 1; j <= c.Nodes; j++ {
			i++
			name := fmt.Sprintf("%s-%d", c.Name, j)
			out = append(out, Node{Name: name, Host: EstateIP(i), Container: Prefix + "-" + name, Cluster: c.Name})
		}
	}
	return out
}

// Estate is a running estate: a Testbed whose Nodes are the estate's
// (faults, Exec, HTTPGet, WaitSSH work on them by name), its inventory and
// the directory of its secrets.
type Estate struct {
	*Testbed
	SecretsDir string `json:"secrets_dir"`
}

// ClusterNodes are the estate's nodes of cluster name.
func (e *Estate) ClusterNodes(name string) []Node {
	var out []Node
	for _, n := range e.Nodes {
		if n.Cluster == name {
			out = append(out, n)
		}
	}
	return out
}

// Secret is the password of one of the estate's users (AppUser, SysUser,
// LeafUser, GatewayUser), as the inventory's file: reference holds it.
func (e *Estate) Secret(user string) (string, error) {
	b, err := os.ReadFile(filepath.Join(e.SecretsDir, user))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// WriteInventory writes the estate's inventory (EstateInventory, with
// this run's key, known_hosts, secrets and [tune] pins) to path, which
// must be in e.Dir (the paths in it are relative).
func (e *Estate) WriteInventory(path string, hubsWithoutJetStream bool) error {
	if filepath.Dir(path) != e.Dir {
		return fmt.Errorf("testbed: %s: an estate inventory goes in %s", path, e.Dir)
	}
	inv := EstateInventory(e.Nodes, EstateSpec{
		Identity: filepath.Base(e.IdentityFile), KnownHosts: filepath.Base(e.KnownHostsFile), Secrets: filepath.Base(e.SecretsDir),
		Generator: "testbed/estate.go (UpEstate)", Tune: e.Kernel.Tune(), HubsWithoutJetStream: hubsWithoutJetStream,
	})
	return os.WriteFile(path, []byte(inv), 0o644)
}

// UpEstate starts the estate's nodes (EstateNodes) beside the running
// testbed, removing any a previous run left, each with Debian's
// standalone nats-server as the image ships it. It writes
// estate_known_hosts, fresh secrets under estate-secrets/ and
// estate-inventory.toml (EstateInventory) into tb.Dir, and returns once
// every node accepts SSH and answers /healthz.
func (tb *Testbed) UpEstate(ctx context.Context, log func(string, ...any)) (*Estate, error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	if err := DownEstate(ctx, tb.Dir); err != nil {
		return nil, err
	}
	if _, err := Docker(ctx, nil, "image", "inspect", "-f", "{{.Id}}", tb.Image); err != nil {
		return nil, fmt.Errorf("testbed: node image %s missing, build it with testbed/build.sh: %w", tb.Image, err)
	}
	pub, err := os.ReadFile(tb.IdentityFile + ".pub")
	if err != nil {
		return nil, err
	}
	e := &Estate{
		Testbed: &Testbed{
			Dir: tb.Dir, Image: tb.Image, Network: tb.Network, IdentityFile: tb.IdentityFile, Kernel: tb.Kernel,
			KnownHostsFile: filepath.Join(tb.Dir, "estate_known_hosts"),
			InventoryFile:  filepath.Join(tb.Dir, "estate-inventory.toml"),
			Nodes:          EstateNodes(),
		},
		SecretsDir: filepath.Join(tb.Dir, estateSecrets),
	}
	if err := writeSecrets(e.SecretsDir); err != nil {
		return nil, err
	}
	hostKeys, err := startNodes(ctx, e.Nodes, e.Image, "estate", pub, log)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(e.KnownHostsFile, []byte(strings.Join(hostKeys, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := e.WriteInventory(e.InventoryFile, false); err != nil {
		return nil, err
	}
	state, _ := json.MarshalIndent(e, "", "  ")
	if err := os.WriteFile(filepath.Join(tb.Dir, estateStateFile), append(state, '\n'), 0o644); err != nil {
		return nil, err
	}
	err = forEach(e.Nodes, func(_ int, n Node) error {
		if err := e.WaitSSH(ctx, n.Name, 90*time.Second); err != nil {
			return err
		}
		if err := e.WaitHealthz(ctx, n.Name, 60*time.Second); err != nil {
			return err
		}
		log("%s: %s ssh ok, healthz ok (estate, cluster %s)", n.Name, n.Host, n.Cluster)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DownEstate removes the estate's nodes and the state UpEstate wrote in
// dir (Down removes the nodes too).
func DownEstate(ctx context.Context, dir string) error {
	var errs []error
	ids, err := Docker(ctx, nil, "ps", "-aq", "--filter", "label="+Label+"=estate")
	if err != nil {
		errs = append(errs, err)
	}
	if ids != "" {
		for _, id := range strings.Fields(ids) {
			Docker(ctx, nil, "unpause", id) //nolint:errcheck // most are not paused
		}
		if _, err := Docker(ctx, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	if dir != "" {
		if err := os.Remove(filepath.Join(dir, estateStateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadEstate reads the state UpEstate wrote into dir.
func LoadEstate(dir string) (*Estate, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, estateStateFile))
	if err != nil {
		return nil, fmt.Errorf("testbed: no estate state in %s (run `testbed/testbed.sh estate`): %w", dir, err)
	}
	e := &Estate{Testbed: &Testbed{}}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", filepath.Join(dir, estateStateFile), err)
	}
	e.Dir = dir
	return e, nil
}

// writeSecrets writes a fresh random password per estate user into dir
// (mode 0600 files, the inventory's file: references).
func writeSecrets(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, u := range []string{AppUser, SysUser, LeafUser, GatewayUser} {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, u), []byte(u+"-"+hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// EstateSpec says how EstateInventory writes the estate's inventory.
type EstateSpec struct {
	// Identity, KnownHosts and Secrets (the directory of Secret's files)
	// are written as given: relative paths resolve against the
	// inventory's directory.
	Identity, KnownHosts, Secrets string
	// Generator is named in the header.
	Generator string
	// Tune, when not nil, becomes the [tune] table as in Inventory.
	Tune *Tune
	// HubsWithoutJetStream turns JetStream off on the hubs (edge keeps
	// its own domain): see the e2e test for why.
	HubsWithoutJetStream bool
}

// EstateInventory renders the natsops estate inventory for nodes
// (EstateNodes: Cluster says which cluster each belongs to): the hubs
// east and west joined by gateways on GatewayPort with a user and
// password, east accepting leaf nodes on LeafPort as LeafUser bound to
// AppAccount, edge dialling east as that user into its own AppAccount,
// accounts AppAccount (a client user, JetStream limits) and SysAccount
// (the system account), JetStream on the hubs (no domain) and on edge in
// EdgeDomain.
func EstateInventory(nodes []Node, spec EstateSpec) string {
	secrets, identity, knownHosts, tune := spec.Secrets, spec.Identity, spec.KnownHosts, spec.Tune
	secret := func(user string) string { return "file:" + secrets + "/" + user }
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by %s — do not edit\n", spec.Generator)
	fmt.Fprintf(&b, `# The testbed's estate: hubs east and west joined by gateways (a
# supercluster), edge a leaf node of east. The whole estate, one
# cluster at a time (or one with --cluster NAME):
#   natsops -i estate-inventory.toml deploy --yes
[cluster]
port = %d

[ssh]
user = %q
port = 22
identity_file = %q
known_hosts = %q
host_key_checking = "strict"

[service]
manager = "systemd"
unit = "nats-server"
config_path = "/etc/nats-server.conf"
binary = "/usr/sbin/nats-server"
user = "nats"

[server]
port = 4222
http_port = 8222
# A cut connection (faults) is noticed in seconds, not minutes; a
# graceful restart's lame duck is nats-server's minimum.
ping_interval = "2s"
ping_max = 2
lame_duck_duration = "30s"
lame_duck_grace_period = "1s"

[server.auth]
system_account = %q

[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"

# The hubs' gateways (edge, a leaf cluster, runs none).
[gateway]
port = %d
user = %q
password = %q

[accounts.%[9]s]
[[accounts.%[9]s.users]]
user = %[10]q
password = %[11]q

# Configured accounts have JetStream only with limits of their own.
[accounts.%[9]s.jetstream]
max_memory = "256MB"
max_file = "1GB"

[accounts.%[12]s]
[[accounts.%[12]s.users]]
user = %[13]q
password = %[14]q
`, RoutePort, User, identity, knownHosts, SysAccount,
		GatewayPort, GatewayUser, secret(GatewayUser),
		AppAccount, AppUser, secret(AppUser),
		SysAccount, SysUser, secret(SysUser))
	if tune != nil {
		b.WriteString("\n# What the containers cannot change, pinned (see inventory.toml).\n[tune]\n")
		fmt.Fprintf(&b, "nofile = %d\n", tune.NoFile)
		if len(tune.Sysctl) > 0 {
			b.WriteString("\n[tune.sysctl]\n")
			for _, kv := range tune.Sysctl {
				fmt.Fprintf(&b, "%q = %q\n", kv[0], kv[1])
			}
		}
	}
	for _, c := range EstateClusters {
		fmt.Fprintf(&b, "\n[[clusters]]\nname = %q\n", c.Name)
		if c.Name != "edge" && spec.HubsWithoutJetStream {
			b.WriteString("\n[clusters.jetstream]\nenabled = false\n")
		}
		switch {
		case c.Name == EstateHub:
			fmt.Fprintf(&b, `
[clusters.leafnodes]
port = %d
[[clusters.leafnodes.users]]
user = %q
password = %q
account = %q
`, LeafPort, LeafUser, secret(LeafUser), AppAccount)
		case c.Name == "edge":
			fmt.Fprintf(&b, `
[clusters.jetstream]
domain = %q

[[clusters.leafnodes.remotes]]
hub = %q
account = %q
user = %q
password = %q
`, EdgeDomain, EstateHub, AppAccount, LeafUser, secret(LeafUser))
		}
		for _, n := range nodes {
			if n.Cluster == c.Name {
				fmt.Fprintf(&b, "\n[[clusters.node]]\nname = %q\nhost = %q\n", n.Name, n.Host)
			}
		}
	}
	return b.String()
}
