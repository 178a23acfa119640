package service

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/health"
	"github.com/natsops/natsops/pkg/remote"
)

// PIDCommand is a shell command substitution that prints the running
// nats-server's pid, or 0: systemd's MainPID of unit (with its .service
// suffix), else the pid in pidFile. Both empty: 0. tune and the host
// probe find the server the same way.
func PIDCommand(unit, pidFile string) string {
	switch {
	case unit != "":
		return fmt.Sprintf("$(systemctl show -p MainPID --value %s 2>/dev/null || echo 0)", remote.Quote(unit))
	case pidFile != "":
		return fmt.Sprintf("$(cat %s 2>/dev/null || echo 0)", remote.Quote(pidFile))
	}
	return "0"
}

// nodePID is PIDCommand for node n.
func nodePID(n *cluster.Node) string {
	if n.Service.Manager == "systemd" {
		return PIDCommand(n.Service.UnitName(), "")
	}
	pf := ""
	if n.Server.PidFile != nil {
		pf = *n.Server.PidFile
	}
	return PIDCommand("", pf)
}

// markProbe starts every line ProbeCommand prints.
const markProbe = "natsops:probe"

// ProbeCommand reads node n's running nats-server in one round trip, as
// root (it reads another user's /proc/<pid>): the pid (PIDCommand), its
// state, the count of /proc/<pid>/fd, "Max open files" soft and hard from
// /proc/<pid>/limits, and the TCP ports it listens on (its socket inodes
// matched against the listening sockets of /proc/<pid>/net/tcp and tcp6,
// its own network namespace; "listened" once that read completed). With
// no process it prints what the service manager says. It always exits 0;
// ParseProbe reads its lines:
//
//	natsops:probe pid PID | nopid
//	natsops:probe unit ACTIVE SUBSTATE RESULT LOADSTATE   (systemd, no process)
//	natsops:probe pidfile PID                    (pidfile mode, no process)
//	natsops:probe state LETTER
//	natsops:probe fds COUNT
//	natsops:probe limits SOFT HARD
//	natsops:probe listen HEXPORT
//	natsops:probe listened                       (the ports were read)
func ProbeCommand(n *cluster.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid=%s\n", nodePID(n))
	// Whoever listens on the monitoring port (ss -p, as root): the
	// node's nats-server, or another process (a foreign listener).
	if port := health.MonitorPort(n); port > 0 {
		fmt.Fprintf(&b, `o=$(ss -ltnpH 'sport = :%d' 2>/dev/null | sed -n 's/.*users:(("[^"]*",pid=\([0-9]*\),.*/\1/p' | head -n 1)`+"\n", port)
		fmt.Fprintf(&b, `if [ -n "$o" ]; then echo "%s portowner $o $(tr '\0' ' ' < /proc/$o/cmdline 2>/dev/null | cut -c1-160)"; fi`+"\n", markProbe)
	}
	fmt.Fprintf(&b, "if [ \"${pid:-0}\" = 0 ] || [ ! -d /proc/$pid ]; then\n  echo \"%s nopid\"\n", markProbe)
	if n.Service.Manager == "systemd" {
		u := remote.Quote(n.Service.UnitName())
		fmt.Fprintf(&b, "  echo \"%[1]s unit $(systemctl is-active %[2]s 2>/dev/null) $(systemctl show -p SubState --value %[2]s 2>/dev/null) $(systemctl show -p Result --value %[2]s 2>/dev/null) $(systemctl show -p LoadState --value %[2]s 2>/dev/null)\"\n", markProbe, u)
	} else {
		fmt.Fprintf(&b, "  echo \"%s pidfile ${pid:-0}\"\n", markProbe)
	}
	b.WriteString("  exit 0\nfi\n")
	fmt.Fprintf(&b, "echo \"%[1]s pid $pid\"\n", markProbe)
	fmt.Fprintf(&b, "echo \"%[1]s state $(awk '/^State:/ {print $2}' /proc/$pid/status 2>/dev/null)\"\n", markProbe)
	fmt.Fprintf(&b, "echo \"%[1]s fds $(ls /proc/$pid/fd 2>/dev/null | wc -l)\"\n", markProbe)
	fmt.Fprintf(&b, "awk '/^Max open files/ {print \"%[1]s limits\", $4, $5}' /proc/$pid/limits 2>/dev/null\n", markProbe)
	// The socket inodes go through a pipe, never an argument: at the
	// seed's 20,000 connections they are ~150KB, past the kernel's 128KB
	// per argument (awk -v would fail with E2BIG and every port be lost).
	// "listened" ends a complete read: without it the ports are unknown,
	// not "none".
	b.WriteString("t=; for f in /proc/$pid/net/tcp /proc/$pid/net/tcp6; do [ -r \"$f\" ] && t=\"$t $f\"; done\n")
	fmt.Fprintf(&b, "if [ -n \"$t\" ]; then ls -l /proc/$pid/fd 2>/dev/null | sed -n 's/.*socket:\\[\\([0-9]*\\)\\].*/\\1/p' | awk 'NF == 1 { s[$1] = 1; next } $4 == \"0A\" && ($10 in s) { split($2, a, \":\"); print \"%[1]s listen\", a[2] } END { print \"%[1]s listened\" }' - $t 2>/dev/null; fi\n", markProbe)
	b.WriteString("exit 0\n")
	return b.String()
}

// ParseProbe reads ProbeCommand's output for node n into a host reading.
// With no process, Down says whether the service manager says so: a
// systemd unit inactive or failed, or (pidfile mode) a pid file that
// names no live process; a systemctl that answers nothing (no systemd
// running) leaves it unknown.
func ParseProbe(n *cluster.Node, out string) health.HostReading {
	h := health.HostReading{Reached: true}
	seen := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), markProbe+" ")
		if !ok {
			continue
		}
		key, val, _ := strings.Cut(rest, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "nopid":
			h.Note = health.NoteNoPID
		case "unit":
			f := strings.Fields(val)
			unit := n.Service.UnitName()
			switch {
			case len(f) == 0:
				h.Service = fmt.Sprintf("systemctl says nothing of %s: is systemd running?", unit)
			case len(f) == 4 && f[3] == "not-found":
				// No such unit: whatever serves the port, systemd does not run it.
				h.Service = fmt.Sprintf("systemd has no unit %s", unit)
			case f[0] == "inactive" || f[0] == "failed":
				h.Down = true
				h.Service = fmt.Sprintf("systemd: %s is %s", unit, strings.Join(f[:min(len(f), 3)], " "))
			default:
				h.Service = fmt.Sprintf("systemd: %s is %s, without a main pid", unit, strings.Join(f, " "))
			}
		case "pidfile":
			h.Down = true
			pf := ""
			if n.Server.PidFile != nil {
				pf = *n.Server.PidFile
			}
			if val == "0" || val == "" {
				h.Service = fmt.Sprintf("no pid in %s", pf)
			} else {
				h.Service = fmt.Sprintf("%s holds pid %s, which does not run", pf, val)
			}
		case "portowner":
			pid, cmd, _ := strings.Cut(val, " ")
			h.PortOwnerPID, _ = strconv.Atoi(pid)
			h.PortOwner = strings.TrimSpace(cmd)
		case "pid":
			h.PID, _ = strconv.Atoi(val)
		case "state":
			h.State = val
		case "fds":
			h.FDs, _ = strconv.Atoi(val)
		case "limits":
			f := strings.Fields(val)
			if len(f) == 2 {
				h.Soft, h.Hard = ParseLimit(f[0]), ParseLimit(f[1])
			}
		case "listened":
			if h.Listening == nil {
				h.Listening = []int{}
			}
		case "listen":
			if p, err := strconv.ParseInt(val, 16, 32); err == nil && !seen[int(p)] {
				seen[int(p)] = true
				h.Listening = append(h.Listening, int(p))
			}
		}
	}
	if h.PID == 0 && h.Note == "" {
		h.Note = "probe: no pid in the output"
	}
	return h
}

// ParseLimit reads a /proc/<pid>/limits value ("unlimited" is the
// largest); tune's observation reads the same file.
func ParseLimit(s string) int64 {
	if s == "unlimited" || s == "infinity" {
		return 1<<63 - 1
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
