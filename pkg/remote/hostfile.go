package remote

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// known_hosts as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT",
// hostfile.c, match.c). x/crypto's knownhosts is not used for the verdict:
// it counts @cert-authority lines as pinned host keys (a CA line turned
// every plain key into a "mismatch"), matches a bare pattern such as
// "*.example.com" only on port 22, and does not say which line revoked a
// certificate.

const (
	markerCA      = "@cert-authority"
	markerRevoked = "@revoked"
)

// hostLine is one known_hosts line that concerns the host being dialled
// (or, for @revoked, any host).
type hostLine struct {
	marker string // "", markerCA or markerRevoked
	key    ssh.PublicKey
	file   string
	line   int
	// exact: the host field matched "host" (port 22) or "[host]:port";
	// otherwise it matched only the port-less "host" of a non-22 port,
	// which OpenSSH consults when the exact name has no entry.
	exact bool
}

func (l hostLine) known() knownhosts.KnownKey {
	return knownhosts.KnownKey{Key: l.key, Filename: l.file, Line: l.line}
}

// hostDB is what the known_hosts files say about one host.
type hostDB struct {
	lines []hostLine
}

// hostfileName is the name OpenSSH looks a host up by: the host, lower
// case, and "[host]:port" for a port other than 22.
func hostfileName(host string, port int) string {
	h := strings.ToLower(host)
	if port == 0 || port == 22 {
		return h
	}
	return "[" + h + "]:" + strconv.Itoa(port)
}

// readHostDB reads the lines of files that concern host:port. A line that
// concerns it and cannot be read is an error naming file:line; lines for
// other hosts are only parsed as far as their host field (OpenSSH skips
// lines it cannot read, and they cannot change this host's verdict).
// @revoked lines are kept whatever hosts they name: a key known to be
// compromised is refused for every host (OpenSSH applies the line's host
// patterns; refusing more is the safe side).
func readHostDB(files []string, host string, port int) (*hostDB, error) {
	exact := hostfileName(host, port)
	bare := ""
	if port != 0 && port != 22 {
		bare = strings.ToLower(host)
	}
	db := &hostDB{}
	for _, f := range files {
		if err := db.readFile(f, exact, bare); err != nil {
			return nil, err
		}
	}
	return db, nil
}

func (db *hostDB) readFile(path, exact, bare string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("known_hosts %s: %w", path, err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l, err := parseHostLine(sc.Text(), exact, bare)
		if err != nil {
			return fmt.Errorf("known_hosts %s:%d: %v", path, n, err)
		}
		if l != nil {
			l.file, l.line = path, n
			db.lines = append(db.lines, *l)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("known_hosts %s: %w", path, err)
	}
	return nil
}

// parseHostLine returns the line if it concerns exact or bare (or is
// @revoked), nil if not.
func parseHostLine(text, exact, bare string) (*hostLine, error) {
	rest := strings.TrimLeft(text, " \t")
	if rest == "" || rest[0] == '#' {
		return nil, nil
	}
	marker := ""
	if rest[0] == '@' {
		marker, rest = nextField(rest)
		if marker != markerCA && marker != markerRevoked {
			// OpenSSH skips the line; an unknown marker on a line for
			// this host is a typo worth saying.
			hosts, _ := nextField(rest)
			if hosts != "" && (matchHosts(hosts, exact) || bare != "" && matchHosts(hosts, bare)) {
				return nil, fmt.Errorf("unknown marker %q (OpenSSH knows %s and %s)", marker, markerCA, markerRevoked)
			}
			return nil, nil
		}
	}
	hosts, rest := nextField(rest)
	l := &hostLine{marker: marker}
	switch {
	case hosts != "" && matchHosts(hosts, exact):
		l.exact = true
	case hosts != "" && bare != "" && matchHosts(hosts, bare):
	case marker == markerRevoked:
	default:
		return nil, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("no key after the host field")
	}
	key, err := parseKnownKey(rest)
	if err != nil {
		return nil, err
	}
	l.key = key
	return l, nil
}

// parseKnownKey reads "type base64 [comment]".
func parseKnownKey(s string) (ssh.PublicKey, error) {
	typ, rest := nextField(s)
	blob, _ := nextField(rest)
	if blob == "" {
		return nil, fmt.Errorf("no key after %q", typ)
	}
	raw, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %v", err)
	}
	key, err := ssh.ParsePublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot read the %s key: %v", typ, err)
	}
	if key.Type() != typ {
		return nil, fmt.Errorf("the line says %s but the key is %s", typ, key.Type())
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("a certificate is not a host key: put its CA on a %s line", markerCA)
	}
	return key, nil
}

func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// matchHosts is OpenSSH's match_maybe_hashed: a hashed field (|1|salt|hash)
// is HMAC-SHA1(salt, name); otherwise a comma-separated pattern list where
// any negated pattern that matches rules the line out (match_hostname).
func matchHosts(field, name string) bool {
	if strings.HasPrefix(field, "|") {
		return matchHashed(field, name)
	}
	positive := false
	for _, p := range strings.Split(field, ",") {
		negated := strings.HasPrefix(p, "!")
		if negated {
			p = p[1:]
		}
		if !matchPattern(name, strings.ToLower(p)) {
			continue
		}
		if negated {
			return false
		}
		positive = true
	}
	return positive
}

// matchHashed: an unreadable hash matches nothing (OpenSSH skips the line).
func matchHashed(field, name string) bool {
	parts := strings.Split(field, "|")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "1" {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	return hmac.Equal(mac.Sum(nil), want)
}

// matchPattern is OpenSSH's match_pattern: '*' any run of characters
// (dots and colons included), '?' one character, the rest literal.
func matchPattern(s, pattern string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// plain are the pinned host keys: those for the exact name, or, when it has
// none, those for the port-less name (OpenSSH's "checking without port
// identifier").
func (db *hostDB) plain() (keys []hostLine, exact bool) {
	for _, want := range []bool{true, false} {
		for _, l := range db.lines {
			if l.marker == "" && l.exact == want {
				keys = append(keys, l)
			}
		}
		if len(keys) > 0 {
			return keys, want
		}
	}
	return nil, false
}

// authorities are the @cert-authority lines for the host, exact name first.
func (db *hostDB) authorities() []hostLine {
	var ca []hostLine
	for _, want := range []bool{true, false} {
		for _, l := range db.lines {
			if l.marker == markerCA && l.exact == want {
				ca = append(ca, l)
			}
		}
	}
	return ca
}

// revoked is the @revoked line for key, if any.
func (db *hostDB) revoked(key ssh.PublicKey) *hostLine {
	for i, l := range db.lines {
		if l.marker == markerRevoked && sameKey(l.key, key) {
			return &db.lines[i]
		}
	}
	return nil
}

func sameKey(a, b ssh.PublicKey) bool {
	return string(a.Marshal()) == string(b.Marshal())
}
