package cluster

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// quotedEverywhere are the string settings that may hold any text: each
// reaches a config only through natsconf.Quote (read back exactly,
// fuzzed), a shell only through remote.Quote (fuzzed), or nothing on a
// host at all. Every other string setting must refuse a control character
// at load. A new setting is in neither list until someone decides: this
// test fails for it.
var quotedEverywhere = map[string]string{
	"cluster.name":                   "natsconf.Quote",
	"cluster.user":                   "natsconf.Quote, and url.UserPassword in routes",
	"cluster.password":               "a secret: natsconf.Quote",
	"server.auth.user":               "natsconf.Quote",
	"server.auth.password":           "a secret: natsconf.Quote",
	"server.auth.token":              "a secret: natsconf.Quote",
	"server.auth.system_user":        "natsconf.Quote",
	"server.auth.system_password":    "a secret: natsconf.Quote",
	"server.listen_host":             "natsconf.Quote",
	"server.websocket.listen_host":   "natsconf.Quote",
	"cluster.listen_host":            "natsconf.Quote",
	"service.start_command":          "a shell command by design: run as one remote.Quote'd sh -c argument",
	"service.nats_version":           "checked as a version",
	"service.gomemlimit":             "checked as Go's GOMEMLIMIT syntax (digits and a unit)",
	"service.manager":                "one of systemd, pidfile",
	"service.install":                "one of package, binary",
	"service.binary_sha256":          "checked as hex",
	"service.binary_source":          "a file on the operator's machine, read bounded; never on a host",
	"ssh.user":                       "an SSH protocol field, never a shell word",
	"ssh.identity_file":              "a file on the operator's machine",
	"ssh.known_hosts":                "a file on the operator's machine",
	"ssh.proxy_jump":                 "parsed into host:port hops, each checked",
	"ssh.host_key_checking":          "one of strict, accept-new, insecure",
	"server.tls.cert_file":           "natsconf.Quote (checked on the node by its -t)",
	"server.tls.key_file":            "natsconf.Quote",
	"server.tls.ca_file":             "natsconf.Quote",
	"server.websocket.tls.cert_file": "natsconf.Quote",
	"server.websocket.tls.key_file":  "natsconf.Quote",
	"server.websocket.tls.ca_file":   "natsconf.Quote",
	"cluster.tls.cert_file":          "natsconf.Quote",
	"cluster.tls.key_file":           "natsconf.Quote",
	"cluster.tls.ca_file":            "natsconf.Quote",
	"server.pid_file":                "checked as a host path when pidfile mode uses it",
	"gateway.listen_host":            "natsconf.Quote",
	"gateway.user":                   "natsconf.Quote, and url.UserPassword in gateway URLs",
	"gateway.password":               "a secret: natsconf.Quote",
	"gateway.tls.cert_file":          "natsconf.Quote",
	"gateway.tls.key_file":           "natsconf.Quote",
	"gateway.tls.ca_file":            "natsconf.Quote",
	"leafnodes.listen_host":          "natsconf.Quote",
	"leafnodes.tls.cert_file":        "natsconf.Quote",
	"leafnodes.tls.key_file":         "natsconf.Quote",
	"leafnodes.tls.ca_file":          "natsconf.Quote",
	"server.auth.system_account":     "checked as an account of [accounts]",
	"server.auth.no_auth_user":       "checked as a user of an account",
}

// stringSettings lists every string setting under t as dotted keys
// (slices of tables are left out: their entries carry users and
// subjects, checked on their own).
func stringSettings(t reflect.Type, prefix string, out *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := tomlName(f)
		if name == "" || name == "node" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			if ft != reflect.TypeOf(Duration{}) {
				stringSettings(ft, key, out)
			}
		case reflect.String:
			if ft != reflect.TypeOf(Size(0)) {
				*out = append(*out, key)
			}
		}
	}
}

// TestEveryHostValueIsChecked walks every string setting of the
// inventory: one that is not known to be quoted everywhere must refuse a
// newline at load (it would otherwise reach a unit file, limits.d or a
// command line raw). A new setting fails until it is checked or listed.
func TestEveryHostValueIsChecked(t *testing.T) {
	var keys []string
	stringSettings(reflect.TypeOf(File{}), "", &keys)
	sort.Strings(keys)
	if len(keys) < 20 {
		t.Fatalf("found only %d string settings: %v", len(keys), keys)
	}
	for _, key := range keys {
		if _, ok := quotedEverywhere[key]; ok {
			continue
		}
		table, leaf := "", key
		if i := strings.LastIndexByte(key, '.'); i >= 0 {
			table, leaf = key[:i], key[i+1:]
		}
		src := base + "\n"
		if table != "" {
			src += "[" + table + "]\n"
		}
		src += leaf + " = \"/x\\nExecStartPre=/bin/evil\"\n"
		if strings.HasPrefix(key, "websocket") || strings.Contains(key, "websocket") {
			src += "port = 8080\nno_tls = true\n"
		}
		_, err := Parse("test.toml", []byte(src))
		var ie *InventoryError
		if err == nil || !errors.As(err, &ie) {
			t.Errorf("%s: a newline in it is accepted; check it at load (or list it in quotedEverywhere, saying why it is safe)", key)
		}
	}
	for key := range quotedEverywhere {
		if !contains(keys, key) {
			t.Errorf("quotedEverywhere lists %s, which is not a setting", key)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
