package service

import (
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
)

func unitNode(t *testing.T, extra string) *cluster.Node {
	t.Helper()
	inv, err := cluster.Parse("inv.toml", []byte("[service]\nmanager = \"systemd\"\n"+extra+"\n[[node]]\nname = \"a\"\nhost = \"h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return inv.Nodes[0]
}

func TestUnitFile(t *testing.T) {
	n := unitNode(t, `unit = "nats"
binary = "/opt/nats 2/nats-server"
config_path = "/etc/nats/100%.conf"
user = "natsd"
[server]
lame_duck_duration = "45s"
`)
	path, data, err := UnitFile(n, 65536)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/etc/systemd/system/nats.service" {
		t.Errorf("path %s", path)
	}
	text := string(data)
	if !strings.HasPrefix(text, UnitMarker) {
		t.Errorf("unit does not start with the marker:\n%s", text)
	}
	for _, want := range []string{
		"\nExecStart=\"/opt/nats 2/nats-server\" -c /etc/nats/100%%.conf\n",
		"\nExecReload=/bin/kill -s HUP $MAINPID\n",
		"\nExecStop=/bin/kill -s SIGUSR2 $MAINPID\n",
		"\nTimeoutStopSec=75\n", // 45s lame duck + 30s
		"\nUser=natsd\nGroup=natsd\n",
		"\nRestart=on-failure\n",
		"\nLimitNOFILE=65536\n",
		"\n[Install]\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}
	// Every line is a comment, a section or a key=value: nothing a value
	// brought in started a line of its own.
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") && !strings.Contains(l, "=") {
			t.Errorf("stray line %q", l)
		}
	}
}

func TestUnitFileDefaults(t *testing.T) {
	n := unitNode(t, "")
	path, data, err := UnitFile(n, 1024000)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/etc/systemd/system/nats-server.service" || !strings.Contains(string(data), "\nTimeoutStopSec=150\n") ||
		!strings.Contains(string(data), "\nExecStart=nats-server -c /etc/nats-server.conf\n") {
		t.Errorf("%s:\n%s", path, data)
	}
	if got := StopTimeout(n); got != 150*time.Second {
		t.Errorf("StopTimeout %s, want 2m30s (upstream's 150s)", got)
	}
	// Above the wait natsops itself allows a graceful stop.
	if StopTimeout(n) <= CommandsFor(n, Graceful).ExitBound {
		t.Error("systemd would kill nats-server before natsops stops waiting for it")
	}
}

// TestUnitFileRefusesControlCharacters: systemd's quoting has no escape for
// a line break, so a value that would start a line of its own is refused
// (the inventory check refuses it first; this is the last line of defence).
func TestUnitFileRefusesControlCharacters(t *testing.T) {
	for _, mutate := range []func(*cluster.Node){
		func(n *cluster.Node) { n.Service.Binary = "/usr/sbin/nats-server\nExecStartPre=/bin/rm -rf /" },
		func(n *cluster.Node) { n.Service.ConfigPath = "/etc/n.conf\r" },
		func(n *cluster.Node) { n.Service.User = "nats\nUser=root" },
		func(n *cluster.Node) { n.Service.Unit = "nats\n" },
		func(n *cluster.Node) { n.Service.Manager = "pidfile" },
	} {
		n := unitNode(t, "")
		mutate(n)
		if _, data, err := UnitFile(n, 1024); err == nil {
			t.Errorf("accepted %+v:\n%s", n.Service, data)
		}
	}
}
