// Package provision owns what a bare host needs before `natsops deploy`:
// nats-server installed (the distribution's package through apt or dnf,
// or a binary file from the operator's machine, uploaded with its SHA-256
// checked), the service user and group, the JetStream store and log
// directories with owner and mode, and, where the distribution ships none,
// a systemd unit, enabled. It is built like pkg/tune: the desired state
// from the inventory (pure), what a host has (one read-only round trip), a
// plan (pure, table-tested), applying it (one round trip) and verifying
// the result; Run is pkg/hostrun's engine running those steps over the
// selected hosts, as tune's is.
//
// It does not start, stop or configure nats-server (deploy installs the
// config and starts the cluster), tune the kernel (pkg/tune) or decide how
// hosts are reached (pkg/remote).
package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/service"
	"github.com/natsops/natsops/pkg/tune"
)

// Package is the distribution package's name (Debian, Ubuntu, Fedora and
// EPEL call it the same).
const Package = "nats-server"

// DirMode is the mode of the directories natsops makes for nats-server:
// its own user and group only (the store holds every message).
const DirMode = 0o750

// Desired is what one host should have.
type Desired struct {
	Node    string `json:"node"`
	Manager string `json:"manager"`
	Install string `json:"install"`
	// Binary is service.binary: an absolute path, or (package mode) a
	// command found on PATH.
	Binary string `json:"binary"`
	// SHA256 is the pinned digest of the binary (binary mode).
	SHA256 string `json:"sha256,omitempty"`
	// MinVersion is service.nats_version ("" accepts any); MinVersionAt is
	// where the inventory sets it.
	MinVersion   string `json:"min_version,omitempty"`
	MinVersionAt string `json:"-"`
	// User (and its group, of the same name) nats-server runs as; empty in
	// pidfile mode, where natsops starts the server itself.
	User string `json:"user,omitempty"`
	Dirs []Dir  `json:"dirs"`
	// Unit is the systemd unit (with .service); empty in pidfile mode.
	Unit string `json:"unit,omitempty"`
	// UnitPath and UnitData are the unit natsops installs when the
	// distribution ships none.
	UnitPath string `json:"unit_path,omitempty"`
	UnitData []byte `json:"-"`
	// PidFile locates a pidfile-mode server (is it running the binary?).
	PidFile string `json:"-"`
	// Source is the file to upload (binary mode).
	Source *Source `json:"-"`
}

// Dir is a directory nats-server writes to.
type Dir struct {
	Path string `json:"path"`
	// Owner is "user:group"; empty leaves the owner to whoever natsops
	// runs as (pidfile mode: the user that starts the server).
	Owner string `json:"owner,omitempty"`
	Mode  uint32 `json:"mode"`
	// Key is the inventory setting it comes from.
	Key string `json:"key"`
}

// MaxBinaryBytes bounds a binary_source: a nats-server build is about
// 17 MB; natsops holds the file in memory to hash and upload it.
const MaxBinaryBytes = 256 << 20

// Source is a binary on the operator's machine, read once per run.
type Source struct {
	Path   string
	SHA256 string
	Data   []byte
}

// systemDirs are shared by the whole system: natsops never takes one over
// as nats-server's (chown /var/log to nats and other services lose their
// logs).
var systemDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
	"/lib": true, "/lib64": true, "/media": true, "/mnt": true, "/opt": true, "/proc": true,
	"/root": true, "/run": true, "/sbin": true, "/srv": true, "/sys": true, "/tmp": true,
	"/usr": true, "/usr/bin": true, "/usr/lib": true, "/usr/local": true, "/usr/local/bin": true,
	"/usr/local/lib": true, "/usr/local/sbin": true, "/usr/sbin": true, "/usr/share": true,
	"/var": true, "/var/cache": true, "/var/lib": true, "/var/log": true, "/var/opt": true,
	"/var/run": true, "/var/spool": true, "/var/tmp": true, "/var/mail": true,
}

// LoadSources reads and hashes the binary_source of every selected node in
// binary mode, once per file. A missing file, or one whose SHA-256 is not
// the pinned binary_sha256, is an inventory problem: nothing may reach a
// host.
func LoadSources(inv *cluster.Inventory, nodes []*cluster.Node) (map[string]*Source, error) {
	out := map[string]*Source{}
	var problems []cluster.Problem
	for _, n := range nodes {
		s := n.Service
		if s.Install != cluster.InstallBinary {
			continue
		}
		p := sourcePath(inv, s.BinarySource)
		src, seen := out[p]
		if !seen {
			data, err := cluster.ReadBounded(p, MaxBinaryBytes)
			if err != nil {
				problems = append(problems, problem(inv, n, "service.binary_source", fmt.Sprintf("cannot read the binary to upload: %v", err), "build or download nats-server there (the path is relative to the inventory), or fix binary_source"))
				out[p] = nil
				continue
			}
			sum := sha256.Sum256(data)
			src = &Source{Path: p, SHA256: hex.EncodeToString(sum[:]), Data: data}
			out[p] = src
		}
		if src == nil {
			continue // unreadable, already reported
		}
		if src.SHA256 != s.BinarySHA256 {
			problems = append(problems, problem(inv, n, "service.binary_sha256", fmt.Sprintf("%s has sha256 %s, not the pinned %s", s.BinarySource, src.SHA256, s.BinarySHA256), "make sure binary_source is the build you meant; if it is, pin its digest (sha256sum "+s.BinarySource+")"))
		}
	}
	if len(problems) > 0 {
		return nil, &cluster.InventoryError{Problems: problems}
	}
	return out, nil
}

func sourcePath(inv *cluster.Inventory, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(inv.Dir, p)
}

func problem(inv *cluster.Inventory, n *cluster.Node, key, msg, fix string) cluster.Problem {
	return cluster.Problem{File: inv.Path, Line: inv.NodeLine(n, key), Node: n.Name, Key: key, Msg: msg, Fix: fix}
}

// DesiredFor computes node n's desired state. sources are LoadSources's.
// Problems are inventory settings provision cannot carry out on this node
// (checked here rather than at load: they matter to provision only).
func DesiredFor(inv *cluster.Inventory, n *cluster.Node, sources map[string]*Source) (Desired, []cluster.Problem) {
	s := n.Service
	d := Desired{
		Node: n.Name, Manager: s.Manager, Install: s.Install, Binary: s.Binary,
		MinVersion: strings.TrimPrefix(s.NATSVersion, "v"), MinVersionAt: fmt.Sprintf("%s:%d", inv.Path, inv.NodeLine(n, "service.nats_version")),
	}
	var problems []cluster.Problem
	if s.Install == cluster.InstallBinary {
		d.SHA256 = s.BinarySHA256
		d.Source = sources[sourcePath(inv, s.BinarySource)]
	}
	owner := ""
	switch s.Manager {
	case "systemd":
		d.User = s.User
		owner = s.User + ":" + s.User
		d.Unit = s.UnitName()
		path, data, err := service.UnitFile(n, tune.DesiredFor(inv, n).NoFile)
		if err != nil {
			problems = append(problems, problem(inv, n, "service.unit", err.Error(), "fix the value named"))
		}
		d.UnitPath, d.UnitData = path, data
	case "pidfile":
		if n.Server.PidFile != nil {
			d.PidFile = *n.Server.PidFile
		}
		if s.Install == cluster.InstallPackage {
			problems = append(problems, problem(inv, n, "service.install",
				"in pidfile mode natsops starts nats-server itself, but a distribution package runs its own service (Debian's starts nats-server.service at once) on the same ports",
				`set service.install = "binary" with binary_source and binary_sha256, or use service.manager = "systemd"`))
		}
	}
	var dirs []struct{ key, path string }
	if n.JetStreamEnabled() && n.JetStream.StoreDir != nil && *n.JetStream.StoreDir != "" {
		dirs = append(dirs, struct{ key, path string }{"jetstream.store_dir", *n.JetStream.StoreDir})
	}
	if f := n.Server.Log.File; f != nil && *f != "" {
		dirs = append(dirs, struct{ key, path string }{"server.log.file", path.Dir(*f)})
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		switch {
		case !path.IsAbs(dir.path):
			problems = append(problems, problem(inv, n, dir.key, fmt.Sprintf("%q is relative: provision makes directories on the host by absolute path", dir.path), "use an absolute path"))
			continue
		case systemDirs[dir.path]:
			problems = append(problems, problem(inv, n, dir.key, fmt.Sprintf("%s is a system directory: natsops will not make it nats-server's (owner %s, mode %04o)", dir.path, orRoot(owner), DirMode), "give nats-server a directory of its own, e.g. /var/lib/nats/jetstream or /var/log/nats/nats-server.log"))
			continue
		case seen[dir.path]:
			continue
		}
		seen[dir.path] = true
		d.Dirs = append(d.Dirs, Dir{Path: dir.path, Owner: owner, Mode: DirMode, Key: dir.key})
	}
	return d, problems
}

func orRoot(owner string) string {
	if owner == "" {
		return "the user natsops runs as"
	}
	return owner
}
