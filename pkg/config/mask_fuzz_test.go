package config

import (
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/natsops/natsops/pkg/natsconf"
)

// maskForms write a canary secret the ways a hand-written config can:
// "%s" is the canary written with natsconf's quoting unless the form
// says otherwise.
var maskForms = []func(canary string) string{
	func(c string) string { return "authorization {\n  password: " + c + "\n}\n" },
	func(c string) string { return "authorization {\n  password: " + natsconf.Quote(c) + "\n}\n" },
	func(c string) string { return "authorization {\n  password = '" + c + "'\n}\n" },
	func(c string) string { return "authorization { user: u, password: " + natsconf.Quote(c) + " }\n" },
	func(c string) string {
		return "authorization {\n  users = [ {user: a, password: " + natsconf.Quote(c) + "}, {user: b, password: other} ]\n}\n"
	},
	func(c string) string { return "authorization {\n  \"password\": " + natsconf.Quote(c) + "\n}\n" },
	func(c string) string { return "authorization {\n  password " + natsconf.Quote(c) + "\n}\n" },
	func(c string) string {
		return "cluster {\n  routes: [" + natsconf.Quote((&url.URL{Scheme: "nats-route", User: url.UserPassword("u", c), Host: "h:6222"}).String()) + "]\n}\n"
	},
	func(c string) string { return "authorization {\n  token: " + natsconf.Quote(c) + " # a comment\n}\n" },
	func(c string) string {
		return "accounts {\n  SYS: { users: [ { user: sys, password: " + natsconf.Quote(c) + " } ] }\n}\nsystem_account: SYS\n"
	},
}

// FuzzMaskConfig: whatever the secret and however a config nats-server's
// parser accepts writes it, neither the masked config nor a diff against
// it shows the secret.
func FuzzMaskConfig(f *testing.F) {
	for i := range maskForms {
		f.Add(uint8(i), "s3cret#tail")
		f.Add(uint8(i), "x1")
		f.Add(uint8(i), `a"b\c`)
		f.Add(uint8(i), "pa ss")
	}
	f.Fuzz(func(t *testing.T, form uint8, canary string) {
		src := maskForms[int(form)%len(maskForms)](canary)
		m, err := conf.Parse(src)
		if err != nil || !holds(secretValues(m), canary) {
			return // not a config that carries this secret
		}
		// The canary must not be part of the rest of the text.
		if strings.Contains(strings.ReplaceAll(src, canary, "\x00"), canary) || strings.Contains(maskForms[int(form)%len(maskForms)]("\x00"), canary) {
			return
		}
		// The placeholder itself may hold a short canary ("c" in <secret>).
		shown := func(s string) bool {
			// The placeholder is written quoted: its quotes are masking's.
			for _, part := range strings.Split(strings.ReplaceAll(s, `"`+Masked+`"`, Masked), Masked) {
				if strings.Contains(part, canary) {
					return true
				}
			}
			return false
		}
		if out := string(MaskConfig([]byte(src))); shown(out) {
			t.Fatalf("masked config shows %q:\n%s", canary, out)
		}
		// The deployed side's lines of the diff (its headers and the
		// rendered side hold other text, which a short canary may match).
		d := Diff("n1", "/etc/nats-server.conf", []byte(src), true, []byte("port: 4222\n"))
		for _, l := range strings.Split(d, "\n") {
			if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") && shown(l[1:]) {
				t.Fatalf("diff shows %q:\n%s", canary, d)
			}
		}
	})
}

// holds reports whether the parsed credentials are the canary or carry it
// (a URL's password).
func holds(vals map[string]string, canary string) bool {
	for _, v := range vals {
		if v == canary {
			return true
		}
	}
	return false
}
