package cluster

import (
	"strings"
	"testing"
)

const goodSHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestHostValueErrors: values that reach a file or a command on a host are
// refused at load with the line, the key (quoted %q) and the fix.
func TestHostValueErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"unit with a space", base + "\n[service]\nunit = \"nats server\"\n",
			[]string{"test.toml:21", "service.unit", `"nats server" is not a systemd unit name`, "fix:"}},
		{"unit with a newline", base + "\n[service]\nunit = \"nats\\nExecStartPre=/bin/sh\"\n",
			[]string{"test.toml:21", `"nats\nExecStartPre=/bin/sh"`}},
		{"unit with another suffix", base + "\n[service]\nunit = \"nats-2.15\"\n",
			[]string{"test.toml:21", `suffix other than .service`, `"nats-2.15.service"`}},
		{"template without instance", base + "\n[service]\nunit = \"nats@.service\"\n",
			[]string{"test.toml:21", "needs an instance after @"}},
		{"unit too long", base + "\n[service]\nunit = \"" + strings.Repeat("n", 250) + "\"\n",
			[]string{"test.toml:21", "longer than 255 characters"}},
		{"user with a colon", base + "\n[service]\nuser = \"nats:nats\"\n",
			[]string{"test.toml:21", "service.user", `"nats:nats" is not a portable user name`, "at most 32 characters"}},
		{"user starting with a hyphen", base + "\n[service]\nuser = \"-nats\"\n",
			[]string{`"-nats" is not a portable user name`}},
		{"numeric user", base + "\n[service]\nuser = \"1000\"\n",
			[]string{"all digits"}},
		{"user too long", base + "\n[service]\nuser = \"" + strings.Repeat("u", 33) + "\"\n",
			[]string{"longer than 32 characters"}},
		{"config path with a newline", base + "\n[service]\nconfig_path = \"/etc/nats.conf\\n\"\n",
			[]string{"test.toml:21", "service.config_path", "control character"}},
		{"store dir not clean", base + "\n[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats/\"\n",
			[]string{"test.toml:22", "jetstream.store_dir", `path "/var/lib/nats/" is not clean`, `"/var/lib/nats"`}},
		{"store dir with dot-dot", base + "\n[jetstream]\nstore_dir = \"/var/lib/../nats\"\n",
			[]string{"test.toml:21", `write it as "/var/nats"`}},
		{"relative log file", base + "\n[server.log]\nfile = \"nats.log\"\n",
			[]string{"test.toml:21", "server.log.file", `log file "nats.log" is not an absolute path`}},
		{"binary not a command", base + "\n[service]\nbinary = \"nats server\"\n",
			[]string{"test.toml:21", `"nats server" is not a command name`}},
		{"binary relative path", base + "\n[service]\nbinary = \"bin/nats-server\"\n",
			[]string{"test.toml:21", `"bin/nats-server" is neither an absolute path nor a command name`}},
		{"unknown install", base + "\n[service]\ninstall = \"snap\"\n",
			[]string{"test.toml:21", `unknown install "snap"`, `"package"`}},
		{"binary install with a relative binary", base + "\n[service]\ninstall = \"binary\"\nbinary_source = \"nats-server\"\nbinary_sha256 = \"" + goodSHA + "\"\n",
			[]string{"service.binary", `"nats-server" is not an absolute path`, "/usr/local/bin/nats-server"}},
		{"binary install without source and checksum", base + "\n[service]\ninstall = \"binary\"\nbinary = \"/usr/local/bin/nats-server\"\n",
			[]string{"test.toml:21", "needs service.binary_source", "needs service.binary_sha256"}},
		{"bad checksum", base + "\n[service]\ninstall = \"binary\"\nbinary = \"/usr/local/bin/nats-server\"\nbinary_source = \"nats-server\"\nbinary_sha256 = \"abc\"\n",
			[]string{"test.toml:24", `"abc" is not a SHA-256`}},
		{"source without binary install", base + "\n[service]\nbinary_source = \"nats-server\"\n",
			[]string{"test.toml:21", "service.binary_source", `only used with service.install = "binary"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := (&InventoryError{Problems: problems(t, tc.src)}).Error()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("error does not contain %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestHostValuesAccepted(t *testing.T) {
	inv := mustParse(t, base+`
[service]
unit = "nats@eu-1.service"
user = "nats.svc_1"
install = "binary"
binary = "/opt/nats/bin/nats-server"
binary_source = "build/nats-server"
binary_sha256 = "`+strings.ToUpper(goodSHA)+`"

[server.log]
file = "/var/log/nats/nats.log"
`)
	s := inv.Nodes[0].Service
	if s.Install != InstallBinary || s.BinarySHA256 != goodSHA || s.UnitName() != "nats@eu-1.service" {
		t.Errorf("resolved %+v", s)
	}
	if def := mustParse(t, base).Nodes[0].Service; def.Install != InstallPackage || def.UnitName() != "nats-server.service" {
		t.Errorf("defaults %+v", def)
	}
}

func TestUnitNameProblem(t *testing.T) {
	for unit, ok := range map[string]bool{
		"nats-server": true, "nats-server.service": true, "nats@a.service": true, `nats\x2dserver`: true,
		"nats:1": true, "": false, ".service": false, "@x.service": false, "nats/../x": false,
		"nats.socket": false, "nats-2.15": false, "nats-2.15.service": true, "nats @x": false,
	} {
		if got := UnitNameProblem(unit) == ""; got != ok {
			t.Errorf("UnitNameProblem(%q) = %q", unit, UnitNameProblem(unit))
		}
	}
}
