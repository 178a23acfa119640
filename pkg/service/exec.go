package service

import (
	"path"
	"regexp"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
)

// ExecDropInName is the systemd drop-in natsops writes so that the unit
// runs service.binary with service.config_path (next to tune's
// 90-natsops.conf).
const ExecDropInName = "91-natsops-exec.conf"

// ExecDropIn is the drop-in that makes node's systemd unit start
// service.binary -c service.config_path: how natsops changes the binary a
// packaged unit runs (a rolling upgrade). ok is false when natsops leaves
// the unit's ExecStart alone: pidfile mode (natsops starts the server
// itself), or a service.binary that is not an absolute path (the packaged
// default).
func ExecDropIn(n *cluster.Node) (file string, data []byte, ok bool) {
	if n.Service.Manager != "systemd" || !path.IsAbs(n.Service.Binary) {
		return "", nil, false
	}
	unit := n.Service.Unit
	if !strings.Contains(unit, ".") {
		unit += ".service"
	}
	var b strings.Builder
	b.WriteString("# Managed by natsops (`natsops deploy`, from service.binary and\n# service.config_path); changes here are overwritten.\n[Service]\nExecStart=\n")
	b.WriteString("ExecStart=" + systemdQuote(n.Service.Binary) + " -c " + systemdQuote(n.Service.ConfigPath) + "\n")
	return "/etc/systemd/system/" + unit + ".d/" + ExecDropInName, []byte(b.String()), true
}

// systemdQuote makes s one literal word of a unit file's command line:
// specifiers (%) and variables ($) escaped, quoted when it holds anything
// but plain path characters.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "%", "%%"), "$", "$$")
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-:@=,%$") == "" {
		return s
	}
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

var versionRE = regexp.MustCompile(`\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\b`)

// ParseServerVersion reads the version from `nats-server --version`
// ("nats-server: v2.15.2"), or "" when there is none.
func ParseServerVersion(out string) string {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}
