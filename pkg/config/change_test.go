package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/natsops/natsops/pkg/cluster"
)

func TestMaskConfig(t *testing.T) {
	in := "authorization {\n  user: \"app\"\n  password: \"hunter2-secret\"\n  token: s3cr3t # note\n}\nroutes: [\"nats-route://route:pa55w0rd@10.0.0.2:6222\"]\npass=xyz\n"
	out := string(MaskConfig([]byte(in)))
	for _, s := range []string{"hunter2-secret", "s3cr3t", "pa55w0rd", "xyz"} {
		if strings.Contains(out, s) {
			t.Errorf("masked config still has %q:\n%s", s, out)
		}
	}
	for _, s := range []string{`user: "app"`, "# note", "@10.0.0.2:6222", `password: "<secret>"`} {
		if !strings.Contains(out, s) {
			t.Errorf("masked config lost %q:\n%s", s, out)
		}
	}
}

func TestDiffMasksBothSides(t *testing.T) {
	d := Diff("n1", "/etc/nats-server.conf", []byte("port: 4222\npassword: \"old-secret\"\n"), true, []byte("port: 4222\npassword: \"new-secret\"\n"))
	if strings.Contains(d, "old-secret") || strings.Contains(d, "new-secret") {
		t.Errorf("diff shows a secret:\n%s", d)
	}
	if d != SecretsChangedNote {
		t.Errorf("a rotated secret must show as a pending change without its value, got:\n%s", d)
	}
	if d := Diff("n1", "/etc/x", []byte("password: \"same\"\n"), true, []byte("password: \"same\"\n")); d != "" {
		t.Errorf("equal configs: %q", d)
	}
	if d := Diff("n1", "/etc/x", nil, false, []byte("port: 1\n")); !strings.Contains(d, "--- /dev/null") || !strings.Contains(d, "+port: 1") {
		t.Errorf("new file diff:\n%s", d)
	}
}

func TestClassify(t *testing.T) {
	base := "server_name: \"n1\"\nport: 4222\nmax_connections: 100\nwrite_deadline: \"3s\"\ncluster {\n  name: \"c\"\n  port: 6222\n  routes: [\"nats-route://a:6222\"]\n}\n"
	for _, tc := range []struct {
		name, from, to string
		keys, want     string
	}{
		{"same", base, base + "# a comment\n", "", "no change"},
		{"max_connections reloads", base, strings.Replace(base, "100", "200", 1), "max_connections", "reload (max_connections)"},
		{"write_deadline reloads", base, strings.Replace(base, `"3s"`, `"5s"`, 1), "write_deadline", "reload (write_deadline)"},
		{"routes reload", base, strings.Replace(base, "a:6222", "b:6222", 1), "cluster.routes", "reload (cluster.routes)"},
		{"port restarts", base, strings.Replace(base, "4222", "4223", 1), "port", "restart needed (port)"},
		{"cluster port restarts", base, strings.Replace(base, "port: 6222", "port: 6223", 1), "cluster.port", "restart needed (cluster.port)"},
		{"lame duck restarts", base, base + "lame_duck_duration: \"40s\"\n", "lame_duck_duration", "restart needed (lame_duck_duration)"},
		{"unparsable deployed", "port: {", base, "(whole file)", "restart needed (the deployed config does not parse)"},
		{"accounts restart", base + "accounts { A: { users: [{user: a, password: x}] } }\n", base + "accounts { A: { users: [{user: a, password: y}] } }\n", "accounts", "restart needed (accounts)"},
		{"a gateway restarts", base, base + "gateway { name: \"c\", port: 7222 }\n", "gateway", "restart needed (gateway)"},
		{"leaf remotes restart", base + "leafnodes { remotes: [{url: \"nats-leaf://a:7422\"}] }\n", base + "leafnodes { remotes: [{url: \"nats-leaf://b:7422\"}] }\n", "leafnodes", "restart needed (leafnodes)"},
		{"the system account restarts", base, base + "system_account: \"SYS\"\n", "system_account", "restart needed (system_account)"},
	} {
		c := Classify([]byte(tc.from), []byte(tc.to))
		if got := strings.Join(c.Keys, ","); got != tc.keys || c.String() != tc.want {
			t.Errorf("%s: keys %q %q, want %q %q", tc.name, got, c.String(), tc.keys, tc.want)
		}
	}
}

// Every syntax nats-server's parser accepts for a credential is masked,
// on a deployed config natsops never wrote (found by trying them: a '#'
// inside quotes, inline maps, lists, no colon, a quoted key).
func TestMaskConfigSyntaxes(t *testing.T) {
	for _, tc := range []struct{ name, conf, secret string }{
		{"# inside quotes", "authorization {\n  password: \"s3cret#tail\"\n}\n", "tail"},
		{"inline map", "authorization { user: u, password: Pa55word-inline }\n", "Pa55word-inline"},
		{"list of users", "authorization {\n  users = [ {user: a, password: \"list-secret-1\"}, {user: b, password: 'list secret 2'} ]\n}\n", "list secret 2"},
		{"no colon", "authorization {\n  user u\n  password Bare-Secret-9\n}\n", "Bare-Secret-9"},
		{"quoted key", "authorization {\n  \"password\": Quoted-Key-Secret\n}\n", "Quoted-Key-Secret"},
		{"equals", "authorization {\n  token = tok3n-value\n}\n", "tok3n-value"},
		{"short password", "authorization {\n  user: ab\n  password: x1\n}\n", "x1"},
		{"route credentials", "cluster {\n  routes: [\"nats-route://ruser:r0ute%2Fpw@10.0.0.2:6222\"]\n}\n", "r0ute"},
		{"account users", "accounts {\n  SYS: { users: [ { user: sys, password: \"sys-account-pw\" } ] }\n}\n", "sys-account-pw"},
		{"leaf remote URL", "leafnodes {\n  remotes = [ { url: \"nats-leaf://leaf:leaf-pw-77@hub:7422\" } ]\n}\n", "leaf-pw-77"},
		{"escaped in double quotes", "authorization {\n  password: \"esc\\\"aped\\tpw\"\n}\n", "aped"},
		{"does not parse", "authorization {\n  password: Half-Written-Secret\n", "Half-Written-Secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := string(MaskConfig([]byte(tc.conf)))
			if strings.Contains(out, tc.secret) || !strings.Contains(out, Masked) {
				t.Errorf("masked:\n%s", out)
			}
			d := Diff("n1", "/etc/nats-server.conf", []byte(tc.conf), true, []byte("port: 4222\n"))
			if strings.Contains(d, tc.secret) {
				t.Errorf("diff shows the secret:\n%s", d)
			}
		})
	}
	// Comments stay as they are; a rotated secret is still a change.
	if out := string(MaskConfig([]byte("# the password rotates monthly\nport: 1\n"))); !strings.Contains(out, "# the password rotates monthly") {
		t.Errorf("comment mangled:\n%s", out)
	}
	if d := Diff("n1", "/x", []byte("authorization { user: u, password: one-secret-1 }\n"), true, []byte("authorization { user: u, password: two-secret-2 }\n")); !strings.HasSuffix(d, SecretsChangedNote) || strings.Contains(d, "secret-") {
		t.Errorf("rotation:\n%s", d)
	}
}

// Digest is the digest nats-server itself computes for the file it loads
// (what /varz config_digest reports): checked against the server's own
// ProcessConfigFile for every rendered example config.
func TestDigestMatchesNatsServer(t *testing.T) {
	ts, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cluster.Load("../../inventory/local.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range inv.Nodes {
		r, err := Render(inv, ts, n, RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(p, r.Config, 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Digest(r.Config)
		if err != nil || got != opts.ConfigDigest() || !strings.HasPrefix(got, "sha256:") {
			t.Errorf("%s: Digest %q (%v), nats-server %q", n.Name, got, err, opts.ConfigDigest())
		}
		other, _ := Digest(append(r.Config, []byte("max_connections: 7\n")...))
		if other == got {
			t.Errorf("%s: a changed config has the same digest", n.Name)
		}
	}
}

func TestClassifyUnrollable(t *testing.T) {
	for _, tc := range []struct{ old, cur, want string }{
		{"cluster { name: a, port: 6222 }\n", "cluster { name: b, port: 6222 }\n", `cluster.name "a" -> "b"`},
		{"cluster { port: 6222 }\n", "cluster { name: b, port: 6222 }\n", ""}, // a dynamic name takes the remote's
		{"cluster { name: a, port: 6222 }\n", "cluster { name: a, port: 6222, routes: [] }\n", ""},
	} {
		ch := Classify([]byte(tc.old), []byte(tc.cur))
		got := strings.Join(ch.Unrollable, "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%q -> %q: unrollable %q, want %q", tc.old, tc.cur, got, tc.want)
		}
	}
}
