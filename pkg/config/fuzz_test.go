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
