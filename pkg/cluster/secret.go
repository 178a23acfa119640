package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Secret is an inventory value that must never be printed: a literal, an
// environment reference (env:NAME) or a file reference (file:PATH, relative
// to the inventory). A literal may be a bcrypt hash.
type Secret string

// SecretKind says where a secret's value comes from.
type SecretKind int

// Secret sources.
const (
	SecretLiteral SecretKind = iota
	SecretEnv
	SecretFile
)

// Kind reports where the secret comes from.
func (s Secret) Kind() SecretKind {
	switch {
	case strings.HasPrefix(string(s), "env:"):
		return SecretEnv
	case strings.HasPrefix(string(s), "file:"):
		return SecretFile
	}
	return SecretLiteral
}

// String never reveals the value; references are safe to show.
func (s Secret) String() string {
	if s.Kind() == SecretLiteral {
		return "<redacted>"
	}
	return string(s)
}

// MarshalText keeps secrets out of JSON output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var bcryptRE = regexp.MustCompile(`^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$`)

// IsBcrypt reports whether v looks like a bcrypt hash, which nats-server
// compares with bcrypt instead of as plaintext.
func IsBcrypt(v string) bool { return bcryptRE.MatchString(v) }

// Env is the process environment as seen by secret resolution; injected so
// tests and callers need no global state.
type Env func(string) (string, bool)

// Resolve returns the secret's value. dir is the inventory's directory, for
// relative file: paths. Errors name the reference, never the value.
func (s Secret) Resolve(dir string, env Env) (string, error) {
	switch s.Kind() {
	case SecretEnv:
		name := strings.TrimPrefix(string(s), "env:")
		if env == nil {
			env = os.LookupEnv
		}
		v, ok := env(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set; export it before running natsops (or use file:PATH)", name)
		}
		return v, nil
	case SecretFile:
		p := strings.TrimPrefix(string(s), "file:")
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := ReadBounded(p, MaxSecretBytes)
		if err != nil {
			return "", fmt.Errorf("cannot read secret file %s: %v", p, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", p)
		}
		return v, nil
	}
	return string(s), nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// MapEnv is an Env that reads m (tests, and callers that collect the
// variables themselves).
func MapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// SecretField is one secret setting of a node: its inventory key and
// value (a literal, env: or file:).
type SecretField struct {
	Key    string
	Secret Secret
}

// Secrets lists every secret a node's config carries, by inventory key:
// the one place that knows which settings are secret (render resolves
// them, lint checks them, messages are scrubbed of them).
func (inv *Inventory) Secrets(n *Node) []SecretField {
	var out []SecretField
	a := n.Server.Auth
	if a.Password != nil {
		out = append(out, SecretField{"server.auth.password", *a.Password})
	}
	if a.Token != nil {
		out = append(out, SecretField{"server.auth.token", *a.Token})
	}
	for i, u := range a.Users {
		if u.NKey == "" {
			out = append(out, SecretField{fmt.Sprintf("server.auth.users[%d].password", i), u.Password})
		}
	}
	if a.SystemPassword != nil {
		out = append(out, SecretField{"server.auth.system_password", *a.SystemPassword})
	}
	if inv.Clustered() && inv.File.Cluster.Password != nil {
		out = append(out, SecretField{"cluster.password", *inv.File.Cluster.Password})
	}
	if g := inv.File.Gateway; inv.HasGateway() && g.Password != nil {
		out = append(out, SecretField{"gateway.password", *g.Password})
	}
	if l := inv.File.LeafNodes; l != nil {
		if inv.LeafListens() {
			for i, u := range l.Users {
				out = append(out, SecretField{fmt.Sprintf("leafnodes.users[%d].password", i), u.Password})
			}
		}
		for i, r := range l.Remotes {
			if r.Password != nil {
				out = append(out, SecretField{fmt.Sprintf("leafnodes.remotes[%d].password", i), *r.Password})
			}
		}
	}
	for _, name := range inv.AccountNames() {
		for i, u := range inv.File.Accounts[name].Users {
			if u.NKey == "" {
				out = append(out, SecretField{fmt.Sprintf("accounts.%s.users[%d].password", name, i), u.Password})
			}
		}
	}
	return out
}
