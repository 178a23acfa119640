package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/natsops/natsops/pkg/cluster"
)

// Rule IDs for findings that come from nats-server itself.
const (
	RuleParse    = "NATS001" // the config parser rejected the file
	RuleOptions  = "NATS002" // option validation (NewServer) rejected it
	RuleNatsWarn = "NATS003" // the parser accepted it with a warning
	RuleSecret   = "INV001"  // a secret could not be resolved
	RuleTLSLocal = "INV002"  // TLS files are not on this machine
)

// validateConfig runs nats-server's own parser and option validation on a
// rendered config, the same code `nats-server -t` runs plus the checks that
// only happen in server.NewServer (max_payload over max_pending, lame duck
// grace period, websocket without TLS, ...).
func validateConfig(inv *cluster.Inventory, r *Rendered) []Finding {
	var out []Finding
	opts := &server.Options{}
	err := opts.ProcessConfigString(string(r.Config))
	if err != nil {
		var errs, warns []error
		if pe, ok := err.(interface {
			Errors() []error
			Warnings() []error
		}); ok {
			errs, warns = pe.Errors(), pe.Warnings()
		} else {
			errs = []error{err}
		}
		for _, e := range warns {
			out = append(out, natsFinding(inv, r, RuleNatsWarn, SevWarning, e))
		}
		for _, e := range errs {
			out = append(out, natsFinding(inv, r, RuleParse, SevError, e))
		}
		if len(errs) > 0 {
			return out
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return append(out, natsFinding(inv, r, RuleOptions, SevError, err))
	}
	s.Shutdown()
	return out
}

var natsPosRE = regexp.MustCompile(`^[^:]*:(\d+):(\d+): (.*)$`)

// natsFinding maps a nats-server error back to the node, the inventory key
// and, where possible, the line of the inventory that set it.
func natsFinding(inv *cluster.Inventory, r *Rendered, rule string, sev Severity, err error) Finding {
	msg := Scrub(strings.TrimSpace(err.Error()), r.secrets)
	f := Finding{Rule: rule, Severity: sev, Node: r.Node.Name, File: inv.Path}
	confKey := ""
	if m := natsPosRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		confKey = confKeyAt(r.Config, line)
		msg = m[3]
		f.Message = "rendered config line " + m[1] + " (" + confKey + "): " + msg
	} else {
		f.Message = msg
		confKey = guessConfKey(msg)
	}
	f.conf = confKey
	if key := inventoryKey(confKey); key != "" {
		f.Key = key
		f.Line, _ = inv.NodeLine(r.Node, key), 0
		f.Fix = "change " + key + " in the inventory"
	}
	return f
}

// confKeyAt returns the dotted key path of the config line (1-based), by
// following the block structure natsops's templates write.
func confKeyAt(cfg []byte, line int) string {
	var stack []string
	for i, l := range strings.Split(string(cfg), "\n") {
		t := strings.TrimSpace(l)
		key := strings.TrimSpace(strings.SplitN(strings.SplitN(t, ":", 2)[0], " ", 2)[0])
		if i+1 == line {
			if t == "{" || t == "}" || t == "]" || strings.HasPrefix(t, "\"") {
				return strings.Join(stack, ".")
			}
			return strings.Join(append(stack, key), ".")
		}
		switch {
		case strings.HasPrefix(t, "#") || t == "":
		case t == "{":
			stack = append(stack, "")
		case strings.HasSuffix(t, "{") || strings.HasSuffix(t, "["):
			stack = append(stack, key)
		case (t == "}" || t == "]" || t == "},") && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	return ""
}

// guessConfKey finds the option a message without a position talks about.
func guessConfKey(msg string) string {
	for _, k := range []string{"max_payload", "max_pending", "lame duck grace period", "lame_duck", "websocket", "max_control_line", "max_connections", "cluster", "jetstream", "authorization", "tls", "write_deadline", "ping_interval"} {
		if strings.Contains(strings.ToLower(msg), k) {
			switch k {
			case "lame duck grace period":
				return "lame_duck_grace_period"
			case "lame_duck":
				return "lame_duck_duration"
			}
			return k
		}
	}
	return ""
}

// topLevelKey maps top-level config keys whose inventory name differs.
func topLevelKey(conf string) (string, bool) {
	switch conf {
	case "server_name":
		return "name", true
	case "host":
		return "server.listen_host", true
	case "debug", "trace":
		return "server.log." + conf, true
	case "logtime":
		return "server.log.time", true
	case "log_file":
		return "server.log.file", true
	case "logfile_size_limit":
		return "server.log.size_limit", true
	case "logfile_max_num":
		return "server.log.max_files", true
	case "server_tags":
		return "server.tags", true
	}
	return "", false
}

// inventoryKey maps a rendered config key path to the inventory key that
// produces it.
func inventoryKey(conf string) string {
	if conf == "" {
		return ""
	}
	parts := strings.Split(conf, ".")
	head := parts[0]
	rest := strings.Join(parts[1:], ".")
	join := func(prefix, r string) string {
		if r == "" {
			return prefix
		}
		return prefix + "." + r
	}
	switch head {
	case "authorization":
		return join("server.auth", strings.TrimSuffix(strings.ReplaceAll(rest, "..", "."), "."))
	case "cluster":
		switch {
		case rest == "host":
			return "cluster.listen_host"
		case strings.HasPrefix(rest, "routes"), strings.HasPrefix(rest, "authorization"):
			return "cluster"
		}
		return join("cluster", rest)
	case "jetstream":
		switch rest {
		case "max_memory_store":
			return "jetstream.max_memory"
		case "max_file_store":
			return "jetstream.max_file"
		}
		return join("jetstream", rest)
	case "websocket":
		if rest == "host" {
			return "server.websocket.listen_host"
		}
		return join("server.websocket", rest)
	case "tls":
		return join("server.tls", rest)
	}
	if k, ok := topLevelKey(head); ok {
		return k
	}
	return "server." + head
}

// tlsStandIns supplies throwaway certificate files for validating a config
// whose TLS files exist only on the nodes. The real files are checked on
// each node by `nats-server -t` at deploy.
type tlsStandIns struct {
	dir     string
	missing []string
	// bad are TLS files on this machine that nats-server must not be
	// given to read (not a regular file, or too large for a PEM file).
	bad []string
	err error
}

// maxTLSFile bounds a certificate, key or CA file (a PEM bundle of a few
// certificates is kilobytes).
const maxTLSFile = 1 << 20

func (t *tlsStandIns) path(kind, p string) string {
	if p == "" {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		if err := cluster.CheckRegular(p, maxTLSFile); err != nil {
			t.bad = append(t.bad, fmt.Sprintf("%s: %v", p, err))
		}
		return p
	}
	t.missing = append(t.missing, p)
	if t.dir == "" && t.err == nil {
		t.dir, t.err = writeStandInCerts()
	}
	if t.err != nil {
		return p
	}
	if kind == "key" {
		return filepath.Join(t.dir, "key.pem")
	}
	return filepath.Join(t.dir, "cert.pem")
}

func (t *tlsStandIns) cleanup() {
	if t.dir != "" {
		os.RemoveAll(t.dir)
	}
}

func writeStandInCerts() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natsops validation stand-in"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "natsops-tls-")
	if err != nil {
		return "", err
	}
	err = errors.Join(
		os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600),
	)
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
