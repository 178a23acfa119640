// Package service knows how nats-server runs on one host under its service
// manager (systemd, or pidfile: started by a command, stopped through its
// pid file) and writes the shell for it: stop (lame duck or fast), wait
// for exit, start, reload, liveness, the last log lines, and the systemd
// ExecStart drop-in that makes a unit run service.binary. It also reads
// what those scripts print.
//
// It builds commands and parses their output; it runs nothing. Every
// inventory value reaches a command through remote.Quote (or, in a unit
// file, systemd's own quoting). Sequencing the commands across a cluster
// is pkg/rollout.
package service

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
)

// Mode is how a node is stopped.
type Mode string

const (
	// Graceful stops through lame duck mode (SIGUSR2): clients are moved
	// away and Raft leaders handed over before the process exits.
	Graceful Mode = "graceful"
	// Fast stops at once, without lame duck (SIGINT / --signal quit).
	Fast Mode = "fast"
)

// ParseMode checks a --mode value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Graceful, Fast:
		return Mode(s), nil
	}
	return "", fmt.Errorf("--mode must be graceful or fast, not %q", s)
}

// Markers printed by the remote scripts.
const (
	MarkNotRunning = "natsops:not-running"
	MarkExited     = "natsops:exited"
	MarkTimeout    = "natsops:still-running"
	MarkAlive      = "natsops:alive"
	MarkDead       = "natsops:dead"
	MarkPID        = "natsops:pid"
)

// exitMargin is added to lame_duck_duration when waiting for a graceful
// stop; fast stops get exitMargin alone.
const exitMargin = 15 * time.Second

// defaultLameDuck is nats-server's lame_duck_duration default.
const defaultLameDuck = 2 * time.Minute

// lameDuck is the node's lame_duck_duration.
func lameDuck(n *cluster.Node) time.Duration {
	if d := n.Server.LameDuckDuration; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return defaultLameDuck
}

// Commands are the shell commands natsops runs on one node, printed as
// they are by --dry-run.
type Commands struct {
	Stop     string `json:"stop"`
	WaitExit string `json:"wait_exit"`
	Start    string `json:"start"`
	Logs     string `json:"logs"`
	// Alive prints MarkAlive while the service's process runs, MarkDead
	// and why when it is gone (pidfile mode: see AliveCommand).
	Alive string `json:"-"`
	// ExitBound is how long the process may take to exit after Stop.
	ExitBound time.Duration `json:"-"`
}

// CommandsFor builds a node's stop, wait, start and log commands for its
// service manager. Every inventory value is quoted.
func CommandsFor(n *cluster.Node, mode Mode) Commands {
	bound := exitMargin
	if mode == Graceful {
		bound += lameDuck(n)
	}
	secs := int(bound.Round(time.Second) / time.Second)
	var c Commands
	c.ExitBound = bound
	if n.Service.Manager == "pidfile" {
		pf := ""
		if n.Server.PidFile != nil {
			pf = *n.Server.PidFile
		}
		sig := "ldm"
		if mode == Fast {
			sig = "quit"
		}
		// Remember the pid before signalling: the wait watches that pid.
		c.Stop = fmt.Sprintf("pid=$(cat %[1]s 2>/dev/null || true)\nif [ -z \"$pid\" ] || ! kill -0 \"$pid\" 2>/dev/null; then echo %[2]s; exit 0; fi\necho \"$pid\" > %[1]s.natsops-stopping\n%[3]s",
			remote.Quote(pf), MarkNotRunning, remote.Command(n.Service.Binary, "--signal", sig+"="+pf))
		c.WaitExit = fmt.Sprintf("pid=$(cat %[1]s.natsops-stopping 2>/dev/null || true)\nrm -f %[1]s.natsops-stopping\nif [ -z \"$pid\" ]; then echo %[2]s; exit 0; fi\nend=$(($(date +%%s) + %[3]d))\nwhile kill -0 \"$pid\" 2>/dev/null; do\n  if [ \"$(date +%%s)\" -ge $end ]; then echo %[4]s; exit 0; fi\n  sleep 0.05\ndone\necho %[2]s",
			remote.Quote(pf), MarkExited, secs, MarkTimeout)
		start := n.Service.StartCommand
		if start == "" {
			start = remote.Command(n.Service.Binary, "-c", n.Service.ConfigPath)
		}
		logTo := "/dev/null"
		if f := n.Server.Log.File; f == nil || *f == "" {
			logTo = PidfileOutput
		}
		c.Logs = LogsCommand(n)
		// Detached: the process must outlive the SSH session. Its pid is
		// printed for the liveness check while it comes up.
		c.Start = fmt.Sprintf("setsid nohup sh -c %s >>%s 2>&1 </dev/null &\necho \"%s $!\"", remote.Quote(start), logTo, MarkPID)
		c.Alive = AliveCommand(n, "")
		return c
	}
	unit := remote.Quote(n.Service.Unit)
	// Both modes signal the main process and wait for it to exit, rather
	// than `systemctl stop`: what that sends is the unit's (Debian's
	// ExecStop sends SIGINT; under natsops's contract, KillSignal=SIGUSR2
	// is lame duck), so neither mode would be what it says on every unit.
	// Graceful: SIGUSR2, lame duck. Fast: SIGINT, nats-server's orderly
	// shutdown without lame duck (--signal quit; exit 0 on every version,
	// where SIGTERM exits 1 before 2.10).
	sig := "SIGUSR2"
	if mode == Fast {
		sig = "SIGINT"
	}
	c.Stop = fmt.Sprintf("if ! systemctl is-active --quiet %[1]s; then echo %[2]s; exit 0; fi\nsystemctl kill -s %[3]s --kill-who=main %[1]s", unit, MarkNotRunning, sig)
	c.WaitExit = fmt.Sprintf("end=$(($(date +%%s) + %[2]d))\nwhile [ \"$(systemctl show -p MainPID --value %[1]s)\" != 0 ]; do\n  if [ \"$(date +%%s)\" -ge $end ]; then echo %[3]s; exit 0; fi\n  sleep 0.05\ndone\necho %[4]s", unit, secs, MarkTimeout, MarkExited)
	c.Start = "systemctl start " + unit
	// activating covers Restart= retries: systemd is still trying.
	c.Alive = fmt.Sprintf("s=$(systemctl is-active %[1]s)\ncase $s in active|activating|reloading|deactivating) echo %[2]s;; *) echo \"%[3]s systemd reports the unit $s\";; esac", unit, MarkAlive, MarkDead)
	c.Logs = LogsCommand(n)
	return c
}

// PidfileOutput is where a pidfile-mode server started by natsops writes
// its output when the inventory names no log file.
const PidfileOutput = "/var/log/natsops-nats-server.out"

// logWindow is how many of the server's last log lines LogsCommand reads:
// wide enough that the line saying why a node is not back survives the
// server's echoes of natsops's own health polling (ExplainLog collapses
// them).
const logWindow = 400

// LogsCommand prints the node's last server log lines: its journal, or in
// pidfile mode its log file (or PidfileOutput).
func LogsCommand(n *cluster.Node) string {
	if n.Service.Manager == "pidfile" {
		f := PidfileOutput
		if l := n.Server.Log.File; l != nil && *l != "" {
			f = *l
		}
		return fmt.Sprintf("tail -n %d %s", logWindow, remote.Quote(f))
	}
	return fmt.Sprintf("journalctl -u %s -n %d --no-pager", remote.Quote(n.Service.Unit), logWindow)
}

// ReloadCommand makes the node's server reload its config (SIGHUP).
func ReloadCommand(n *cluster.Node) string {
	if n.Service.Manager == "systemd" {
		return remote.Command("systemctl", "kill", "-s", "HUP", "--kill-whom=main", n.Service.Unit)
	}
	pf := ""
	if n.Server.PidFile != nil {
		pf = *n.Server.PidFile
	}
	return remote.Command(n.Service.Binary, "--signal", "reload="+pf)
}

// DisableCommand keeps the node's server from starting at boot (systemd:
// systemctl disable, and its failed state cleared; pidfile mode starts
// nothing at boot: a no-op).
func DisableCommand(n *cluster.Node) string {
	if n.Service.Manager != "systemd" {
		return "true"
	}
	// A lame-ducked server exits on its own, which systemd may count as
	// a failure: a node taken out is left "inactive", not "failed".
	return remote.Command("systemctl", "disable", "--quiet", n.Service.Unit) + " && { " + remote.Command("systemctl", "reset-failed", n.Service.Unit) + " 2>/dev/null || true; }"
}

// DaemonReload makes systemd reread its unit files (after a drop-in
// changed).
const DaemonReload = "systemctl daemon-reload"

// ParseAlive reads an Alive command's output: dead, and why, once the
// process is gone.
func ParseAlive(out string) (dead bool, why string) {
	out = strings.TrimSpace(out)
	i := strings.Index(out, MarkDead)
	if i < 0 {
		return false, ""
	}
	return true, strings.TrimSpace(strings.TrimPrefix(out[i:], MarkDead))
}

// AliveCommand is the pidfile-mode liveness check: the process the start
// command launched (StartPID, when known) or the pid in the pid file runs.
// Either is enough: a start command that forks leaves only the pid file.
func AliveCommand(n *cluster.Node, StartPID string) string {
	pf := ""
	if n.Server.PidFile != nil {
		pf = *n.Server.PidFile
	}
	var b strings.Builder
	// A zombie (nobody reaped it yet) counts as gone.
	b.WriteString("natsops_runs() { kill -0 \"$1\" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' /proc/\"$1\"/status; }\n")
	if StartPID != "" {
		fmt.Fprintf(&b, "if natsops_runs %s; then echo %s; exit 0; fi\n", remote.Quote(StartPID), MarkAlive)
	}
	fmt.Fprintf(&b, "pid=$(cat %[1]s 2>/dev/null || true)\nif [ -n \"$pid\" ] && natsops_runs \"$pid\"; then echo %[2]s; else echo \"%[3]s no nats-server process runs (the pid file holds ${pid:-nothing})\"; fi", remote.Quote(pf), MarkAlive, MarkDead)
	return b.String()
}

// StartPID is the pid a pidfile-mode start printed, or "".
func StartPID(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, MarkPID+" "); ok {
			if _, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
				return strings.TrimSpace(rest)
			}
		}
	}
	return ""
}

// Cycle is Stop, WaitExit (unless the server was not running) and Start
// in one remote script, so a node's restart costs one round trip: each
// step prints "natsops:step NAME EXIT MS" (MS: the node's clock, in
// milliseconds) followed by its output as "natsops:out " lines. A failing
// step ends the script; a server that does not exit is never started.
// The script ignores SIGHUP and SIGPIPE: when natsops dies (kill -9, a
// dropped connection) between the stop and the start, the script's
// output has nowhere to go, and the node must still be started, never
// left down.
func (c Commands) Cycle() string { return c.script(true) }

// Halt is Cycle without the start: stop, and wait for the process to exit
// (a node put back to "not running", or taken out of a cluster).
func (c Commands) Halt() string { return c.script(false) }

func (c Commands) script(start bool) string {
	var b strings.Builder
	b.WriteString(`trap '' HUP PIPE
natsops_ms() { d=$(date +%s%N); case $d in *N) echo $(( ${d%N} * 1000 ));; *) echo $(( d / 1000000 ));; esac; }
natsops_step() {
  natsops_out=$(sh -c "$2" 2>&1); natsops_rc=$?
  printf 'natsops:step %s %s %s\n' "$1" "$natsops_rc" "$(natsops_ms)"
  printf '%s\n' "$natsops_out" | sed 's/^/natsops:out /'
  return $natsops_rc
}
echo "natsops:begin $(natsops_ms)"
`)
	fmt.Fprintf(&b, "natsops_step stop %s || exit 0\n", remote.Quote(c.Stop))
	fmt.Fprintf(&b, "case \"$natsops_out\" in *%s*) ;; *)\n  natsops_step exit %s || exit 0\n  case \"$natsops_out\" in *%s*) ;; *) exit 0;; esac;;\nesac\n", MarkNotRunning, remote.Quote(c.WaitExit), MarkExited)
	if start {
		fmt.Fprintf(&b, "natsops_step start %s\n", remote.Quote(c.Start))
	}
	return b.String()
}

// CycleStep is one step of a Cycle's output.
type CycleStep struct {
	Name string
	Exit int
	MS   int64 // node clock when it finished
	Out  string
}

// ParseCycle reads a Cycle's output: the begin time and each step run.
func ParseCycle(out string) (begin int64, steps map[string]*CycleStep) {
	steps = map[string]*CycleStep{}
	var last *CycleStep
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "natsops:begin "):
			begin, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "natsops:begin ")), 10, 64)
		case strings.HasPrefix(line, "natsops:step "):
			f := strings.Fields(line)
			if len(f) != 4 {
				continue
			}
			s := &CycleStep{Name: f[1]}
			s.Exit, _ = strconv.Atoi(f[2])
			s.MS, _ = strconv.ParseInt(f[3], 10, 64)
			steps[s.Name] = s
			last = s
		case strings.HasPrefix(line, "natsops:out ") && last != nil:
			if t := strings.TrimPrefix(line, "natsops:out "); t != "" {
				if last.Out != "" {
					last.Out += "\n"
				}
				last.Out += t
			}
		}
	}
	return begin, steps
}
