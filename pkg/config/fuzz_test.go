package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/natsops/natsops/pkg/cluster"
)

// tomlString writes s as a TOML basic string. Invalid UTF-8 is written raw:
// TOML cannot carry it, and the loader must refuse it.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(s[i])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzRoundTrip: whatever string is used as a user, password, token, log
// path, tag or route password, nats-server reads exactly that string from
// the rendered config, or the inventory is refused with a clear error that
// does not reveal the secret.
func FuzzRoundTrip(f *testing.F) {
	f.Add("app", "pa$$word", "/var/log/nats.log", "zone-a", "tok-123")
	f.Add(`q"uo\te`, "$2a$11$x", "日志/\x01.log", "a,b]", "}\n#")
	f.Add("u", "p\n}", "\xff", " Tag ", "")
	f.Fuzz(func(t *testing.T, user, password, logPath, tag, token string) {
		env := cluster.MapEnv(map[string]string{"PW": password, "TOKEN": token, "ROUTE": password})
		src := fmt.Sprintf(`[cluster]
name = "fz"
user = "route"
password = "env:ROUTE"
[server.log]
file = %s
size_limit = "10MB"
[[server.auth.users]]
user = %s
password = "env:PW"
[[node]]
name = "a"
host = "10.0.0.1"
server.tags = [%s]
[[node]]
name = "b"
host = "10.0.0.2"
`, tomlString(logPath), tomlString(user), tomlString(tag))
		roundTrip(t, src, env, password, func(o *server.Options) {
			if len(o.Users) != 1 || o.Users[0].Username != user || o.Users[0].Password != password {
				t.Fatalf("users read back as %+v, want %q/%q", o.Users, user, password)
			}
			if o.LogFile != logPath {
				t.Fatalf("log_file read back as %q, want %q", o.LogFile, logPath)
			}
			if !slices.Equal([]string(o.Tags), []string{tag}) {
				t.Fatalf("tags read back as %q, want %q", o.Tags, tag)
			}
			if len(o.Routes) != 1 {
				t.Fatalf("routes: %v", o.Routes)
			}
			if p, _ := o.Routes[0].User.Password(); p != password || o.Routes[0].User.Username() != "route" {
				t.Fatalf("route credentials read back as %q, want password %q", o.Routes[0].User, password)
			}
		})
		tokenSrc := "[server.auth]\ntoken = \"env:TOKEN\"\n[[node]]\nname = \"solo\"\nhost = \"h\"\n"
		roundTrip(t, tokenSrc, env, token, func(o *server.Options) {
			if o.Authorization != token {
				t.Fatalf("token read back as %q, want %q", o.Authorization, token)
			}
		})
	})
}

func roundTrip(t *testing.T, src string, env cluster.Env, secret string, check func(*server.Options)) {
	t.Helper()
	inv, err := cluster.Parse("fuzz.toml", []byte(src))
	if err != nil {
		var ie *cluster.InventoryError
		if !errors.As(err, &ie) || len(ie.Problems) == 0 || ie.Problems[0].Msg == "" {
			t.Fatalf("unclear refusal: %v", err)
		}
		return
	}
	ts, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	res := Build(inv, ts, inv.Nodes, env)
	if !res.OK(SevError) {
		text := findingsText(res.Findings)
		if len(secret) >= 16 && strings.Contains(text, secret) {
			t.Fatalf("refusal reveals the secret:\n%s", text)
		}
		for _, f := range res.Findings {
			if f.Severity == SevError && (f.Message == "" || f.Node == "" && f.Key == "") {
				t.Fatalf("unclear error finding: %+v", f)
			}
		}
		return
	}
	o := &server.Options{}
	if err := o.ProcessConfigString(string(res.Configs[0].Config)); err != nil {
		t.Fatalf("validated config does not parse: %v\n%s", err, res.Configs[0].Config)
	}
	check(o)
}

// FuzzEstateRoundTrip: the estate's strings (an account name, an export
// subject, a leaf remote's user and password in its URL, a creds path)
// either are refused clearly or read back from the rendered config
// exactly as written, and never change its structure.
func FuzzEstateRoundTrip(f *testing.F) {
	f.Add("APP", "events.>", "leaf", "pa$$w:rd@x/y", "/etc/nats/leaf.creds")
	f.Add(`A"B`, "a b", "u@h", "p\n}", "/x\"y")
	f.Add("$X", "*.>", "%2F", "#", "/日志/\x01")
	f.Fuzz(func(t *testing.T, account, subject, user, password, creds string) {
		env := cluster.MapEnv(map[string]string{"LEAF": password, "GW": password})
		src := fmt.Sprintf(`[gateway]
user = "gw"
password = "env:GW"
[accounts.%s]
users = [{user = "app", password = "app-password-123"}]
exports = [{stream = %s}]
[[clusters]]
name = "hub"
[clusters.leafnodes]
users = [{user = %s, password = "env:LEAF", account = %s}]
[[clusters.node]]
name = "h1"
host = "10.0.0.1"
[[clusters]]
name = "other"
[[clusters.node]]
name = "o1"
host = "10.0.0.2"
[[clusters]]
name = "leaf"
[[clusters.leafnodes.remotes]]
hub = "hub"
account = %s
user = %s
password = "env:LEAF"
[[clusters.leafnodes.remotes]]
hub = "hub"
credentials = %s
[[clusters.node]]
name = "l1"
host = "10.0.0.3"
`, tomlString(account), tomlString(subject), tomlString(user), tomlString(account), tomlString(account), tomlString(user), tomlString(creds))
		est, err := cluster.ParseEstate("fuzz.toml", []byte(src))
		if err != nil {
			var ie *cluster.InventoryError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 || ie.Problems[0].Msg == "" {
				t.Fatalf("unclear refusal: %v", err)
			}
			if len(password) >= 16 && strings.Contains(err.Error(), password) {
				t.Fatalf("refusal reveals the secret: %v", err)
			}
			return
		}
		ts, err := LoadTemplates(nil)
		if err != nil {
			t.Fatal(err)
		}
		nodes := map[*cluster.Inventory][]*cluster.Node{}
		for _, c := range est.Clusters {
			nodes[c] = c.Nodes
		}
		res := BuildEstate(est, ts, nodes, env)
		if !res.OK(SevError) {
			text := findingsText(res.Findings)
			if len(password) >= 16 && strings.Contains(text, password) {
				t.Fatalf("refusal reveals the secret:\n%s", text)
			}
			return
		}
		for _, c := range res.Configs {
			o := &server.Options{}
			if err := o.ProcessConfigString(string(c.Config)); err != nil {
				t.Fatalf("validated config of %s does not parse: %v\n%s", c.Node.Name, err, c.Config)
			}
			found := false
			for _, a := range o.Accounts {
				found = found || a.Name == account
			}
			if !found {
				t.Fatalf("%s: account %q not read back (%v)", c.Node.Name, account, o.Accounts)
			}
			switch c.Node.Name {
			case "h1":
				if len(o.LeafNode.Users) != 1 || o.LeafNode.Users[0].Username != user || o.LeafNode.Users[0].Password != password {
					t.Fatalf("hub leaf users read back as %+v", o.LeafNode.Users)
				}
				if len(o.Gateway.Gateways) != 1 || o.Gateway.Gateways[0].Name != "other" {
					t.Fatalf("gateways read back as %+v", o.Gateway.Gateways)
				}
				if u := o.Gateway.Gateways[0].URLs[0].User; u.Username() != "gw" {
					t.Fatalf("gateway URL user %q", u.Username())
				} else if p, _ := u.Password(); p != password {
					t.Fatalf("gateway URL password %q, want %q", p, password)
				}
			case "l1":
				rs := o.LeafNode.Remotes
				if len(rs) != 2 || rs[0].LocalAccount != account || len(rs[0].URLs) != 1 {
					t.Fatalf("remotes read back as %+v", rs)
				}
				if u := rs[0].URLs[0].User; u.Username() != user {
					t.Fatalf("leaf URL user %q, want %q", u.Username(), user)
				} else if p, _ := u.Password(); p != password {
					t.Fatalf("leaf URL password %q, want %q", p, password)
				}
				if rs[1].Credentials != creds {
					t.Fatalf("credentials read back as %q, want %q", rs[1].Credentials, creds)
				}
			}
		}
	})
}
