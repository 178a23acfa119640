// Package natscontext turns a cluster of the inventory into a natscli
// context (`nats --context NAME ...`) and writes it where natscli reads
// it: one JSON file per context in $XDG_CONFIG_HOME/nats/context (default
// ~/.config/nats/context), the layout and fields of natscli v0.5.0
// (github.com/nats-io/jsm.go/natscontext).
//
// The boundary is real: it is the one place that knows natscli's context
// format and how natscli resolves credentials (a password or token may be
// an env://NAME or file:///PATH reference that natscli reads when it
// connects), which inventory user a context logs in as, and which files
// natsops may overwrite (only the ones whose description says natsops
// wrote them). It reads no process state of its own: the environment
// comes in as a cluster.Env, the directory as a path.
package natscontext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/cluster"
)

// DescriptionPrefix starts the description of every context natsops
// writes: the mark that lets it rewrite its own contexts and refuse
// anyone else's (natscli keeps the description; `nats context ls` shows
// it).
const DescriptionPrefix = "written by natsops from "

// Settings are the fields of a natscli context file that natsops sets
// (natscli ignores fields it does not know and defaults the ones left
// out; these are its JSON names).
type Settings struct {
	Description string `json:"description"`
	URL         string `json:"url"`
	User        string `json:"user,omitempty"`
	Password    string `json:"password,omitempty"`
	Token       string `json:"token,omitempty"`
	CA          string `json:"ca,omitempty"`
	JSDomain    string `json:"jetstream_domain,omitempty"`
}

// Dir is natscli's context directory: $XDG_CONFIG_HOME/nats/context, or
// HOME/.config/nats/context (natscli's default file backend).
func Dir(env cluster.Env, home string) (string, error) {
	if v, ok := env("XDG_CONFIG_HOME"); ok && v != "" {
		return filepath.Join(v, "nats", "context"), nil
	}
	if home == "" {
		return "", errors.New("cannot find natscli's context directory: neither XDG_CONFIG_HOME nor a home directory is set; pass --dir")
	}
	return filepath.Join(home, ".config", "nats", "context"), nil
}

// Options say how to build contexts.
type Options struct {
	// User is the inventory user to log in as; "" picks the default (the
	// system user, see Build).
	User string
	// WithSecrets writes passwords and tokens in plain text instead of
	// references.
	WithSecrets bool
	// Env resolves env: references (nil: nothing is set).
	Env cluster.Env
	// Source names the inventory in the description.
	Source string
	// Suffix, when set, names the context CLUSTER-SUFFIX: a second
	// context of the same cluster as another user (the system account
	// has no streams: `--user app --suffix app` for stream work).
	Suffix string
}

// Context is one context natsops would write.
type Context struct {
	// Name is the context's name: the cluster's.
	Name    string   `json:"name"`
	Cluster string   `json:"cluster"`
	Servers []string `json:"servers"`
	// User is the inventory user it logs in as ("" none); Why says why
	// that one.
	User string `json:"user,omitempty"`
	Why  string `json:"user_choice,omitempty"`
	// Credential is how the password or token is given, safe to show: an
	// env:// or file:// reference, "plain text (0600)", or "" none.
	Credential string   `json:"credential,omitempty"`
	CA         string   `json:"ca,omitempty"`
	JSDomain   string   `json:"jetstream_domain,omitempty"`
	Notes      []string `json:"notes,omitempty"`
	// Secret reports whether the file holds a password or token in
	// plain text.
	Secret   bool     `json:"secret_in_file"`
	Settings Settings `json:"-"`
}

// Error is a context that cannot be built: Usage when a flag names
// something the inventory does not have (--user), else the inventory
// cannot give a working login.
type Error struct {
	Usage bool
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &Error{Usage: true, Err: fmt.Errorf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...)}
}

// login is one way into the cluster the inventory knows.
type login struct {
	user   string
	secret cluster.Secret
	key    string // inventory key of the secret
	system bool
	nkey   bool
}

// logins lists the users of the cluster as node n has them: the single
// user, [[server.auth.users]], the system user, then the users of the
// estate's [accounts] (sorted by account).
func logins(inv *cluster.Inventory, n *cluster.Node) []login {
	a := n.Server.Auth
	var out []login
	if a.User != nil {
		var p cluster.Secret
		if a.Password != nil {
			p = *a.Password
		}
		out = append(out, login{user: *a.User, secret: p, key: "server.auth.password"})
	}
	for i, u := range a.Users {
		out = append(out, login{user: u.User, secret: u.Password, key: fmt.Sprintf("server.auth.users[%d].password", i), nkey: u.NKey != ""})
	}
	if a.SystemUser != nil {
		var p cluster.Secret
		if a.SystemPassword != nil {
			p = *a.SystemPassword
		}
		out = append(out, login{user: *a.SystemUser, secret: p, key: "server.auth.system_password", system: true})
	}
	sys := ""
	if a.SystemAccount != nil {
		sys = *a.SystemAccount
	}
	for _, name := range inv.AccountNames() {
		for i, u := range inv.File.Accounts[name].Users {
			out = append(out, login{user: u.User, secret: u.Password, key: fmt.Sprintf("accounts.%s.users[%d].password", name, i), system: name == sys, nkey: u.NKey != ""})
		}
	}
	return out
}

func userNames(ls []login) string {
	var names []string
	for _, l := range ls {
		if l.user != "" {
			names = append(names, l.user)
		}
	}
	return text.OrNone(names)
}

// Build is the context for inv's nodes (the selected ones, in order): a
// server URL per node (tls:// when the client port has TLS, with the CA
// when the inventory names one), the JetStream domain, and a login:
//
//   - --user NAME: that user, which must exist;
//   - else the system user (server.auth.system_user, or the first user of
//     the system account): what `nats server ls` and `server report`
//     need;
//   - else the only user, if there is one; else no_auth_user or no auth
//     at all: no user. Several users and no system user: --user decides.
//
// The password (or the cluster's token when it has no users) is written
// as a reference natscli resolves when it connects: env:NAME as
// env://NAME, file:PATH as file:///absolute/path. A plain-text inventory
// password is written only with WithSecrets; a bcrypt hash cannot log in
// and is an error.
func Build(inv *cluster.Inventory, nodes []*cluster.Node, o Options) (*Context, error) {
	name := inv.ClusterName()
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(inv.Path), filepath.Ext(inv.Path))
	}
	base := name
	if err := validName(name); err != nil {
		return nil, err
	}
	if o.Suffix != "" {
		name += "-" + o.Suffix
		if validName(name) != nil {
			return nil, usage("--suffix %q: %q cannot be a natscli context name (no '/', '\\' or '..')", o.Suffix, name)
		}
	}
	if len(nodes) == 0 {
		return nil, usage("cluster %s: no nodes selected; nothing to connect to (drop --limit, or pick nodes of this cluster)", name)
	}
	c := &Context{Name: name, Cluster: inv.ClusterName()}
	first := nodes[0]
	tls := first.Server.TLS != nil && first.Server.TLS.CertFile != nil
	var urls []string
	for _, n := range nodes {
		scheme := "nats"
		if tls {
			scheme = "tls"
		}
		u := scheme + "://" + n.ClientAddr()
		c.Servers = append(c.Servers, u)
		urls = append(urls, u)
	}
	s := Settings{Description: DescriptionPrefix + o.Source + " (cluster " + base + "); rerun natsops contexts --write to update", URL: strings.Join(urls, ",")}
	if tls && first.Server.TLS.CAFile != nil {
		// ca_file is a path on the nodes: written only when it is one
		// here too, else the operator's own (kept on rewrite).
		ca := *first.Server.TLS.CAFile
		if _, err := os.Stat(ca); err == nil {
			s.CA, c.CA = ca, ca
		} else {
			c.Notes = append(c.Notes, fmt.Sprintf("the CA file %s (the path on the nodes) is not readable here, so the context names no CA: copy it here and run: nats context add %s --tlsca FILE (natsops keeps it when it rewrites the context)", ca, name))
		}
	}
	if tls && first.Server.TLS.Verify != nil && *first.Server.TLS.Verify {
		c.Notes = append(c.Notes, fmt.Sprintf("the servers require a client certificate (server.tls.verify), which the inventory does not have: add yours with: nats context add %s --tlscert FILE --tlskey FILE (natsops keeps it when it rewrites the context)", name))
	}
	if d := first.JetStream.Domain; d != nil && *d != "" {
		s.JSDomain, c.JSDomain = *d, *d
	}

	a := first.Server.Auth
	ls := logins(inv, first)
	var pick *login
	switch {
	case o.User != "":
		for i := range ls {
			if ls[i].user == o.User {
				pick = &ls[i]
				break
			}
		}
		if pick == nil {
			return nil, usage("cluster %s: --user %q is not a user of %s (users: %s)", name, o.User, inv.Path, userNames(ls))
		}
		c.Why = "--user"
	default:
		for i := range ls {
			if ls[i].system {
				pick = &ls[i]
				c.Why = "the system user (nats server commands need it)"
				break
			}
		}
		if pick == nil && len(ls) == 1 {
			pick = &ls[0]
			c.Why = "the only user"
			c.Notes = append(c.Notes, "not a system-account user: `nats server ls` and `nats server report` need one (server.auth.system_user)")
		}
		if pick == nil && len(ls) > 1 && (a.NoAuthUser == nil || *a.NoAuthUser == "") {
			return nil, usage("cluster %s has several users and no system user: pick one with --user NAME (users: %s)", name, userNames(ls))
		}
	}

	var secret cluster.Secret
	field := ""
	if pick != nil {
		if pick.nkey {
			return nil, invalid("cluster %s: user %q logs in with an nkey, and the inventory has only its public key; natscli needs the seed: choose another --user, or write your own context with: nats context add NAME --nkey SEEDFILE", name, pick.user)
		}
		c.User, s.User = pick.user, pick.user
		secret, field = pick.secret, pick.key
	} else if a.Token != nil && *a.Token != "" {
		secret, field = *a.Token, "server.auth.token"
	} else if a.NoAuthUser != nil && *a.NoAuthUser != "" {
		c.Why = "no user: clients without credentials are " + *a.NoAuthUser
	} else if len(ls) == 0 {
		c.Why = "no user: the cluster has no client auth"
	}
	if field != "" {
		v, how, err := credential(inv, secret, field, c, o)
		if err != nil {
			return nil, err
		}
		if field == "server.auth.token" {
			s.Token = v
		} else {
			s.Password = v
		}
		c.Credential = how
		c.Secret = how == plainText
	}
	c.Settings = s
	return c, nil
}

const plainText = "plain text (file mode 0600)"

// credential is what goes in the password (or token) field for secret,
// and how to describe it.
func credential(inv *cluster.Inventory, secret cluster.Secret, key string, c *Context, o Options) (value, how string, err error) {
	who := "user " + strconv.Quote(c.User)
	if c.User == "" {
		who = "the token"
	}
	env := o.Env
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	switch secret.Kind() {
	case cluster.SecretEnv:
		name := strings.TrimPrefix(string(secret), "env:")
		if o.WithSecrets {
			v, err := secret.Resolve(inv.Dir, env)
			if err != nil {
				return "", "", invalid("cluster %s: %s (%s = env:%s): %v", c.Name, who, key, name, err)
			}
			return v, plainText, nil
		}
		ref := "env://" + name
		if !referable(ref) {
			return "", "", invalid("cluster %s: %s: natscli cannot read the variable named in %s = env:%s; rename it (letters, digits and _)", c.Name, who, key, name)
		}
		if v, ok := env(name); !ok || v == "" {
			c.Notes = append(c.Notes, fmt.Sprintf("environment variable %s is not set here; nats reads it when it connects: export %s before running nats", name, name))
		}
		return ref, ref, nil
	case cluster.SecretFile:
		p := strings.TrimPrefix(string(secret), "file:")
		if !filepath.IsAbs(p) {
			p = filepath.Join(inv.Dir, p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", "", err
		}
		if o.WithSecrets {
			v, err := secret.Resolve(inv.Dir, env)
			if err != nil {
				return "", "", invalid("cluster %s: %s (%s): %v", c.Name, who, key, err)
			}
			return v, plainText, nil
		}
		ref := "file://" + filepath.ToSlash(abs)
		if !referable(ref) || strings.Contains(abs, "$") {
			return "", "", invalid("cluster %s: %s: natscli cannot read the path %s as a file:// reference (it has %%, $ or other characters a URL cannot carry); move the file, or use --with-secrets", c.Name, who, abs)
		}
		if _, err := os.Stat(abs); err != nil {
			c.Notes = append(c.Notes, fmt.Sprintf("the password file %s is not readable here; nats reads it when it connects", abs))
		}
		return ref, ref, nil
	}
	if secret == "" {
		return "", "", invalid("cluster %s: %s has no password in the inventory (%s)", c.Name, who, key)
	}
	if cluster.IsBcrypt(string(secret)) {
		return "", "", invalid("cluster %s: %s has only a bcrypt hash in the inventory (%s): a hash cannot log in; give the plain password as env:NAME or file:PATH there (nats-server hashes nothing itself), or pick another user with --user", c.Name, who, key)
	}
	if o.WithSecrets {
		return string(secret), plainText, nil
	}
	c.Notes = append(c.Notes, fmt.Sprintf("the inventory has the password in plain text (%s); it is not copied without --with-secrets: set NATS_PASSWORD when running nats, rerun with --with-secrets, or move it to env:NAME or file:PATH", key))
	return "", "not written (plain text in the inventory)", nil
}

// referable reports whether natscli routes ref to its resolver: it
// parses as a URL with ref's scheme and host/path intact.
func referable(ref string) bool {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" {
		return false
	}
	if u.Scheme == "env" {
		name := strings.TrimPrefix(ref, "env://")
		return name != "" && !strings.ContainsFunc(name, func(r rune) bool {
			return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})
	}
	return true
}

// File is the context's JSON as a new file.
func (c *Context) File() []byte { return render(c.Settings, nil) }

// ownKeys are the JSON fields of Settings: the ones natsops sets (or
// clears) in a context it rewrites; every other field is kept.
var ownKeys = []string{"description", "url", "user", "password", "token", "ca", "jetstream_domain"}

// render is s as indented JSON, its fields in Settings' order, then the
// extra fields of an earlier file by name.
func render(s Settings, extra map[string]json.RawMessage) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	flat := bytes.TrimRight(b.Bytes(), "\n")
	if len(extra) > 0 {
		flat = flat[:len(flat)-1] // the closing brace
		for _, k := range slices.Sorted(maps.Keys(extra)) {
			key, _ := json.Marshal(k)
			flat = append(append(append(append(flat, ','), key...), ':'), extra[k]...)
		}
		flat = append(flat, '}')
	}
	var out bytes.Buffer
	if err := json.Indent(&out, flat, "", "  "); err != nil {
		return append(flat, '\n') // not reached: both parts are JSON
	}
	return append(out.Bytes(), '\n')
}

// over is the file that replaces old, one natsops wrote: natsops' fields
// new, every field it does not set kept (a client certificate added with
// `nats context add NAME --tlscert FILE --tlskey FILE`, a color scheme).
func (c *Context) over(old []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(old, &m) != nil {
		return c.File()
	}
	for _, k := range ownKeys {
		if k == "ca" && c.Settings.CA == "" {
			continue // the operator's CA, where the inventory's is not here
		}
		delete(m, k)
	}
	return render(c.Settings, m)
}

// Redacted is the context's JSON with any plain-text password or token
// masked: what a dry run prints.
func (c *Context) Redacted() []byte {
	s := c.Settings
	if c.Secret {
		if s.Password != "" {
			s.Password = "<redacted>"
		}
		if s.Token != "" {
			s.Token = "<redacted>"
		}
	}
	return render(s, nil)
}

// Path is where the context goes in dir.
func (c *Context) Path(dir string) string { return filepath.Join(dir, c.Name+".json") }

// Actions of Write (and Check).
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	// Replaced: a context natsops did not write, overwritten with --force.
	Replaced = "replaced"
)

// ForeignError is an existing context natsops did not write.
type ForeignError struct{ Path string }

func (e *ForeignError) Error() string {
	return fmt.Sprintf("%s exists and was not written by natsops (its description does not start with %q); natsops leaves it alone: pass --force to overwrite it, or remove it", e.Path, strings.TrimSpace(DescriptionPrefix))
}

// Check says what Write would do in dir: an error when the file exists
// and natsops did not write it (unless force).
func (c *Context) Check(dir string, force bool) (string, error) {
	action, _, err := c.plan(dir, force)
	return action, err
}

// plan is what Write does and the bytes it writes.
func (c *Context) plan(dir string, force bool) (string, []byte, error) {
	if err := validName(c.Name); err != nil {
		return "", nil, err
	}
	old, err := os.ReadFile(c.Path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return Created, c.File(), nil
	}
	if err != nil {
		return "", nil, err
	}
	var prev struct {
		Description string `json:"description"`
	}
	if json.Unmarshal(old, &prev) != nil || !strings.HasPrefix(prev.Description, DescriptionPrefix) {
		if !force {
			return "", nil, &ForeignError{Path: c.Path(dir)}
		}
		// Replaced whole: none of another context's settings (creds,
		// nkey) may ride along under natsops' description.
		return Replaced, c.File(), nil
	}
	data := c.over(old)
	if bytes.Equal(old, data) {
		return Unchanged, data, nil
	}
	return Updated, data, nil
}

// Write puts the context in dir (created 0700) atomically, mode 0600 as
// natscli writes its own: a temporary file in dir renamed over the old
// one, so a reader sees the old file or the new, never half of one.
func (c *Context) Write(dir string, force bool) (string, error) {
	action, data, err := c.plan(dir, force)
	if err != nil || action == Unchanged {
		return action, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := atomicfile.Write(c.Path(dir), data, 0o600, true); err != nil {
		return "", err
	}
	return action, nil
}

// validName is natscli's rule for a context name.
func validName(name string) error {
	if name == "" || strings.Contains(name, "..") || strings.ContainsAny(name, `/\`) {
		return invalid("%q cannot be a natscli context name (no '/', '\\' or '..'); rename the cluster", name)
	}
	return nil
}
