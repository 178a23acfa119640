package remote

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/natsops/natsops/pkg/cluster"
)

// Host key checking modes (inventory `host_key_checking`).
const (
	// HostKeyStrict refuses unknown hosts and changed keys (the default).
	HostKeyStrict = "strict"
	// HostKeyAcceptNew trusts and records a host's key on first use, like
	// OpenSSH's StrictHostKeyChecking=accept-new; a changed key is refused.
	HostKeyAcceptNew = "accept-new"
	// HostKeyInsecure accepts any key, with a warning on every dial. For
	// throwaway labs only.
	HostKeyInsecure = "insecure"
)

// DefaultConnectTimeout bounds the TCP connect plus the SSH handshake when
// neither the inventory nor ~/.ssh/config sets one.
const DefaultConnectTimeout = 10 * time.Second

// Target is everything needed to reach one node over SSH, resolved from the
// inventory, ~/.ssh/config and OpenSSH's defaults (see TargetFromNode).
type Target struct {
	// Node is the inventory node name used in every message ("n2"); for a
	// jump host it is the jump host's name as written in ProxyJump.
	Node string
	// Host is the address dialled and looked up in known_hosts (after
	// ~/.ssh/config HostName).
	Host string
	Port int
	User string
	// IdentityFiles are private keys tried after ssh-agent's keys. Missing
	// files are skipped when IdentitiesDefault is set (OpenSSH's default
	// list), and are an error otherwise.
	IdentityFiles     []string
	IdentitiesDefault bool
	// KnownHosts are the known_hosts files; accept-new appends to the first.
	KnownHosts      []string
	HostKeyChecking string
	// ProxyJump are the jump hosts, dialled in order; the last one dials
	// this target.
	ProxyJump      []Target
	ConnectTimeout time.Duration
	// Sudo: privileged commands go through sudo (default true). False means
	// the inventory says the user needs no sudo.
	Sudo bool
}

// Addr is host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// label is "n2 (10.0.0.2:22)" or, through jump hosts,
// "n2 (10.0.0.2:22 via bastion)".
func (t Target) label() string {
	var via []string
	for _, j := range t.ProxyJump {
		via = append(via, j.Node)
	}
	if len(via) > 0 {
		return fmt.Sprintf("%s (%s via %s)", t.Node, t.Addr(), strings.Join(via, ","))
	}
	return fmt.Sprintf("%s (%s)", t.Node, t.Addr())
}

// Env is what target resolution reads from the operator's machine. It is
// filled once, at the edge (LoadEnv), so resolution itself is pure and
// testable.
type Env struct {
	// Home is the home directory "~" expands to.
	Home string
	// User is the local user name (OpenSSH's default remote user).
	User string
	// Getenv looks up environment variables (SSH_AUTH_SOCK); nil means none.
	Getenv func(string) string
	// SSHConfig is the parsed ~/.ssh/config; nil means none.
	SSHConfig *ssh_config.Config
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// LoadEnv reads the real environment: home directory, current user,
// os.Getenv and ~/.ssh/config (a missing file is no config; a broken one
// is an error naming it).
func LoadEnv() (Env, error) {
	env := Env{Getenv: os.Getenv}
	home, err := os.UserHomeDir()
	if err != nil {
		return env, fmt.Errorf("ssh: cannot find the home directory: %w", err)
	}
	env.Home = home
	if u, err := user.Current(); err == nil {
		env.User = u.Username
	} else {
		env.User = os.Getenv("USER")
	}
	path := filepath.Join(home, ".ssh", "config")
	data, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return env, nil
	case err != nil:
		return env, fmt.Errorf("ssh: %s: %w", path, err)
	}
	cfg, err := ParseSSHConfig(data)
	if err != nil {
		return env, fmt.Errorf("ssh: %s: %w", path, err)
	}
	env.SSHConfig = cfg
	return env, nil
}

// ParseSSHConfig parses ssh_config(5) text with kevinburke/ssh_config.
func ParseSSHConfig(data []byte) (*ssh_config.Config, error) {
	return ssh_config.Decode(bytes.NewReader(data))
}

func (e Env) cfg(alias, key string) string {
	if e.SSHConfig == nil {
		return ""
	}
	v, err := e.SSHConfig.Get(alias, key)
	if err != nil {
		return ""
	}
	return v
}

func (e Env) cfgAll(alias, key string) []string {
	if e.SSHConfig == nil {
		return nil
	}
	v, err := e.SSHConfig.GetAll(alias, key)
	if err != nil {
		return nil
	}
	return v
}

// expand resolves "~" and "~/x" against home and a relative path against
// base (the inventory dir for inventory values; ssh_config values are given
// base "" and stay relative to the working directory, as in OpenSSH).
func (e Env) expand(p, base string) string {
	switch {
	case p == "~":
		return e.Home
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(e.Home, p[2:])
	case filepath.IsAbs(p) || base == "":
		return p
	}
	return filepath.Join(base, p)
}

// TargetFromNode resolves how to reach n. Each setting comes from, in
// order: the inventory (per node, then [ssh]); ~/.ssh/config for the node's
// host as an alias (HostName, User, Port, IdentityFile, ProxyJump,
// UserKnownHostsFile, ConnectTimeout); OpenSSH's defaults (port 22, the
// local user, ~/.ssh/id_ed25519, id_ecdsa, id_rsa, ~/.ssh/known_hosts).
// Relative inventory paths are taken from inventoryDir.
func TargetFromNode(n *cluster.Node, inventoryDir string, env Env) (Target, error) {
	s := n.SSH
	alias := n.Host
	t := Target{Node: n.Name, HostKeyChecking: HostKeyStrict, Sudo: true, ConnectTimeout: DefaultConnectTimeout}
	t.Host = alias
	if hn := env.cfg(alias, "HostName"); hn != "" {
		t.Host = strings.ReplaceAll(hn, "%h", alias)
	}
	if s.User != nil {
		t.User = *s.User
	} else if u := env.cfg(alias, "User"); u != "" {
		t.User = u
	} else {
		t.User = env.User
	}
	port, err := resolvePort(s.Port, env.cfg(alias, "Port"))
	if err != nil {
		return t, fmt.Errorf("%s: ssh_config Port for %s: %w", n.Name, alias, err)
	}
	t.Port = port
	sshDir := filepath.Join(env.Home, ".ssh")
	if s.IdentityFile != nil {
		t.IdentityFiles = []string{env.expand(*s.IdentityFile, inventoryDir)}
	} else if ids := env.cfgAll(alias, "IdentityFile"); len(ids) > 0 {
		for _, id := range ids {
			t.IdentityFiles = append(t.IdentityFiles, env.expand(id, ""))
		}
	} else {
		t.IdentityFiles = defaultIdentities(env)
		t.IdentitiesDefault = true
	}
	if s.KnownHosts != nil {
		t.KnownHosts = []string{env.expand(*s.KnownHosts, inventoryDir)}
	} else if kh := env.cfg(alias, "UserKnownHostsFile"); kh != "" {
		for _, f := range strings.Fields(kh) {
			t.KnownHosts = append(t.KnownHosts, env.expand(f, ""))
		}
	} else {
		t.KnownHosts = []string{filepath.Join(sshDir, "known_hosts")}
	}
	if s.HostKeyChecking != nil {
		switch m := *s.HostKeyChecking; m {
		case HostKeyStrict, HostKeyAcceptNew, HostKeyInsecure:
			t.HostKeyChecking = m
		default:
			return t, fmt.Errorf("%s: unknown host_key_checking %q: use %q, %q or %q", n.Name, m, HostKeyStrict, HostKeyAcceptNew, HostKeyInsecure)
		}
	}
	if s.ConnectTimeout != nil && s.ConnectTimeout.Duration > 0 {
		t.ConnectTimeout = s.ConnectTimeout.Duration
	} else if ct := env.cfg(alias, "ConnectTimeout"); ct != "" {
		if sec, err := strconv.Atoi(ct); err == nil && sec > 0 {
			t.ConnectTimeout = time.Duration(sec) * time.Second
		}
	}
	if s.Sudo != nil {
		t.Sudo = *s.Sudo
	}
	jump := ""
	if s.ProxyJump != nil {
		jump = *s.ProxyJump
	} else {
		jump = env.cfg(alias, "ProxyJump")
	}
	if jump != "" && jump != "none" {
		hops, err := parseJumps(jump, t, env)
		if err != nil {
			return t, fmt.Errorf("%s: proxy_jump %q: %w", n.Name, jump, err)
		}
		t.ProxyJump = hops
	}
	return t, nil
}

func resolvePort(inv *int, cfg string) (int, error) {
	if inv != nil {
		return *inv, nil
	}
	if cfg == "" {
		return 22, nil
	}
	p, err := strconv.Atoi(cfg)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port", cfg)
	}
	return p, nil
}

func defaultIdentities(env Env) []string {
	d := filepath.Join(env.Home, ".ssh")
	return []string{filepath.Join(d, "id_ed25519"), filepath.Join(d, "id_ecdsa"), filepath.Join(d, "id_rsa")}
}

// parseJumps resolves a ProxyJump list "[user@]host[:port],..." (each host
// may be an ~/.ssh/config alias). A jump host's own settings come from
// ~/.ssh/config; where that says nothing it uses the node's known_hosts
// files (plus ~/.ssh/known_hosts), identity files, host key checking and
// timeout, and the local user, as OpenSSH would.
func parseJumps(spec string, node Target, env Env) ([]Target, error) {
	var hops []Target
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty jump host")
		}
		part = strings.TrimPrefix(part, "ssh://")
		var u string
		if i := strings.LastIndexByte(part, '@'); i >= 0 {
			u, part = part[:i], part[i+1:]
		}
		alias, portStr := part, ""
		if h, p, err := net.SplitHostPort(part); err == nil {
			alias, portStr = h, p
		} else if strings.Count(part, ":") == 1 {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		if alias == "" {
			return nil, fmt.Errorf("jump host %q has no host name", part)
		}
		h := Target{Node: alias, Host: alias, HostKeyChecking: node.HostKeyChecking, ConnectTimeout: node.ConnectTimeout}
		if hn := env.cfg(alias, "HostName"); hn != "" {
			h.Host = strings.ReplaceAll(hn, "%h", alias)
		}
		switch {
		case u != "":
			h.User = u
		case env.cfg(alias, "User") != "":
			h.User = env.cfg(alias, "User")
		default:
			h.User = env.User
		}
		if portStr != "" {
			p, err := strconv.Atoi(portStr)
			if err != nil || p < 1 || p > 65535 {
				return nil, fmt.Errorf("jump host %q: %q is not a port", part, portStr)
			}
			h.Port = p
		} else {
			p, err := resolvePort(nil, env.cfg(alias, "Port"))
			if err != nil {
				return nil, fmt.Errorf("ssh_config Port for %s: %w", alias, err)
			}
			h.Port = p
		}
		sshDir := filepath.Join(env.Home, ".ssh")
		if ids := env.cfgAll(alias, "IdentityFile"); len(ids) > 0 {
			for _, id := range ids {
				h.IdentityFiles = append(h.IdentityFiles, env.expand(id, ""))
			}
		} else {
			h.IdentityFiles = append(h.IdentityFiles, node.IdentityFiles...)
			h.IdentitiesDefault = true
			for _, d := range defaultIdentities(env) {
				if !contains(h.IdentityFiles, d) {
					h.IdentityFiles = append(h.IdentityFiles, d)
				}
			}
		}
		if kh := env.cfg(alias, "UserKnownHostsFile"); kh != "" {
			for _, f := range strings.Fields(kh) {
				h.KnownHosts = append(h.KnownHosts, env.expand(f, ""))
			}
		} else {
			h.KnownHosts = append(h.KnownHosts, node.KnownHosts...)
			if d := filepath.Join(sshDir, "known_hosts"); !contains(h.KnownHosts, d) {
				h.KnownHosts = append(h.KnownHosts, d)
			}
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
