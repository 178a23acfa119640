// Package tune owns host tuning for nats-server: the desired kernel and
// limit settings from the inventory's [tune], reading what a host has, a
// plan (pure, table-tested), applying it over a remote.Host, and verifying
// what the running server really got (/proc/<pid>/limits). Run is
// pkg/hostrun's engine running those steps over several hosts.
//
// It must not decide how hosts are reached (pkg/remote) nor touch the
// nats-server config (pkg/config renders it).
package tune

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
)

// FileBase names the files natsops manages on a host.
const FileBase = "90-natsops.conf"

// Paths on the host.
const (
	SysctlDir = "/etc/sysctl.d"
	LimitsDir = "/etc/security/limits.d"
	UnitDir   = "/etc/systemd/system"
)

// Defaults: the seed's values and the usual companions for many
// connections. Defaults only ever raise a host's value ("at least"): a
// kernel that already allows more keeps it. Values the operator lists in
// [tune.sysctl] are set exactly.
const DefaultNoFile = 1024000

func defaultSysctls() []Sysctl {
	return []Sysctl{
		{Name: "fs.file-max", Value: "6815744", AtLeast: true},
		{Name: "fs.nr_open", Value: "1048576", AtLeast: true},
		{Name: "net.core.somaxconn", Value: "4096", AtLeast: true},
		{Name: "net.ipv4.tcp_max_syn_backlog", Value: "8192", AtLeast: true},
		{Name: "net.core.netdev_max_backlog", Value: "16384", AtLeast: true},
	}
}

// Sysctl is one kernel parameter.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// AtLeast means any current value >= Value is fine (built-in defaults).
	AtLeast bool `json:"at_least,omitempty"`
}

// ProcPath is the parameter's file under /proc/sys.
func (s Sysctl) ProcPath() string {
	return "/proc/sys/" + strings.ReplaceAll(s.Name, ".", "/")
}

// Desired is what one host should have.
type Desired struct {
	Sysctls []Sysctl `json:"sysctls"`
	NoFile  int64    `json:"nofile"`
	// User is the account nats-server runs as (limits.d entry).
	User string `json:"user"`
	// Unit is the systemd unit for the LimitNOFILE drop-in; empty in
	// pidfile mode.
	Unit string `json:"unit,omitempty"`
	// PidFile locates the running server in pidfile mode.
	PidFile string `json:"pid_file,omitempty"`
	// Contract is the stop contract natsops deploy installs for the unit
	// (service.ContractDropIn), verified against what systemd has; nil in
	// pidfile mode (no unit: natsops stops the server itself).
	Contract *service.Contract `json:"contract,omitempty"`
}

// ContractPath is the contract's drop-in, "" without one.
func (d Desired) ContractPath() string {
	if d.Contract == nil {
		return ""
	}
	return service.ContractPath(d.Contract.Unit)
}

// SysctlPath, LimitsPath and DropInPath are the managed files.
func (d Desired) SysctlPath() string { return SysctlDir + "/" + FileBase }

// LimitsPath is the limits.d file.
func (d Desired) LimitsPath() string { return LimitsDir + "/" + FileBase }

// DropInPath is the systemd drop-in, empty in pidfile mode.
func (d Desired) DropInPath() string {
	if d.Unit == "" {
		return ""
	}
	unit := d.Unit
	if !strings.Contains(unit, ".") {
		unit += ".service"
	}
	return UnitDir + "/" + unit + ".d/" + FileBase
}

// UnitName is the unit with its .service suffix.
func (d Desired) UnitName() string {
	if d.Unit == "" || strings.Contains(d.Unit, ".") {
		return d.Unit
	}
	return d.Unit + ".service"
}

// DesiredFor computes node n's desired tuning from the inventory.
func DesiredFor(inv *cluster.Inventory, n *cluster.Node) Desired {
	t := inv.File.Tune
	d := Desired{NoFile: DefaultNoFile, User: n.Service.User}
	if t.NoFile != nil {
		d.NoFile = *t.NoFile
	}
	if n.Service.Manager == "systemd" {
		d.Unit = n.Service.Unit
		if c, ok := service.ContractFor(n); ok {
			d.Contract = &c
		}
	} else if n.Server.PidFile != nil {
		d.PidFile = *n.Server.PidFile
	}
	byName := map[string]Sysctl{}
	for _, s := range defaultSysctls() {
		byName[s.Name] = s
	}
	for name, v := range t.Sysctl {
		byName[name] = Sysctl{Name: name, Value: valueString(v)}
	}
	// nofile above the default nr_open needs nr_open raised first; the
	// inventory check refuses nofile above an explicit nr_open.
	if nr := byName["fs.nr_open"]; nr.AtLeast {
		if cur, _ := strconv.ParseInt(nr.Value, 10, 64); cur < d.NoFile {
			nr.Value = strconv.FormatInt(d.NoFile, 10)
			byName["fs.nr_open"] = nr
		}
	}
	for _, s := range byName {
		d.Sysctls = append(d.Sysctls, s)
	}
	sort.Slice(d.Sysctls, func(i, j int) bool { return d.Sysctls[i].Name < d.Sysctls[j].Name })
	return d
}

func valueString(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return normalize(x)
	}
	return fmt.Sprint(v)
}

// normalize folds whitespace the way /proc/sys prints multi-value
// parameters (tabs) to single spaces.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }
