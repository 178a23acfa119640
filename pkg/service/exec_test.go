package service

import (
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

func TestExecDropIn(t *testing.T) {
	for _, tc := range []struct {
		name, service string
		ok            bool
		file, exec    string
	}{
		{"absolute binary", `manager = "systemd"
binary = "/usr/local/bin/nats-server-2.15"
config_path = "/etc/nats-server.conf"`, true, "/etc/systemd/system/nats-server.service.d/91-natsops-exec.conf", "ExecStart=/usr/local/bin/nats-server-2.15 -c /etc/nats-server.conf\n"},
		{"unit with suffix, odd paths", `manager = "systemd"
unit = "nats@a.service"
binary = "/opt/nats 2/nats-server"
config_path = "/etc/nats/100%$HOME\".conf"`, true, "/etc/systemd/system/nats@a.service.d/91-natsops-exec.conf", `ExecStart="/opt/nats 2/nats-server" -c "/etc/nats/100%%$$HOME\".conf"` + "\n"},
		{"packaged default binary", `manager = "systemd"`, false, "", ""},
		{"pidfile mode", `manager = "pidfile"
binary = "/opt/nats/nats-server"`, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := cluster.Parse("inv.toml", []byte("[service]\n"+tc.service+"\n\n[server]\npid_file = \"/run/n.pid\"\n\n[[node]]\nname = \"a\"\nhost = \"h\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			file, data, ok := ExecDropIn(inv.Nodes[0])
			if ok != tc.ok || file != tc.file {
				t.Fatalf("got %q ok=%v, want %q ok=%v", file, ok, tc.file, tc.ok)
			}
			if !ok {
				return
			}
			// The packaged ExecStart is cleared first, then replaced.
			if !strings.Contains(string(data), "[Service]\nExecStart=\n"+tc.exec) {
				t.Errorf("drop-in:\n%s\nwant the line %q", data, tc.exec)
			}
		})
	}
}

func TestParseServerVersion(t *testing.T) {
	for in, want := range map[string]string{
		"nats-server: v2.15.2\n":        "2.15.2",
		"nats-server: v2.9.10":          "2.9.10",
		"nats-server: v2.11.0-RC.1":     "2.11.0-RC.1",
		"2.10.4":                        "2.10.4",
		"sh: 1: nats-server: not found": "",
	} {
		if got := ParseServerVersion(in); got != want {
			t.Errorf("ParseServerVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
