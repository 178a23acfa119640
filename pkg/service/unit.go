package service

import (
	"fmt"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
)

// UnitDir is where natsops writes the systemd units and drop-ins it owns.
const UnitDir = "/etc/systemd/system"

// UnitMarker starts every unit file natsops writes: a unit that begins
// with it is natsops's to rewrite; any other is left alone.
const UnitMarker = "# Managed by natsops (`natsops provision`)"

// stopMargin is added to lame_duck_duration for TimeoutStopSec: upstream's
// unit allows 150s for the 2m default. It is above exitMargin, so a stop
// natsops waits for is never cut short by systemd's SIGKILL first.
const stopMargin = 30 * time.Second

// StopTimeout is how long systemd lets nats-server take to stop: through
// lame duck mode, then the margin. Shorter, systemd kills it mid lame duck.
func StopTimeout(n *cluster.Node) time.Duration { return lameDuck(n) + stopMargin }

// UnitFile is the systemd unit natsops installs for node n when the
// distribution ships none, modelled on nats-server's
// util/nats-server-hardened.service: ExecStart service.binary -c
// service.config_path, reload by SIGHUP, stop through lame duck (SIGUSR2)
// within StopTimeout, LimitNOFILE noFile, Restart=on-failure, as
// service.user. Values reach the file through systemd's quoting, which
// has no escape for a line break: a value with a control character is
// refused (the inventory check refuses them first).
func UnitFile(n *cluster.Node, noFile int64) (path string, data []byte, err error) {
	s := n.Service
	if s.Manager != "systemd" || s.Unit == "" {
		return "", nil, fmt.Errorf("node %s: no systemd unit (service.manager is %q)", n.Name, s.Manager)
	}
	if msg := cluster.UnitNameProblem(s.Unit); msg != "" {
		return "", nil, fmt.Errorf("node %s: service.unit: %s", n.Name, msg)
	}
	if msg := cluster.UserNameProblem(s.User); msg != "" {
		return "", nil, fmt.Errorf("node %s: service.user: %s", n.Name, msg)
	}
	for _, v := range []struct{ key, value string }{{"service.binary", s.Binary}, {"service.config_path", s.ConfigPath}} {
		if v.value == "" || cluster.HasControl(v.value) {
			return "", nil, fmt.Errorf("node %s: %s %q cannot go into a unit file (empty, or a control character)", n.Name, v.key, v.value)
		}
	}
	ld := lameDuck(n)
	var b strings.Builder
	b.WriteString(UnitMarker + ` from service.binary, service.config_path,
# service.user, [tune] nofile and server.lame_duck_duration; changes here are
# overwritten. Put settings of your own in a drop-in (systemctl edit).
# Modelled on nats-server's util/nats-server-hardened.service.
[Unit]
Description=NATS Server
Documentation=https://docs.nats.io/running-a-nats-service/introduction
After=network-online.target ntp.service

[Service]
Type=simple
EnvironmentFile=-/etc/default/nats-server
`)
	b.WriteString("ExecStart=" + systemdQuote(s.Binary) + " -c " + systemdQuote(s.ConfigPath) + "\n")
	b.WriteString("ExecReload=/bin/kill -s HUP $MAINPID\n")
	fmt.Fprintf(&b, "# Lame duck mode: clients and JetStream leaders move to the other nodes\n# before the process exits; lame_duck_duration is %s, plus %s.\n", ld, stopMargin)
	b.WriteString("ExecStop=/bin/kill -s SIGUSR2 $MAINPID\n")
	fmt.Fprintf(&b, "TimeoutStopSec=%d\n", int((ld+stopMargin).Round(time.Second)/time.Second))
	fmt.Fprintf(&b, "User=%s\nGroup=%s\n", s.User, s.User)
	b.WriteString("Restart=on-failure\nRestartSec=5\n")
	fmt.Fprintf(&b, "LimitNOFILE=%d\n", noFile)
	b.WriteString("PrivateTmp=true\nNoNewPrivileges=true\n\n[Install]\nWantedBy=multi-user.target\n")
	return UnitDir + "/" + s.UnitName(), []byte(b.String()), nil
}
