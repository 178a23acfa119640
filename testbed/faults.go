package testbed

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Faults. Each acts on one node by name and has an inverse. They go through
// docker or nsenter (not SSH) so they work whatever state the node's sshd
// is in.

// Stop stops the node cleanly (systemd shutdown via SIGRTMIN+3).
func (tb *Testbed) Stop(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "stop")
}

// Kill kills the node's PID 1 with SIGKILL: the whole host dies at once,
// nats-server gets no signal.
func (tb *Testbed) Kill(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "kill", "--signal", "KILL")
}

// Start boots a stopped or killed node (same address, same host key).
func (tb *Testbed) Start(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "start")
}

// Restart reboots the node.
func (tb *Testbed) Restart(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "restart")
}

// Pause freezes every process on the node (cgroup freezer): connections
// hang instead of being refused.
func (tb *Testbed) Pause(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "pause")
}

// Unpause thaws a paused node.
func (tb *Testbed) Unpause(ctx context.Context, node string) error {
	return tb.dockerNode(ctx, node, "unpause")
}

// Disconnect cuts the node off the network: no traffic to or from the host
// or the other nodes until Reconnect.
func (tb *Testbed) Disconnect(ctx context.Context, node string) error {
	n, err := tb.Node(node)
	if err != nil {
		return err
	}
	_, err = Docker(ctx, nil, "network", "disconnect", tb.Network, n.Container)
	return err
}

// Reconnect puts the node back on the network with its static address.
func (tb *Testbed) Reconnect(ctx context.Context, node string) error {
	n, err := tb.Node(node)
	if err != nil {
		return err
	}
	_, err = Docker(ctx, nil, "network", "connect", "--ip", n.Host, tb.Network, n.Container)
	return err
}

const hostKey = "/etc/ssh/ssh_host_ed25519_key"

// ReplaceHostKey gives the node a new SSH host key (the old one is kept
// aside) and restarts sshd: the generated known_hosts no longer matches, so
// a verifying client must refuse the node.
func (tb *Testbed) ReplaceHostKey(ctx context.Context, node string) error {
	_, err := tb.Exec(ctx, node, fmt.Sprintf(`set -e
k=%[1]s
[ -e $k.testbed-orig ] || { cp -p $k $k.testbed-orig; cp -p $k.pub $k.pub.testbed-orig; }
rm -f $k $k.pub
ssh-keygen -q -t ed25519 -N "" -C "" -f $k
systemctl restart ssh`, hostKey))
	return err
}

// RestoreHostKey puts back the key ReplaceHostKey set aside.
func (tb *Testbed) RestoreHostKey(ctx context.Context, node string) error {
	_, err := tb.Exec(ctx, node, fmt.Sprintf(`set -e
k=%[1]s
if [ -e $k.testbed-orig ]; then mv -f $k.testbed-orig $k; mv -f $k.pub.testbed-orig $k.pub; systemctl restart ssh; fi`, hostKey))
	return err
}

// FaultDropIn is the drop-in BreakNATSStart installs.
const FaultDropIn = "/etc/systemd/system/nats-server.service.d/99-natsops-testbed-fault.conf"

// BreakNATSStart makes every later start of nats-server fail (a drop-in
// whose ExecStartPre exits 1), whatever config natsops deploys. It does not
// touch the running server; the next (re)start fails.
func (tb *Testbed) BreakNATSStart(ctx context.Context, node string) error {
	_, err := tb.Exec(ctx, node, fmt.Sprintf(`set -e
mkdir -p "$(dirname %[1]s)"
printf '%%s\n' '# natsops testbed fault: nats-server cannot start' '[Service]' \
  "ExecStartPre=/bin/sh -c 'echo natsops-testbed fault: start refused >&2; exit 1'" > %[1]s
systemctl daemon-reload`, FaultDropIn))
	return err
}

// FixNATSStart removes BreakNATSStart's drop-in (it does not start the
// service).
func (tb *Testbed) FixNATSStart(ctx context.Context, node string) error {
	_, err := tb.Exec(ctx, node, fmt.Sprintf(`rm -f %s && systemctl daemon-reload && systemctl reset-failed nats-server || true`, FaultDropIn))
	return err
}

// CutRoutes resets every TCP connection to or from the node's route port
// (RoutePort) and refuses new ones, in the node's own network namespace
// (iptables there, entered from this machine with nsenter): the node keeps
// serving clients, SSH and monitoring, but loses its routes. Peers see it
// fall behind; its own :8222 still answers. HealRoutes undoes it.
func (tb *Testbed) CutRoutes(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, RoutePort, "-I")
}

// HealRoutes removes CutRoutes' rules (none there: nothing to do).
func (tb *Testbed) HealRoutes(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, RoutePort, "-D")
}

// CutGateways is CutRoutes for the gateway port (GatewayPort): the node
// loses its outbound gateways to the other clusters and every inbound one
// (the other clusters' servers dial another node of its cluster instead),
// and keeps its routes, clients, SSH and monitoring. HealGateways undoes
// it.
func (tb *Testbed) CutGateways(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, GatewayPort, "-I")
}

// HealGateways removes CutGateways' rules.
func (tb *Testbed) HealGateways(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, GatewayPort, "-D")
}

// CutLeafNodes is CutRoutes for the leaf node port (LeafPort): on a leaf
// node its connections to the hub, on a hub node those of the leaf nodes
// it accepted (they reconnect to another hub node). HealLeafNodes undoes
// it.
func (tb *Testbed) CutLeafNodes(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, LeafPort, "-I")
}

// HealLeafNodes removes CutLeafNodes' rules.
func (tb *Testbed) HealLeafNodes(ctx context.Context, node string) error {
	return tb.portRules(ctx, node, LeafPort, "-D")
}

// portRules inserts (-I) or deletes (-D) the rules that reset TCP to and
// from port, both directions, in the node's network namespace. Deleting
// rules that are not there is not an error (heal is idempotent).
func (tb *Testbed) portRules(ctx context.Context, node string, port int, op string) error {
	n, err := tb.Node(node)
	if err != nil {
		return err
	}
	pid, err := Docker(ctx, nil, "inspect", "-f", "{{.State.Pid}}", n.Container)
	if err != nil {
		return err
	}
	pid = strings.TrimSpace(pid)
	if pid == "" || pid == "0" {
		return fmt.Errorf("%s: container not running", node)
	}
	p := fmt.Sprint(port)
	for _, rule := range [][]string{
		{"INPUT", "--dport", p}, {"INPUT", "--sport", p},
		{"OUTPUT", "--dport", p}, {"OUTPUT", "--sport", p},
	} {
		args := []string{"-t", pid, "-n", "iptables", op, rule[0], "-p", "tcp", rule[1], rule[2], "-j", "REJECT", "--reject-with", "tcp-reset"}
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		if err != nil && op == "-I" {
			return fmt.Errorf("%s: nsenter %s: %v: %s", node, strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func (tb *Testbed) dockerNode(ctx context.Context, node string, args ...string) error {
	n, err := tb.Node(node)
	if err != nil {
		return err
	}
	_, err = Docker(ctx, nil, append(args, n.Container)...)
	return err
}

// Fault is a named fault for the CLI.
type Fault func(tb *Testbed, ctx context.Context, node string) error

// Faults maps CLI names to faults.
var Faults = map[string]Fault{
	"stop":             (*Testbed).Stop,
	"kill":             (*Testbed).Kill,
	"start":            (*Testbed).Start,
	"restart":          (*Testbed).Restart,
	"pause":            (*Testbed).Pause,
	"unpause":          (*Testbed).Unpause,
	"disconnect":       (*Testbed).Disconnect,
	"reconnect":        (*Testbed).Reconnect,
	"replace-host-key": (*Testbed).ReplaceHostKey,
	"restore-host-key": (*Testbed).RestoreHostKey,
	"break-nats-start": (*Testbed).BreakNATSStart,
	"fix-nats-start":   (*Testbed).FixNATSStart,
	"cut-routes":       (*Testbed).CutRoutes,
	"heal-routes":      (*Testbed).HealRoutes,
	"cut-gateways":     (*Testbed).CutGateways,
	"heal-gateways":    (*Testbed).HealGateways,
	"cut-leafnodes":    (*Testbed).CutLeafNodes,
	"heal-leafnodes":   (*Testbed).HealLeafNodes,
}

// FaultNames lists Faults' keys, sorted.
func FaultNames() string {
	var names []string
	for k := range Faults {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
