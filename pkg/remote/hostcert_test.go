package remote

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// signHostCert makes a host certificate for key, signed by ca: valid for
// principal 127.0.0.1 from an hour ago for a day, unless edit changes it.
func signHostCert(t *testing.T, ca, key ssh.Signer, edit func(*ssh.Certificate)) ssh.Signer {
	t.Helper()
	now := time.Now()
	c := &ssh.Certificate{
		Key:             key.PublicKey(),
		Serial:          42,
		CertType:        ssh.HostCert,
		KeyId:           "n1-host",
		ValidPrincipals: []string{"127.0.0.1"},
		ValidAfter:      uint64(now.Add(-time.Hour).Unix()),
		ValidBefore:     uint64(now.Add(24 * time.Hour).Unix()),
	}
	if edit != nil {
		edit(c)
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewCertSigner(c, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// certServer is a server like sshd with HostCertificate: it has a plain
// host key and a certificate for it (signed by ca, edited by edit).
func certServer(t *testing.T, ca ssh.Signer, edit func(*ssh.Certificate)) (*testServer, ssh.Signer) {
	t.Helper()
	key := ed25519Signer(t)
	return newTestServer(t, key, signHostCert(t, ca, key, edit)), key
}

// caLine is a @cert-authority line for hosts.
func caLine(hosts string, ca ssh.PublicKey) string {
	return markerCA + " " + hosts + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca)))
}

func revokedLine(hosts string, k ssh.PublicKey) string {
	return markerRevoked + " " + hosts + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func plainLine(s *testServer, k ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, k)
}

func bracketed(s *testServer) string { return "[127.0.0.1]:" + strconv.Itoa(s.port) }

func noMITM(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(strings.ToLower(msg), "man-in-the-middle") {
		t.Errorf("a certificate problem is called a man-in-the-middle: %s", msg)
	}
}

// A host presenting a certificate from the CA on a @cert-authority line
// whose patterns match it is accepted with nothing else in known_hosts
// (before, the CA line was taken for a pinned key: "HOST KEY MISMATCH").
func TestHostCertificateAccepted(t *testing.T) {
	ca := ed25519Signer(t)
	s, _ := certServer(t, ca, nil)
	id, _ := clientKey(t, "", s)
	for _, hosts := range []string{
		bracketed(s), // the exact name of a non-22 port
		"127.0.0.1",  // the port-less name, which OpenSSH also consults
		"*",          // every host
		"127.0.0.*",  // a wildcard
		"10.1.1.1,127.0.0.?,!10.*",
		knownhosts.HashHostname(bracketed(s)), // hashed
	} {
		t.Run(hosts, func(t *testing.T) {
			h := dial(t, s.target("n1", id, knownHostsFile(t, caLine(hosts, ca.PublicKey()))), quiet())
			if res, err := h.Run(testCtx(t), "echo ok", RunOptions{}); err != nil || string(res.Stdout) != "ok\n" {
				t.Fatalf("%q %v", res.Stdout, err)
			}
		})
	}
	// A CA line that does not match this host does not help: unknown host.
	_, err := Dial(testCtx(t), s.target("n1", id, knownHostsFile(t, caLine("10.9.9.9,!127.0.0.1", ca.PublicKey()))), quiet())
	var herr *HostKeyError
	if !errors.As(err, &herr) || !herr.Unknown {
		t.Fatalf("CA for other hosts: want unknown host, got %v", err)
	}
	noMITM(t, err.Error())
}

func TestHostKeyAlgorithmsWithCertAuthority(t *testing.T) {
	ca, rs := ed25519Signer(t), rsaSigner(t)
	tg := Target{Node: "n1", Host: "127.0.0.1", Port: 2222}
	algos := func(lines ...string) []string {
		t.Helper()
		tg.KnownHosts = []string{knownHostsFile(t, lines...)}
		hk, err := newHostKeys(tg, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		return hk.algos
	}
	pinned := "[127.0.0.1]:2222 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rs.PublicKey())))
	// CA only: certificates first, then every plain type.
	got := algos(caLine("*", ca.PublicKey()))
	if len(got) == 0 || !isCertAlgo(got[0]) || !contains(got, ssh.CertAlgoED25519v01) || !contains(got, ssh.CertAlgoRSASHA512v01) || !contains(got, ssh.KeyAlgoED25519) {
		t.Errorf("CA only: %v", got)
	}
	// CA and a pinned RSA key: certificates, then RSA only.
	got = algos(caLine("*", ca.PublicKey()), pinned)
	if n := len(got); n < 3 || got[n-2] != ssh.KeyAlgoRSASHA512 || got[n-1] != ssh.KeyAlgoRSASHA256 || contains(got, ssh.KeyAlgoED25519) || !isCertAlgo(got[0]) {
		t.Errorf("CA and RSA: %v", got)
	}
	for _, a := range got {
		if a == ssh.CertAlgoRSAv01 || a == ssh.KeyAlgoRSA {
			t.Errorf("SHA-1 RSA offered: %v", got)
		}
	}
	// No CA for this host: no certificate algorithms.
	if got = algos(caLine("10.*", ca.PublicKey()), pinned); len(got) != 2 || got[0] != ssh.KeyAlgoRSASHA512 {
		t.Errorf("no CA for the host: %v", got)
	}
	// A @revoked CA line is not a CA.
	if got = algos(revokedLine("*", ca.PublicKey())); got != nil {
		t.Errorf("revoked only: %v", got)
	}
}

// certCase is a host certificate case, checked against natsops and, when
// installed, OpenSSH's own client.
type certCase struct {
	name string
	// ca signs the host's certificate; trust is the CA on the
	// @cert-authority line (nil: none).
	edit  func(*ssh.Certificate)
	other bool // signed by another CA than the trusted one
	// extra known_hosts lines, given the server and its plain key.
	extra  func(s *testServer, key ssh.Signer) []string
	reason string // "" accepted; a Cert* reason; "revoked"
	want   []string
	// opensshDiffers: natsops refuses where OpenSSH connects (say why).
	opensshDiffers string
	// opensshSince: OpenSSH agrees from this version on (10.3 refuses
	// certificates without principals and matches principal patterns).
	opensshSince float64
	revokeCA     bool
}

func certCases() []certCase {
	now := time.Now()
	return []certCase{
		{name: "valid", reason: ""},
		{name: "no principals", edit: func(c *ssh.Certificate) { c.ValidPrincipals = nil }, reason: CertPrincipal, want: []string{"lists no principals"}, opensshSince: 10.3},
		{name: "wildcard principal", edit: func(c *ssh.Certificate) { c.ValidPrincipals = []string{"db1", "127.0.0.*"} }, opensshSince: 10.3},
		{name: "forever", edit: func(c *ssh.Certificate) { c.ValidAfter, c.ValidBefore = 0, ssh.CertTimeInfinity }},
		{name: "another CA", other: true, reason: CertUntrustedCA, want: []string{"signed by a CA that known_hosts does not trust for this host (it trusts "}},
		{name: "expired", edit: func(c *ssh.Certificate) { c.ValidBefore = uint64(now.Add(-2 * time.Hour).Unix()) }, reason: CertExpired, want: []string{"expired " + now.Add(-2*time.Hour).UTC().Format("2006-01-02T15:04"), "renew the host certificate"}},
		{name: "not yet valid", edit: func(c *ssh.Certificate) { c.ValidAfter = uint64(now.Add(2 * time.Hour).Unix()) }, reason: CertNotYetValid, want: []string{"is not valid before ", "clock"}},
		{name: "another principal", edit: func(c *ssh.Certificate) { c.ValidPrincipals = []string{"db1.example.com", "db1"} }, reason: CertPrincipal, want: []string{"is for db1.example.com, db1, not 127.0.0.1", "-n 127.0.0.1"}},
		{name: "user certificate", edit: func(c *ssh.Certificate) { c.CertType = ssh.UserCert }, reason: CertNotHost, want: []string{"user certificate"}},
		{name: "critical option", edit: func(c *ssh.Certificate) { c.CriticalOptions = map[string]string{"force-command": "true"} }, reason: CertCriticalOption, want: []string{"force-command"}},
		{name: "expired but its key pinned", edit: func(c *ssh.Certificate) { c.ValidBefore = uint64(now.Add(-time.Hour).Unix()) },
			extra: func(s *testServer, key ssh.Signer) []string { return []string{plainLine(s, key.PublicKey())} }},
		{name: "expired and another key pinned", edit: func(c *ssh.Certificate) { c.ValidBefore = uint64(now.Add(-time.Hour).Unix()) },
			extra: func(s *testServer, key ssh.Signer) []string {
				return []string{plainLine(s, ed25519Signer(s.t).PublicKey())}
			}, reason: CertExpired, want: []string{"is not pinned either (known_hosts has "}},
		{name: "its key revoked", reason: CertRevoked,
			extra: func(s *testServer, key ssh.Signer) []string { return []string{revokedLine("*", key.PublicKey())} },
			want:  []string{"its key ssh-ed25519 ", "is marked @revoked in "}},
		{name: "its key revoked, and pinned", reason: CertRevoked,
			extra: func(s *testServer, key ssh.Signer) []string {
				return []string{plainLine(s, key.PublicKey()), revokedLine("*", key.PublicKey())}
			}, want: []string{"is marked @revoked in "}},
		{name: "its CA revoked", revokeCA: true, reason: CertRevoked, want: []string{"its CA ssh-ed25519 ", "is marked @revoked in "}},
		{name: "revoked on a line for other hosts", reason: CertRevoked,
			extra: func(s *testServer, key ssh.Signer) []string {
				return []string{revokedLine("10.9.9.9", key.PublicKey())}
			}, want: []string{"is marked @revoked in "},
			opensshDiffers: "OpenSSH applies a @revoked line's host patterns; natsops refuses a revoked key for every host"},
	}
}

func TestHostCertificates(t *testing.T) {
	for _, c := range certCases() {
		t.Run(c.name, func(t *testing.T) {
			trusted, signer := ed25519Signer(t), ed25519Signer(t)
			if !c.other {
				signer = trusted
			}
			s, key := certServer(t, signer, c.edit)
			id, _ := clientKey(t, "", s)
			lines := []string{caLine("127.0.0.1", trusted.PublicKey())}
			if c.extra != nil {
				lines = append(lines, c.extra(s, key)...)
			}
			if c.revokeCA {
				lines = append(lines, revokedLine("*", trusted.PublicKey()))
			}
			kh := knownHostsFile(t, lines...)
			for _, mode := range []string{HostKeyStrict, HostKeyAcceptNew} {
				tg := s.target("n1", id, kh)
				tg.HostKeyChecking = mode
				before, _ := os.ReadFile(kh)
				var stderr bytes.Buffer
				opts := quiet()
				opts.Stderr = &stderr
				h, err := Dial(testCtx(t), tg, opts)
				if after, _ := os.ReadFile(kh); !bytes.Equal(before, after) {
					t.Errorf("%s: known_hosts changed:\n%s", mode, after)
				}
				if c.reason == "" {
					if err != nil {
						t.Fatalf("%s: %v", mode, err)
					}
					h.Close()
					if c.extra != nil && !strings.Contains(stderr.String(), "host certificate") {
						t.Errorf("%s: accepted by its pinned key without a word about the certificate: %q", mode, stderr.String())
					}
					continue
				}
				msg := oneLineErr(t, err)
				var herr *HostKeyError
				if !errors.As(err, &herr) || herr.Cert == nil || herr.Cert.Reason != c.reason {
					t.Fatalf("%s: want a certificate refusal (%s), got %T %v", mode, c.reason, err, err)
				}
				noMITM(t, msg)
				want := append([]string{"n1 (127.0.0.1:", "refusing to connect", "serial 42", `ID "n1-host"`, ssh.FingerprintSHA256(signer.PublicKey())}, c.want...)
				if c.reason != CertRevoked {
					want = append(want, "HOST CERTIFICATE REFUSED", kh+":1")
				}
				for _, w := range want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: error lacks %q: %s", mode, w, msg)
					}
				}
			}
			if s.execs.Load() != 0 {
				t.Error("a command ran on a host that was refused")
			}
			if path, err := exec.LookPath("ssh"); err == nil && c.opensshDiffers == "" && opensshVersion(t, path) >= c.opensshSince {
				// OpenSSH's verdict on the same server and known_hosts.
				out, err := opensshRun(t, path, s, id, kh)
				if accepted := err == nil; accepted != (c.reason == "") {
					t.Errorf("OpenSSH disagrees: accepted=%v (natsops: %v): %v\n%s", accepted, c.reason == "", err, out)
				}
			}
		})
	}
}

// opensshVersion is 9.2 for "OpenSSH_9.2p1 Debian-2+deb12u6, ...".
func opensshVersion(t *testing.T, ssh string) float64 {
	out, _ := exec.Command(ssh, "-V").CombinedOutput()
	v, _, _ := strings.Cut(strings.TrimPrefix(string(out), "OpenSSH_"), "p")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Logf("cannot read the OpenSSH version from %q", out)
	}
	return f
}

// opensshRun runs `true` on s with OpenSSH's client in strict mode, with
// only the given known_hosts and key.
func opensshRun(t *testing.T, ssh string, s *testServer, id, kh string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), ssh, "-F", "/dev/null",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no",
		"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-i", id, "-o", "ConnectTimeout=20",
		"-p", strconv.Itoa(s.port), "tester@127.0.0.1", "true")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	return cmd.CombinedOutput()
}

// accept-new with no known_hosts entry: a certificate from a CA nobody
// trusts is an unknown host, and its plain key (never the certificate) is
// recorded, so the next strict dial matches it.
func TestAcceptNewRecordsTheKeyNotTheCertificate(t *testing.T) {
	s, key := certServer(t, ed25519Signer(t), nil)
	id, _ := clientKey(t, "", s)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	tg := s.target("n1", id, kh)
	tg.HostKeyChecking = HostKeyAcceptNew
	dial(t, tg, quiet())
	b, _ := os.ReadFile(kh)
	if want := plainLine(s, key.PublicKey()) + "\n"; string(b) != want {
		t.Fatalf("known_hosts = %q, want %q", b, want)
	}
	tg.HostKeyChecking = HostKeyStrict
	dial(t, tg, quiet())
}

func TestRevokedKeyRefusedInEveryMode(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	for _, lines := range [][]string{
		{revokedLine("*", s.hostKey), s.knownLine()},                          // pinned and revoked
		{s.knownLine(), revokedLine(knownhosts.HashHostname("x"), s.hostKey)}, // revoked under another name
	} {
		kh := knownHostsFile(t, lines...)
		for _, mode := range []string{HostKeyStrict, HostKeyAcceptNew, HostKeyInsecure} {
			tg := s.target("n1", id, kh)
			tg.HostKeyChecking = mode
			var stderr bytes.Buffer
			opts := quiet()
			opts.Stderr = &stderr
			before, _ := os.ReadFile(kh)
			_, err := Dial(testCtx(t), tg, opts)
			msg := oneLineErr(t, err)
			var herr *HostKeyError
			if !errors.As(err, &herr) || !herr.Revoked || herr.Insecure != (mode == HostKeyInsecure) {
				t.Fatalf("%s: want a revoked refusal, got %v", mode, err)
			}
			line := 1
			if !strings.HasPrefix(lines[0], markerRevoked) {
				line = 2
			}
			for _, w := range []string{"n1 (127.0.0.1:", ssh.FingerprintSHA256(s.hostKey), fmt.Sprintf("is marked @revoked in %s:%d", kh, line), "refusing to connect"} {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: error lacks %q: %s", mode, w, msg)
				}
			}
			if mode == HostKeyInsecure && (!strings.Contains(msg, `even with host_key_checking = "insecure"`) || strings.Contains(stderr.String(), "NOT VERIFIED")) {
				t.Errorf("insecure: %s (stderr %q)", msg, stderr.String())
			}
			if after, _ := os.ReadFile(kh); !bytes.Equal(before, after) {
				t.Errorf("%s: known_hosts changed", mode)
			}
		}
	}
	if s.execs.Load() != 0 {
		t.Error("a command ran on a host with a revoked key")
	}
}

// Insecure mode still reads known_hosts for @revoked lines, and accepts
// (with its warning) any key that is not revoked, a certificate included.
func TestInsecureAcceptsUnrevoked(t *testing.T) {
	s, _ := certServer(t, ed25519Signer(t), func(c *ssh.Certificate) { c.ValidBefore = 1 })
	id, _ := clientKey(t, "", s)
	tg := s.target("lab1", id, knownHostsFile(t, revokedLine("*", ed25519Signer(t).PublicKey())))
	tg.HostKeyChecking = HostKeyInsecure
	var stderr bytes.Buffer
	opts := quiet()
	opts.Stderr = &stderr
	dial(t, tg, opts)
	if !strings.Contains(stderr.String(), "NOT VERIFIED") {
		t.Errorf("no warning: %q", stderr.String())
	}
}

func TestKnownHostsLines(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	name := knownhosts.Normalize(s.addr)
	for _, c := range []struct {
		lines []string
		want  string // "" dial works; else the error has it
	}{
		{[]string{"otherhost ssh-ed25519 AAAA!!notbase64", "other2 weird-type AAAA", s.knownLine()}, ""},
		{[]string{"@frob otherhost " + strings.TrimPrefix(s.knownLine(), name+" "), s.knownLine()}, ""},
		{[]string{"# c", name + " ssh-ed25519 AAAA!!notbase64"}, ":2: key is not base64"},
		{[]string{name}, ":1: no key after the host field"},
		{[]string{"@cert-authorty " + s.knownLine()}, `:1: unknown marker "@cert-authorty"`},
		{[]string{name + " ssh-rsa " + strings.Fields(s.knownLine())[2]}, ":1: the line says ssh-rsa but the key is ssh-ed25519"},
		{[]string{"@revoked otherhost ssh-ed25519 AAAA!!", s.knownLine()}, ":1: key is not base64"},
	} {
		kh := knownHostsFile(t, c.lines...)
		_, err := Dial(testCtx(t), s.target("n1", id, kh), quiet())
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.lines, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "n1: known_hosts "+kh+c.want)):
			t.Errorf("%q: error %v, want %q", c.lines, err, c.want)
		}
	}
}

// The host field patterns, as OpenSSH's match_hostname and hashed names.
func TestMatchHosts(t *testing.T) {
	hashed := knownhosts.HashHostname("[node1.example.com]:2222")
	cases := []struct {
		field, name string
		want        bool
	}{
		{"node1.example.com", "node1.example.com", true},
		{"NODE1.Example.com", "node1.example.com", true},
		{"node1.example.com", "node10.example.com", false},
		{"*.example.com", "node1.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "[node1.example.com]:2222", false},
		{"[*.example.com]:2222", "[node1.example.com]:2222", true},
		{"[*.example.com]:*", "[node1.example.com]:2222", true},
		{"*", "[node1.example.com]:2222", true},
		{"node?.example.com", "node1.example.com", true},
		{"node?.example.com", "node12.example.com", false},
		{"*.example.com,!db*.example.com", "db1.example.com", false},
		{"!db*.example.com,*.example.com", "db1.example.com", false},
		{"!db*.example.com", "web1.example.com", false},
		{"10.0.0.1,10.0.0.2", "10.0.0.2", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**", "", true},
		{"", "x", false},
		{hashed, "[node1.example.com]:2222", true},
		{hashed, "node1.example.com", false},
		{"|1|bad|hash", "node1.example.com", false},
	}
	for _, c := range cases {
		if got := matchHosts(c.field, c.name); got != c.want {
			t.Errorf("matchHosts(%q, %q) = %v, want %v", c.field, c.name, got, c.want)
		}
	}
	// The same table through OpenSSH's own matcher, when installed.
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return
	}
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ed25519Signer(t).PublicKey())))
	for _, c := range cases {
		if c.field == "" || c.name == "" {
			continue
		}
		kh := knownHostsFile(t, c.field+" "+key)
		out, err := exec.Command(keygen, "-F", c.name, "-f", kh).CombinedOutput()
		if found := err == nil && strings.Contains(string(out), "found: line 1"); found != c.want {
			t.Errorf("ssh-keygen -F %q on %q: found=%v, natsops %v\n%s", c.name, c.field, found, c.want, out)
		}
	}
}

func FuzzMatchPattern(f *testing.F) {
	f.Add("node1.example.com", "*.example.com")
	f.Add("aXbXc", "a*b?c")
	f.Fuzz(func(t *testing.T, s, p string) {
		if len(s) > 24 || len(p) > 24 { // refMatch is exponential
			return
		}
		if got, want := matchPattern(s, p), refMatch(s, p); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, want %v", s, p, got, want)
		}
	})
}

// refMatch is OpenSSH's recursive match_pattern, transcribed.
func refMatch(s, p string) bool {
	for {
		if p == "" {
			return s == ""
		}
		if p[0] == '*' {
			for p != "" && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i < len(s); i++ {
				if refMatch(s[i:], p) {
					return true
				}
			}
			return false
		}
		if s == "" || p[0] != '?' && p[0] != s[0] {
			return false
		}
		s, p = s[1:], p[1:]
	}
}
