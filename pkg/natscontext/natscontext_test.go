package natscontext

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

const hash = "$2a$11$PWIFAL8RsWyGI3jVZtO9Nu8.6jOxzxfZo7c/W0eLk017hjgUKWrhy"

// base is a 2-node cluster; auth is appended to [server.auth].
func base(auth string) string {
	return `[cluster]
name = "east"

[server]
listen_host = "0.0.0.0"

[server.auth]
` + auth + `

[jetstream]
enabled = true
domain = "hub"

[[node]]
name = "a"
host = "10.0.0.1"
server.port = 4333

[[node]]
name = "b"
host = "10.0.0.2"
`
}

func load(t *testing.T, toml string) *cluster.Inventory {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "natsops.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	est, err := cluster.LoadEstate(path)
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return est.Clusters[0]
}

const sysAuth = `system_user = "admin"
system_password = "env:ADMIN_PW"
[[server.auth.users]]
user = "app"
password = "file:app.password"
[[server.auth.users]]
user = "hashed"
password = "` + hash + `"
[[server.auth.users]]
user = "plain"
password = "s3cret-plain"
`

func build(t *testing.T, inv *cluster.Inventory, o Options) (*Context, error) {
	t.Helper()
	o.Source = inv.Path
	return Build(inv, inv.Nodes, o)
}

func TestBuildPicksSystemUserWithEnvReference(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{Env: cluster.MapEnv(map[string]string{"ADMIN_PW": "the-value"})})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings
	if s.URL != "nats://10.0.0.1:4333,nats://10.0.0.2:4222" {
		t.Errorf("url %q", s.URL)
	}
	if s.User != "admin" || s.Password != "env://ADMIN_PW" || s.JSDomain != "hub" {
		t.Errorf("settings %+v", s)
	}
	if c.Secret || strings.Contains(string(c.File()), "the-value") {
		t.Errorf("the env value reached the file: %s", c.File())
	}
	if len(c.Notes) != 0 {
		t.Errorf("notes %q with the variable set", c.Notes)
	}
	if !strings.HasPrefix(s.Description, DescriptionPrefix+inv.Path) {
		t.Errorf("description %q", s.Description)
	}
}

func TestBuildUnsetEnvIsANoteOrAnErrorWithSecrets(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "ADMIN_PW is not set") {
		t.Errorf("notes %q: want the unset variable named", c.Notes)
	}
	_, err = build(t, inv, Options{WithSecrets: true})
	var ce *Error
	if !errors.As(err, &ce) || ce.Usage || !strings.Contains(err.Error(), "ADMIN_PW") {
		t.Fatalf("err %v: want an invalid-input error naming ADMIN_PW", err)
	}
}

func TestBuildWithSecretsWritesPlainText(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{WithSecrets: true, Env: cluster.MapEnv(map[string]string{"ADMIN_PW": "the-value"})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.Password != "the-value" || !c.Secret {
		t.Errorf("password %q secret %v", c.Settings.Password, c.Secret)
	}
	if strings.Contains(string(c.Redacted()), "the-value") || !strings.Contains(string(c.Redacted()), "<redacted>") {
		t.Errorf("redacted: %s", c.Redacted())
	}
}

func TestBuildFileReferenceIsAbsolute(t *testing.T) {
	inv := load(t, base(sysAuth))
	if err := os.WriteFile(filepath.Join(inv.Dir, "app.password"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := build(t, inv, Options{User: "app"})
	if err != nil {
		t.Fatal(err)
	}
	want := "file://" + filepath.Join(inv.Dir, "app.password")
	if c.Settings.Password != want || c.Settings.User != "app" || c.Why != "--user" {
		t.Errorf("password %q user %q why %q, want %q", c.Settings.Password, c.Settings.User, c.Why, want)
	}
	if len(c.Notes) != 0 {
		t.Errorf("notes %q", c.Notes)
	}
	c, err = build(t, inv, Options{User: "app", WithSecrets: true})
	if err != nil || c.Settings.Password != "pw" {
		t.Errorf("with secrets: %v %q, want the file's content without its newline", err, c.Settings.Password)
	}
}

func TestBuildBadUsers(t *testing.T) {
	inv := load(t, base(sysAuth))
	for _, tc := range []struct {
		user, want string
		usage      bool
	}{
		{"nobody", `--user "nobody" is not a user of`, true},
		{"hashed", "bcrypt hash", false},
	} {
		_, err := build(t, inv, Options{User: tc.user})
		var ce *Error
		if !errors.As(err, &ce) || ce.Usage != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--user %s: %v, want usage=%v %q", tc.user, err, tc.usage, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), hash) {
			t.Errorf("the hash is in the error: %v", err)
		}
	}
}

func TestBuildPlainTextPasswordIsNotCopied(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{User: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.Password != "" || strings.Contains(string(c.File()), "s3cret") {
		t.Errorf("plain password copied without --with-secrets: %s", c.File())
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "NATS_PASSWORD") {
		t.Errorf("notes %q", c.Notes)
	}
	c, err = build(t, inv, Options{User: "plain", WithSecrets: true})
	if err != nil || c.Settings.Password != "s3cret-plain" {
		t.Errorf("with secrets: %v %q", err, c.Settings.Password)
	}
}

func TestBuildDefaultUser(t *testing.T) {
	for _, tc := range []struct {
		name, auth, user, err string
	}{
		{"no auth", "", "", ""},
		{"one user", "user = \"solo\"\npassword = \"env:SOLO\"", "solo", ""},
		{"several users, no system user", "[[server.auth.users]]\nuser = \"x\"\npassword = \"env:X\"\n[[server.auth.users]]\nuser = \"y\"\npassword = \"env:Y\"", "", "pick one with --user NAME (users: x, y)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := load(t, base(tc.auth))
			c, err := build(t, inv, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Settings.User != tc.user {
				t.Errorf("user %q, want %q", c.Settings.User, tc.user)
			}
		})
	}
}

func TestBuildSystemAccountUserAndTLS(t *testing.T) {
	inv := load(t, `[cluster]
name = "tls"
[server.tls]
cert_file = "/etc/nats/server.pem"
key_file = "/etc/nats/server.key"
ca_file = "/etc/nats/ca.pem"
verify = true
[server.auth]
system_account = "SYS"
no_auth_user = "app"
[accounts.SYS]
[[accounts.SYS.users]]
user = "root"
password = "env:ROOT_PW"
[accounts.APP]
[[accounts.APP.users]]
user = "app"
password = "env:APP_PW"
[[node]]
name = "a"
host = "nats-a.example"
`)
	c, err := build(t, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.URL != "tls://nats-a.example:4222" || c.Settings.CA != "" || c.Settings.User != "root" {
		t.Errorf("settings %+v: want tls://, no CA (not here), root", c.Settings)
	}
	notes := strings.Join(c.Notes, "\n")
	if len(c.Notes) != 3 || !strings.Contains(notes, "CA file /etc/nats/ca.pem (the path on the nodes) is not readable here") || !strings.Contains(notes, "client certificate") || !strings.Contains(notes, "ROOT_PW is not set") {
		t.Errorf("notes %q: want the unreadable CA, the client certificate and the unset ROOT_PW", c.Notes)
	}
}

func TestBuildNoNodes(t *testing.T) {
	inv := load(t, base(""))
	_, err := Build(inv, nil, Options{})
	var ce *Error
	if !errors.As(err, &ce) || !ce.Usage || !strings.Contains(err.Error(), "cluster east: no nodes selected") {
		t.Errorf("err %v", err)
	}
}

func TestWriteOwnFilesAndRefuseOthers(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "nats", "context")
	for i, want := range []string{Created, Unchanged} {
		got, err := c.Write(dir, false)
		if err != nil || got != want {
			t.Fatalf("write %d: %q %v, want %q", i, got, err, want)
		}
	}
	fi, err := os.Stat(c.Path(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode())
	}
	var back Settings
	if err := json.Unmarshal(mustRead(t, c.Path(dir)), &back); err != nil || back != c.Settings {
		t.Errorf("read back %+v %v", back, err)
	}

	c2, _ := build(t, inv, Options{User: "plain"})
	if got, err := c2.Write(dir, false); err != nil || got != Updated {
		t.Errorf("rewrite own: %q %v, want updated", got, err)
	}

	foreign := []byte(`{"description": "mine", "url": "nats://elsewhere:4222"}`)
	if err := os.WriteFile(c.Path(dir), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = c.Write(dir, false)
	var fe *ForeignError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.Path(dir)) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err %v, want a refusal naming the file and --force", err)
	}
	if got := mustRead(t, c.Path(dir)); string(got) != string(foreign) {
		t.Errorf("the foreign file changed: %s", got)
	}
	if got, err := c.Write(dir, true); err != nil || got != Replaced {
		t.Errorf("--force: %q %v", got, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestDir(t *testing.T) {
	got, err := Dir(cluster.MapEnv(map[string]string{"XDG_CONFIG_HOME": "/x"}), "/home/u")
	if err != nil || got != "/x/nats/context" {
		t.Errorf("%q %v", got, err)
	}
	got, err = Dir(cluster.MapEnv(nil), "/home/u")
	if err != nil || got != "/home/u/.config/nats/context" {
		t.Errorf("%q %v", got, err)
	}
	if _, err := Dir(cluster.MapEnv(nil), ""); err == nil {
		t.Error("no XDG_CONFIG_HOME and no home: want an error")
	}
}

func TestReferable(t *testing.T) {
	for ref, want := range map[string]bool{
		"env://ADMIN_PW":        true,
		"env://BAD-NAME":        false,
		"file:///tmp/a b/pw":    true,
		"file:///tmp/100%zz/pw": false,
	} {
		if got := referable(ref); got != want {
			t.Errorf("referable(%q) = %v, want %v", ref, got, want)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRewriteKeepsFieldsNatsopsDoesNotSet: a field the operator added to
// a natsops context with natscli (a client certificate) survives a
// rewrite, the rewrite is then stable; --force over another's context
// keeps none of its fields.
func TestRewriteKeepsFieldsNatsopsDoesNotSet(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := c.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(mustRead(t, c.Path(dir)), &m); err != nil {
		t.Fatal(err)
	}
	m["cert"], m["key"], m["url"] = "/home/op/client.pem", "/home/op/client.key", "nats://stale:4222"
	edited, _ := json.Marshal(m)
	if err := os.WriteFile(c.Path(dir), edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Write(dir, false); err != nil || got != Updated {
		t.Fatalf("rewrite: %q %v", got, err)
	}
	var back map[string]any
	if err := json.Unmarshal(mustRead(t, c.Path(dir)), &back); err != nil {
		t.Fatal(err)
	}
	if back["cert"] != "/home/op/client.pem" || back["key"] != "/home/op/client.key" || back["url"] != c.Settings.URL {
		t.Errorf("after rewrite: %v", back)
	}
	if got, err := c.Write(dir, false); err != nil || got != Unchanged {
		t.Errorf("second rewrite: %q %v, want unchanged", got, err)
	}

	foreign := []byte(`{"description": "theirs", "creds": "/home/op/x.creds"}`)
	if err := os.WriteFile(c.Path(dir), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Write(dir, true); err != nil || got != Replaced {
		t.Fatalf("--force: %q %v", got, err)
	}
	if got := mustRead(t, c.Path(dir)); string(got) != string(c.File()) {
		t.Errorf("--force kept another context's fields: %s", got)
	}
}

func TestSuffixNamesASecondContext(t *testing.T) {
	inv := load(t, base(sysAuth))
	c, err := build(t, inv, Options{User: "app", Suffix: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "east-app" || c.Cluster != "east" || !strings.Contains(c.Settings.Description, "(cluster east)") {
		t.Errorf("name %q cluster %q description %q", c.Name, c.Cluster, c.Settings.Description)
	}
	for _, sfx := range []string{"a/b", "./x"} {
		_, err := build(t, inv, Options{Suffix: sfx})
		var ce *Error
		if !errors.As(err, &ce) || !ce.Usage || !strings.Contains(err.Error(), "cannot be a natscli context name") {
			t.Errorf("--suffix %s: %v, want a usage error", sfx, err)
		}
	}
}

// TestCAFileHereIsWrittenAndAnOperatorsCAIsKept: a ca_file readable on
// this machine goes in the context; one that is not leaves the CA the
// operator added with natscli alone on a rewrite.
func TestCAFileHereIsWrittenAndAnOperatorsCAIsKept(t *testing.T) {
	here := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(here, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsInv := func(ca string) *cluster.Inventory {
		return load(t, "[cluster]\nname = \"t\"\n[server.tls]\ncert_file = \"/etc/nats/s.pem\"\nkey_file = \"/etc/nats/s.key\"\nca_file = \""+ca+"\"\n[[node]]\nname = \"a\"\nhost = \"h\"\n")
	}
	c, err := build(t, tlsInv(here), Options{})
	if err != nil || c.Settings.CA != here || len(c.Notes) != 0 {
		t.Fatalf("readable CA: %v %q %q", err, c.Settings.CA, c.Notes)
	}
	c, err = build(t, tlsInv("/etc/nats/ca.pem"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := c.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(mustRead(t, c.Path(dir)), &m)
	m["ca"] = "/home/op/ca.pem"
	b, _ := json.Marshal(m)
	if err := os.WriteFile(c.Path(dir), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustRead(t, c.Path(dir))), `"ca": "/home/op/ca.pem"`) {
		t.Errorf("the operator's CA was dropped: %s", mustRead(t, c.Path(dir)))
	}
}
