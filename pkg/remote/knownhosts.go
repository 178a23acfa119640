package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a refused host key: unknown in strict mode, changed
// (possible man-in-the-middle), or revoked.
type HostKeyError struct {
	Node        string
	Addr        string
	Fingerprint string // SHA256 of the key the server offered
	KeyType     string
	// Unknown: no known_hosts entry; otherwise the entries that disagree.
	Unknown    bool
	Revoked    bool
	Want       []knownhosts.KnownKey
	KnownHosts []string
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("%s (%s): host key %s %s is marked @revoked in %s:%d — refusing to connect",
			e.Node, e.Addr, e.KeyType, e.Fingerprint, e.Want[0].Filename, e.Want[0].Line)
	case e.Unknown:
		return fmt.Sprintf("%s (%s): unknown host: no known_hosts entry for it in %s (server offered %s %s) — add it after checking the fingerprint (ssh-keyscan -p %s %s >> %s), or set host_key_checking = \"accept-new\" to trust it on first use",
			e.Node, e.Addr, strings.Join(e.KnownHosts, ", "), e.KeyType, e.Fingerprint, portOf(e.Addr), hostOf(e.Addr), firstOr(e.KnownHosts, "~/.ssh/known_hosts"))
	}
	return fmt.Sprintf("%s (%s): HOST KEY MISMATCH — refusing to connect: the server offered %s %s but known_hosts has %s; this may be a man-in-the-middle attack; if the host key was legitimately changed, remove the old entry (ssh-keygen -R %s -f %s) and add the new one",
		e.Node, e.Addr, e.KeyType, e.Fingerprint, knownList(e.Want), knownhosts.Normalize(e.Addr), e.Want[0].Filename)
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
	files    []string // the known_hosts files that exist
	cb       ssh.HostKeyCallback
	stderr   io.Writer
	algos    []string
	known    []knownhosts.KnownKey // what known_hosts has for the target
	accepted string                // set when accept-new recorded the key
}

// newHostKeys loads t's known_hosts files (missing ones are skipped, like
// OpenSSH) and works out which key types they hold for t.
func newHostKeys(t Target, stderr io.Writer) (*hostKeys, error) {
	hk := &hostKeys{t: t, stderr: stderr}
	for _, f := range t.KnownHosts {
		if _, err := os.Stat(f); err == nil {
			hk.files = append(hk.files, f)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: known_hosts %s: %w", t.Node, f, err)
		}
	}
	if len(hk.files) > 0 {
		cb, err := knownhosts.New(hk.files...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Node, err)
		}
		hk.cb = cb
	}
	hk.algos = hk.knownAlgorithms()
	return hk, nil
}

// knownAlgorithms asks the known_hosts database which keys it has for the
// target, by offering a throwaway key and reading KeyError.Want. The
// result becomes HostKeyAlgorithms, so a server that also has (say) an RSA
// key is asked for the type we know rather than causing a false mismatch.
func (hk *hostKeys) knownAlgorithms() []string {
	if hk.cb == nil {
		return nil
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	err = hk.cb(hk.t.Addr(), fakeAddr(hk.t), probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	hk.known = ke.Want
	// Only algorithms x/crypto accepts by default (so not SHA-1 ssh-rsa,
	// like OpenSSH >= 8.8); if none is left, negotiation stays at the
	// defaults and a wrong key is still reported as a mismatch.
	supported := ssh.SupportedAlgorithms().HostKeys
	var algos []string
	add := func(a ...string) {
		for _, x := range a {
			if contains(supported, x) && !contains(algos, x) {
				algos = append(algos, x)
			}
		}
	}
	for _, w := range ke.Want {
		switch typ := w.Key.Type(); typ {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			add(typ)
		}
	}
	return algos
}

func fakeAddr(t Target) net.Addr {
	ip := net.ParseIP(t.Host)
	if ip == nil {
		ip = net.IPv4zero
	}
	return &net.TCPAddr{IP: ip, Port: t.Port}
}

// callback is the ssh.HostKeyCallback enforcing the target's mode.
func (hk *hostKeys) callback(_ string, remote net.Addr, key ssh.PublicKey) error {
	addr := hk.t.Addr()
	fp := ssh.FingerprintSHA256(key)
	if hk.t.HostKeyChecking == HostKeyInsecure {
		fmt.Fprintf(hk.stderr, "WARNING: %s: HOST KEY NOT VERIFIED (host_key_checking = \"insecure\"): accepting %s %s without checking; anyone on the network path can impersonate this host — use \"strict\" or \"accept-new\" outside throwaway labs\n", hk.t.label(), key.Type(), fp)
		return nil
	}
	herr := &HostKeyError{Node: hk.t.Node, Addr: addr, Fingerprint: fp, KeyType: key.Type(), KnownHosts: hk.t.KnownHosts}
	if hk.cb == nil {
		herr.Unknown = true
	} else {
		err := hk.cb(addr, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			herr.Revoked = true
			herr.Want = []knownhosts.KnownKey{re.Revoked}
			return herr
		case errors.As(err, &ke) && len(ke.Want) > 0:
			herr.Want = ke.Want
			return herr
		case errors.As(err, &ke):
			herr.Unknown = true
		default:
			return fmt.Errorf("%s: host key check: %w", hk.t.label(), err)
		}
	}
	if hk.t.HostKeyChecking != HostKeyAcceptNew {
		return herr
	}
	if err := appendKnownHost(hk.t.KnownHosts, addr, key); err != nil {
		return fmt.Errorf("%s: accept-new: %w", hk.t.label(), err)
	}
	hk.accepted = fp
	fmt.Fprintf(hk.stderr, "natsops: %s: new host, trusted on first use (accept-new): added %s %s to %s\n", hk.t.label(), key.Type(), fp, hk.t.KnownHosts[0])
	return nil
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

// knownList is "file:line (type SHA256:...)" for each known key.
func knownList(keys []knownhosts.KnownKey) string {
	var where []string
	for _, w := range keys {
		where = append(where, fmt.Sprintf("%s:%d (%s %s)", w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key)))
	}
	return strings.Join(where, ", ")
}
