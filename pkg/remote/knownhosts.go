package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a refused host key: unknown in strict mode, changed
// (possible man-in-the-middle), revoked, or a host certificate that does
// not verify.
type HostKeyError struct {
	Node        string
	Addr        string
	Fingerprint string // SHA256 of the key the server offered (a certificate's own key)
	KeyType     string
	// Unknown: no known_hosts entry; otherwise the entries that disagree.
	Unknown bool
	Revoked bool
	// Want: for a mismatch the pinned keys; for Revoked the @revoked line.
	Want       []knownhosts.KnownKey
	KnownHosts []string
	// Cert is set when the server presented a host certificate that was
	// refused (for Revoked: when the certificate or its CA is revoked).
	Cert *CertProblem
	// Insecure: refused although host_key_checking = "insecure" (revoked).
	Insecure bool
}

// Why a host certificate is refused (CertProblem.Reason).
const (
	CertUntrustedCA    = "untrusted-ca"    // no @cert-authority line for this host names its CA
	CertExpired        = "expired"         // past its valid-before
	CertNotYetValid    = "not-yet-valid"   // before its valid-after
	CertPrincipal      = "principal"       // not issued for this host name
	CertNotHost        = "not-host"        // a user certificate
	CertCriticalOption = "critical-option" // carries a critical option (OpenSSH refuses any on a host certificate)
	CertBadSignature   = "bad-signature"   // the CA signature does not verify, or uses SHA-1
	CertRevoked        = "revoked"         // its key or its CA is @revoked
)

// CertProblem says which host certificate was refused and why.
type CertProblem struct {
	Reason    string
	Detail    string // "expired 2024-01-02T03:04:05Z", ...
	Type      string // the certificate's algorithm, ssh-ed25519-cert-v01@openssh.com
	Serial    uint64
	KeyID     string
	CAType    string
	CA        string                // SHA256 fingerprint of the signing CA
	Trusted   []knownhosts.KnownKey // the @cert-authority lines for this host
	RevokedCA bool                  // for CertRevoked: the CA is revoked, not the host key
}

func (c *CertProblem) what() string {
	return fmt.Sprintf("certificate (%s, serial %d, ID %q, signed by CA %s %s)", c.Type, c.Serial, c.KeyID, c.CAType, c.CA)
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		w := e.Want[0]
		what := fmt.Sprintf("host key %s %s", e.KeyType, e.Fingerprint)
		if e.Cert != nil && e.Cert.RevokedCA {
			what = fmt.Sprintf("host %s: its CA %s %s", e.Cert.what(), e.Cert.CAType, e.Cert.CA)
		} else if e.Cert != nil {
			what = fmt.Sprintf("host %s: its key %s %s", e.Cert.what(), e.KeyType, e.Fingerprint)
		}
		s := fmt.Sprintf("%s (%s): %s is marked @revoked in %s:%d — refusing to connect", e.Node, e.Addr, what, w.Filename, w.Line)
		if e.Insecure {
			s += " (even with host_key_checking = \"insecure\": a key known to be compromised is never accepted)"
		}
		return s
	case e.Cert != nil:
		return e.certError()
	case e.Unknown:
		return fmt.Sprintf("%s (%s): unknown host: no known_hosts entry for it in %s (server offered %s %s) — add it after checking the fingerprint (ssh-keyscan -p %s %s >> %s), or set host_key_checking = \"accept-new\" to trust it on first use",
			e.Node, e.Addr, strings.Join(e.KnownHosts, ", "), e.KeyType, e.Fingerprint, portOf(e.Addr), hostOf(e.Addr), firstOr(e.KnownHosts, "~/.ssh/known_hosts"))
	}
	return fmt.Sprintf("%s (%s): HOST KEY MISMATCH — refusing to connect: the server offered %s %s but known_hosts has %s; this may be a man-in-the-middle attack; if the host key was legitimately changed, remove the old entry (ssh-keygen -R %s -f %s) and add the new one",
		e.Node, e.Addr, e.KeyType, e.Fingerprint, knownList(e.Want), knownhosts.Normalize(e.Addr), e.Want[0].Filename)
}

// certError: a certificate problem is said as one, never as a possible
// man-in-the-middle: an expired or misissued certificate is the common
// cause, and the fix is on the CA's side.
func (e *HostKeyError) certError() string {
	c := e.Cert
	var why, fix string
	switch c.Reason {
	case CertUntrustedCA:
		why = fmt.Sprintf("is signed by a CA that known_hosts does not trust for this host (it trusts %s)", knownList(c.Trusted))
		fix = "if the host's certificates now come from another CA, add that CA's @cert-authority line"
	case CertExpired:
		why, fix = c.Detail, "renew the host certificate (ssh-keygen -s <ca> -h -n <host> ...) and reload sshd"
	case CertNotYetValid:
		why, fix = c.Detail, "check this machine's clock and the certificate's validity (ssh-keygen -L -f <cert>)"
	case CertPrincipal:
		why, fix = c.Detail, fmt.Sprintf("reissue it with -n %s, or use a host name it lists", hostOf(e.Addr))
	default:
		why, fix = c.Detail, "reissue the host certificate"
	}
	s := fmt.Sprintf("%s (%s): HOST CERTIFICATE REFUSED — refusing to connect: the server's %s %s", e.Node, e.Addr, c.what(), why)
	if c.Reason != CertUntrustedCA && len(c.Trusted) > 0 {
		s += fmt.Sprintf(" (CA trusted at %s)", knownWhere(c.Trusted))
	}
	if len(e.Want) > 0 {
		s += fmt.Sprintf("; its key %s %s is not pinned either (known_hosts has %s)", e.KeyType, e.Fingerprint, knownList(e.Want))
	}
	return s + " — " + fix
}

func firstOr(l []string, d string) string {
	if len(l) > 0 {
		return l[0]
	}
	return d
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "22"
	}
	return p
}

// hostKeys is the host key policy for one dial.
type hostKeys struct {
	t        Target
	db       *hostDB // what the known_hosts files that exist say about t
	stderr   io.Writer
	algos    []string
	known    []knownhosts.KnownKey // the keys pinned for the target
	accepted string                // set when accept-new recorded the key
	now      func() time.Time
}

// newHostKeys loads t's known_hosts files (missing ones are skipped, like
// OpenSSH) and works out which host key algorithms to ask for.
func newHostKeys(t Target, stderr io.Writer) (*hostKeys, error) {
	hk := &hostKeys{t: t, stderr: stderr, now: time.Now}
	var files []string
	for _, f := range t.KnownHosts {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: known_hosts %s: %w", t.Node, f, err)
		}
	}
	db, err := readHostDB(files, t.Host, t.Port)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Node, err)
	}
	hk.db = db
	plain, _ := db.plain()
	for _, l := range plain {
		hk.known = append(hk.known, l.known())
	}
	hk.algos = hostKeyAlgorithms(plain, len(db.authorities()) > 0)
	return hk, nil
}

// hostKeyAlgorithms is what the client asks for. With pinned keys only
// their types, so a server that also has (say) an RSA key is asked for the
// type we know rather than causing a false mismatch. With a
// @cert-authority line for the host, every certificate algorithm first (a
// CA may sign any key type; OpenSSH's order_hostkeyalgs does the same),
// then the pinned types, or every plain type when none is pinned (so a host
// without a certificate is an unknown host, not a failed negotiation).
// Only algorithms x/crypto accepts by default (so not SHA-1 ssh-rsa, like
// OpenSSH >= 8.8); nil leaves negotiation at the defaults.
func hostKeyAlgorithms(plain []hostLine, ca bool) []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	var algos []string
	add := func(a ...string) {
		for _, x := range a {
			if contains(supported, x) && !contains(algos, x) {
				algos = append(algos, x)
			}
		}
	}
	if ca {
		for _, a := range supported {
			if isCertAlgo(a) {
				add(a)
			}
		}
	}
	for _, l := range plain {
		switch typ := l.key.Type(); typ {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			add(typ)
		}
	}
	if ca && len(plain) == 0 {
		for _, a := range supported {
			add(a)
		}
	}
	return algos
}

func isCertAlgo(a string) bool { return strings.Contains(a, "-cert-v01@") }

// callback is the ssh.HostKeyCallback enforcing the target's mode, with
// OpenSSH's verdicts (sshconnect.c check_host_key): a revoked key (or a
// certificate whose key or CA is revoked) is refused in every mode; a
// certificate is accepted when a @cert-authority line for the host names
// its CA and it is valid for the host now; otherwise its plain key is
// checked like any other host key.
func (hk *hostKeys) callback(_ string, _ net.Addr, key ssh.PublicKey) error {
	t := hk.t
	cert, isCert := key.(*ssh.Certificate)
	raw := key
	if isCert {
		raw = cert.Key
	}
	herr := &HostKeyError{Node: t.Node, Addr: t.Addr(), Fingerprint: ssh.FingerprintSHA256(raw), KeyType: raw.Type(), KnownHosts: t.KnownHosts}
	if r := hk.revoked(key, herr); r != nil {
		herr.Insecure = t.HostKeyChecking == HostKeyInsecure
		return r
	}
	if t.HostKeyChecking == HostKeyInsecure {
		fmt.Fprintf(hk.stderr, "WARNING: %s: HOST KEY NOT VERIFIED (host_key_checking = \"insecure\"): accepting %s %s without checking; anyone on the network path can impersonate this host — use \"strict\" or \"accept-new\" outside throwaway labs\n", t.label(), key.Type(), ssh.FingerprintSHA256(raw))
		return nil
	}
	authorities := hk.db.authorities()
	if isCert {
		herr.Cert = hk.checkCert(cert, authorities)
		if herr.Cert == nil {
			return nil
		}
	}
	// The plain key (a refused certificate's own key, as OpenSSH retries).
	plain, exact := hk.db.plain()
	for _, l := range plain {
		if sameKey(l.key, raw) {
			if herr.Cert != nil {
				fmt.Fprintf(hk.stderr, "natsops: WARNING: %s: host %s %s; connecting because its key %s %s is pinned at %s:%d\n", t.label(), herr.Cert.what(), herr.Cert.Detail, raw.Type(), herr.Fingerprint, l.file, l.line)
			}
			return nil
		}
	}
	if exact {
		// Pinned keys for this name, none of them this one.
		herr.Want = hk.known
		if herr.Cert != nil && len(authorities) == 0 {
			herr.Cert = nil // no CA was ever trusted here: a plain mismatch
		}
		return herr
	}
	// Nothing pinned (keys for the port-less name that differ do not count,
	// as in OpenSSH: another port may be another sshd).
	if herr.Cert != nil && len(authorities) > 0 {
		// A CA is trusted for this host and its certificate failed: never
		// trust it on first use instead, or an expired certificate would be
		// masked by a pinned key from then on.
		return herr
	}
	herr.Cert = nil
	herr.Unknown = true
	if t.HostKeyChecking != HostKeyAcceptNew {
		return herr
	}
	if err := appendKnownHost(t.KnownHosts, t.Addr(), raw); err != nil {
		return fmt.Errorf("%s: accept-new: %w", t.label(), err)
	}
	hk.accepted = herr.Fingerprint
	fmt.Fprintf(hk.stderr, "natsops: %s: new host, trusted on first use (accept-new): added %s %s to %s\n", t.label(), raw.Type(), herr.Fingerprint, t.KnownHosts[0])
	return nil
}

// revoked refuses key if it, a certificate's key or a certificate's CA is
// on a @revoked line.
func (hk *hostKeys) revoked(key ssh.PublicKey, herr *HostKeyError) *HostKeyError {
	cert, isCert := key.(*ssh.Certificate)
	raw := key
	if isCert {
		raw = cert.Key
	}
	if l := hk.db.revoked(raw); l != nil {
		herr.Revoked, herr.Want = true, []knownhosts.KnownKey{l.known()}
		if isCert {
			herr.Cert = certProblem(cert, CertRevoked, "its key is revoked", nil)
		}
		return herr
	}
	if isCert {
		if l := hk.db.revoked(cert.SignatureKey); l != nil {
			herr.Revoked, herr.Want = true, []knownhosts.KnownKey{l.known()}
			herr.Cert = certProblem(cert, CertRevoked, "its CA is revoked", nil)
			herr.Cert.RevokedCA = true
			return herr
		}
	}
	return nil
}

// checkCert is OpenSSH's check for a host certificate (the CA on a
// @cert-authority line for the host, then sshkey_cert_check_host, as of
// OpenSSH 10.3): nil if it is good for this host now.
func (hk *hostKeys) checkCert(cert *ssh.Certificate, authorities []hostLine) *CertProblem {
	var trusted []knownhosts.KnownKey
	found := false
	for _, l := range authorities {
		trusted = append(trusted, l.known())
		if sameKey(l.key, cert.SignatureKey) {
			found = true
		}
	}
	p := func(reason, detail string) *CertProblem { return certProblem(cert, reason, detail, trusted) }
	if !found {
		return p(CertUntrustedCA, "is signed by a CA that known_hosts does not trust for this host")
	}
	host := strings.ToLower(hk.t.Host)
	now := hk.now()
	switch {
	case cert.CertType != ssh.HostCert:
		return p(CertNotHost, "is a user certificate, not a host certificate")
	case cert.ValidAfter != 0 && (int64(cert.ValidAfter) < 0 || now.Unix() < int64(cert.ValidAfter)):
		return p(CertNotYetValid, "is not valid before "+certTime(cert.ValidAfter))
	case cert.ValidBefore != ssh.CertTimeInfinity && (int64(cert.ValidBefore) < 0 || now.Unix() >= int64(cert.ValidBefore)):
		return p(CertExpired, "expired "+certTime(cert.ValidBefore))
	case len(cert.ValidPrincipals) == 0:
		// OpenSSH before 10.3 (and x/crypto) took no principals for "any
		// host": fail-open if a CA signs one by mistake (CVE-2024-7594).
		return p(CertPrincipal, "lists no principals (OpenSSH refuses such certificates since 10.3: valid for any host is fail-open)")
	case principal(cert.ValidPrincipals, host) == "":
		return p(CertPrincipal, fmt.Sprintf("is for %s, not %s", strings.Join(cert.ValidPrincipals, ", "), host))
	case len(cert.CriticalOptions) > 0:
		var opts []string
		for o := range cert.CriticalOptions {
			opts = append(opts, o)
		}
		sort.Strings(opts)
		return p(CertCriticalOption, "carries critical options ("+strings.Join(opts, ", ")+"), which a host certificate must not")
	case cert.Signature == nil || !contains(ssh.SupportedAlgorithms().PublicKeyAuths, cert.Signature.Format):
		return p(CertBadSignature, "is signed with an algorithm OpenSSH refuses for CAs (SHA-1 ssh-rsa?)")
	}
	// The signature, and anything the checks above missed.
	cc := ssh.CertChecker{Clock: hk.now}
	if err := cc.CheckCert(principal(cert.ValidPrincipals, host), cert); err != nil {
		return p(CertBadSignature, strings.TrimPrefix(err.Error(), "ssh: "))
	}
	return nil
}

// principal is the first of a host certificate's principals that names
// host; as OpenSSH >= 10.3, a host certificate's principals may be
// patterns ("*.example.com").
func principal(principals []string, host string) string {
	for _, p := range principals {
		if matchPattern(host, p) {
			return p
		}
	}
	return ""
}

func certProblem(cert *ssh.Certificate, reason, detail string, trusted []knownhosts.KnownKey) *CertProblem {
	return &CertProblem{Reason: reason, Detail: detail, Type: cert.Type(), Serial: cert.Serial, KeyID: cert.KeyId,
		CAType: cert.SignatureKey.Type(), CA: ssh.FingerprintSHA256(cert.SignatureKey), Trusted: trusted}
}

func certTime(t uint64) string {
	return time.Unix(int64(t), 0).UTC().Format(time.RFC3339)
}

// appendKnownHost appends a known_hosts line for addr to the first file,
// creating it (0600) and its directory (0700) if needed. One write with
// O_APPEND, so parallel dials do not interleave lines.
func appendKnownHost(files []string, addr string, key ssh.PublicKey) error {
	if len(files) == 0 {
		return errors.New("no known_hosts file to record the key in")
	}
	f := files[0]
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if st, err := fh.Stat(); err == nil && st.Size() > 0 {
		if last, err := lastByte(f, st.Size()); err == nil && last != '\n' {
			line = "\n" + line
		}
	}
	if _, err := fh.Write([]byte(line)); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func lastByte(path string, size int64) (byte, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, size-1); err != nil {
		return 0, err
	}
	return b[0], nil
}

// knownWhere is "file:line, file:line".
func knownWhere(keys []knownhosts.KnownKey) string {
	var where []string
	for _, w := range keys {
		where = append(where, fmt.Sprintf("%s:%d", w.Filename, w.Line))
	}
	return strings.Join(where, ", ")
}

// knownList is "file:line (type SHA256:...)" for each known key.
func knownList(keys []knownhosts.KnownKey) string {
	var where []string
	for _, w := range keys {
		where = append(where, fmt.Sprintf("%s:%d (%s %s)", w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key)))
	}
	return strings.Join(where, ", ")
}
