package cluster

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values that end up in a file or a command on a host (unit and user
// names, paths, the binary natsops installs) are checked at load, so that a
// bad one is refused with its line before any host is touched: quoting
// keeps a value from changing a shell command, but a newline in a unit
// file or a user name useradd refuses must not get that far.

var (
	// systemd.unit(5): letters, digits and ":-_.\" in the name, "@" before
	// a template's instance.
	unitPartRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+$`)
	// POSIX portable user names: the portable filename characters, not
	// starting with a hyphen.
	userNameRE = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)
	// A command found on PATH (service.binary when not a path).
	commandRE = regexp.MustCompile(`^[A-Za-z0-9._+-]+$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

const (
	// maxUnitName is systemd's UNIT_NAME_MAX less the terminating NUL.
	maxUnitName = 255
	// maxUserName is useradd's limit (and systemd's for User=).
	maxUserName = 32
)

// UnitNameProblem says what is wrong with a systemd service name ("" when
// nothing is). A name without a suffix gets ".service".
func UnitNameProblem(unit string) string {
	full := unit
	if !strings.HasSuffix(full, ".service") {
		if strings.Contains(full, ".") {
			return fmt.Sprintf("unit %q has a suffix other than .service (systemctl would read it as %q, natsops's drop-ins would go elsewhere)", unit, unit+".service")
		}
		full += ".service"
	}
	name := strings.TrimSuffix(full, ".service")
	prefix, instance, templated := strings.Cut(name, "@")
	switch {
	case len(full) > maxUnitName:
		return fmt.Sprintf("unit name %q is longer than %d characters", unit, maxUnitName)
	case prefix == "" || !unitPartRE.MatchString(prefix):
		return fmt.Sprintf("%q is not a systemd unit name", unit)
	case templated && (instance == "" || !unitPartRE.MatchString(instance)):
		return fmt.Sprintf("%q is not a startable unit name (a template needs an instance after @)", unit)
	}
	return ""
}

// UserNameProblem says what is wrong with a service user name ("" when
// nothing is).
func UserNameProblem(user string) string {
	switch {
	case user == "":
		return "the service user is empty"
	case len(user) > maxUserName:
		return fmt.Sprintf("user name %q is longer than %d characters", user, maxUserName)
	case !userNameRE.MatchString(user):
		return fmt.Sprintf("%q is not a portable user name", user)
	case strings.Trim(user, "0123456789") == "":
		return fmt.Sprintf("user name %q is all digits (it would be read as a uid)", user)
	case user == "." || user == "..":
		return fmt.Sprintf("%q is not a user name", user)
	}
	return ""
}

// HasControl reports a control character (or bytes that are not UTF-8):
// none of them belongs in a path, and a newline would end a unit file's line.
func HasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// checkHostValues checks what natsops writes on node n's host.
func (c *checker) checkHostValues(n *Node) {
	k := func(key string) []string { return nodeKey(n.Index, key) }
	s := n.Service
	remote := n.Connection == "ssh"
	if s.Manager == "systemd" && s.Unit != "" {
		if msg := UnitNameProblem(s.Unit); msg != "" {
			c.add(n.Name, "service.unit", k("service.unit"), msg, `use a name such as "nats-server" or "nats-server.service": letters, digits and ":-_.\", "@" before an instance`)
		}
	}
	if msg := UserNameProblem(s.User); msg != "" {
		c.add(n.Name, "service.user", k("service.user"), msg, `use a system user name such as "nats": letters, digits, ".", "_" and "-" (not first), at most 32 characters`)
	}

	// Paths on the node. A relative one is refused elsewhere for SSH nodes
	// (local nodes, as the demo's, keep theirs relative to the inventory).
	paths := []struct{ key, value string }{
		{"service.config_path", s.ConfigPath},
		{"service.binary", s.Binary},
	}
	if d := n.JetStream.StoreDir; d != nil {
		paths = append(paths, struct{ key, value string }{"jetstream.store_dir", *d})
	}
	if f := n.Server.Log.File; f != nil {
		paths = append(paths, struct{ key, value string }{"server.log.file", *f})
		if remote && *f != "" && !path.IsAbs(*f) {
			c.add(n.Name, "server.log.file", k("server.log.file"), fmt.Sprintf("log file %q is not an absolute path", *f), "use an absolute path on the node, e.g. /var/log/nats/nats-server.log")
		}
	}
	for _, p := range paths {
		switch {
		case HasControl(p.value):
			c.add(n.Name, p.key, k(p.key), fmt.Sprintf("%q has a control character", p.value), "remove it: paths on the node are single lines of printable characters")
		case path.IsAbs(p.value) && path.Clean(p.value) != p.value:
			c.add(n.Name, p.key, k(p.key), fmt.Sprintf("path %q is not clean", p.value), fmt.Sprintf("write it as %q (no '..', '//' or trailing '/')", path.Clean(p.value)))
		}
	}
	if b := s.Binary; !HasControl(b) && !path.IsAbs(b) {
		switch {
		case s.Install == InstallBinary:
			c.add(n.Name, "service.binary", k("service.binary"), fmt.Sprintf("service.install = \"binary\" installs the binary at service.binary, but %q is not an absolute path", b), "set service.binary to where it goes on the node, e.g. \"/usr/local/bin/nats-server\"")
		case strings.Contains(b, "/") && remote:
			c.add(n.Name, "service.binary", k("service.binary"), fmt.Sprintf("binary %q is neither an absolute path nor a command name", b), "use an absolute path on the node, or a name found on PATH such as \"nats-server\"")
		case !strings.Contains(b, "/") && !commandRE.MatchString(b):
			c.add(n.Name, "service.binary", k("service.binary"), fmt.Sprintf("%q is not a command name", b), "use an absolute path on the node, or a name found on PATH such as \"nats-server\"")
		}
	}
	c.checkInstall(n)
	c.checkGoMemLimit(n)
}

// checkGoMemLimit checks service.gomemlimit: Go's own syntax (a value the
// runtime cannot read makes nats-server crash at start), not so small
// that the garbage collector never stops, and a systemd unit to carry it.
func (c *checker) checkGoMemLimit(n *Node) {
	v := n.Service.GoMemLimit
	if v == "" {
		return
	}
	at := nodeKey(n.Index, "service.gomemlimit")
	if n.Service.Manager != "systemd" {
		c.add(n.Name, "service.gomemlimit", at, "gomemlimit is set through the systemd unit (Environment=GOMEMLIMIT), and pidfile mode has none", "remove gomemlimit, or start the server with it yourself: service.start_command = \"env GOMEMLIMIT="+v+" nats-server -c ...\"")
		return
	}
	b, err := ParseGoMemLimit(v)
	var bad *GoMemLimitError
	switch {
	case errors.As(err, &bad):
		c.add(n.Name, "service.gomemlimit", at, bad.Msg, bad.Fix)
	case b >= 0 && b < MinGoMemLimit:
		c.add(n.Name, "service.gomemlimit", at, fmt.Sprintf("gomemlimit %q is %d bytes: the Go runtime would collect garbage without pause", v, b), fmt.Sprintf("write it with a unit, e.g. \"%sMiB\" or \"3GiB\" (at least 64MiB)", v))
	}
}

// checkInstall checks service.install and the binary it names.
func (c *checker) checkInstall(n *Node) {
	k := func(key string) []string { return nodeKey(n.Index, key) }
	s := n.Service
	switch s.Install {
	case InstallPackage:
		if s.BinarySource != "" || s.BinarySHA256 != "" {
			key := "service.binary_source"
			if s.BinarySource == "" {
				key = "service.binary_sha256"
			}
			c.add(n.Name, key, k(key), "binary_source and binary_sha256 are only used with service.install = \"binary\"", "set service.install = \"binary\" to upload that file, or remove them to install the distribution's package")
		}
	case InstallBinary:
		switch {
		case s.BinarySource == "":
			c.add(n.Name, "service.binary_source", k("service.install"), "service.install = \"binary\" needs service.binary_source", "set binary_source to the nats-server binary on this machine (relative to the inventory), e.g. \"build/nats-server\"")
		case HasControl(s.BinarySource):
			c.add(n.Name, "service.binary_source", k("service.binary_source"), fmt.Sprintf("%q has a control character", s.BinarySource), "remove it")
		}
		switch {
		case s.BinarySHA256 == "":
			c.add(n.Name, "service.binary_sha256", k("service.install"), "service.install = \"binary\" needs service.binary_sha256, the SHA-256 of binary_source", "pin it: binary_sha256 = \"<the output of sha256sum on binary_source>\"")
		case !sha256RE.MatchString(s.BinarySHA256):
			c.add(n.Name, "service.binary_sha256", k("service.binary_sha256"), fmt.Sprintf("%q is not a SHA-256 (64 hex digits)", s.BinarySHA256), "use the first field of `sha256sum FILE`")
		}
	default:
		c.add(n.Name, "service.install", k("service.install"), fmt.Sprintf("unknown install %q", s.Install), `use "package" (the distribution's nats-server package) or "binary" (upload service.binary_source)`)
	}
}
