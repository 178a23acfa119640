package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quiet() DialOptions { return DialOptions{Stderr: &bytes.Buffer{}, Keepalive: -1} }

func dial(t *testing.T, tg Target, opts DialOptions) Host {
	t.Helper()
	h, err := Dial(testCtx(t), tg, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func oneLineErr(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	return err.Error()
}

func TestDialKnownHostRun(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	h := dial(t, s.target("n1", id, knownHostsFile(t, s.knownLine())), quiet())
	if h.Name() != "n1" {
		t.Errorf("Name = %q", h.Name())
	}
	ctx := testCtx(t)
	res, err := h.Run(ctx, "echo out; echo err >&2; exit 3", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got %+v", res)
	}
	// stdin, and quoting survives the sh -c wrapper.
	res, err = h.Run(ctx, "cat; printf %s "+Quote("it's $HOME"), RunOptions{Stdin: []byte("in|")})
	if err != nil || string(res.Stdout) != "in|it's $HOME" {
		t.Errorf("stdin/quoting: %q %v", res.Stdout, err)
	}
	// One connection, a session per command.
	for i := 0; i < 3; i++ {
		if _, err := h.Run(ctx, "true", RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.execs.Load(); n != 5 {
		t.Errorf("server saw %d execs, want 5", n)
	}
}

func TestHostKeyMismatchRefused(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	other := ed25519Signer(t).PublicKey()
	kh := knownHostsFile(t, "# comment", knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, other))
	_, err := Dial(testCtx(t), s.target("n2", id, kh), quiet())
	msg := oneLineErr(t, err)
	var herr *HostKeyError
	if !errors.As(err, &herr) || herr.Unknown {
		t.Fatalf("want a mismatch HostKeyError, got %T %v", err, err)
	}
	for _, want := range []string{"n2 (127.0.0.1:", "MISMATCH", ssh.FingerprintSHA256(s.hostKey), kh + ":2", ssh.FingerprintSHA256(other)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if s.execs.Load() != 0 {
		t.Error("a command ran on a host whose key mismatched")
	}
	// accept-new refuses a changed key just the same, and writes nothing.
	before, _ := os.ReadFile(kh)
	tg := s.target("n2", id, kh)
	tg.HostKeyChecking = HostKeyAcceptNew
	_, err = Dial(testCtx(t), tg, quiet())
	if !errors.As(err, &herr) || herr.Unknown {
		t.Fatalf("accept-new with a changed key: %v", err)
	}
	if after, _ := os.ReadFile(kh); !bytes.Equal(before, after) {
		t.Errorf("accept-new wrote to known_hosts on a mismatch:\n%s", after)
	}
}

// The refusal is not an artefact of the client config: the same server
// and key are accepted once verification is switched off (test-only use of
// InsecureIgnoreHostKey, proving the host key check is what refuses).
func TestMismatchIsTheHostKeyCheck(t *testing.T) {
	s := newTestServer(t)
	_, signer := clientKey(t, "", s)
	c, err := ssh.Dial("tcp", s.addr, &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestUnknownHostStrictRefused(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	missing := filepath.Join(t.TempDir(), "known_hosts")
	for _, kh := range []string{missing, knownHostsFile(t, "otherhost ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHi9CUq4X6cnh0JmZ2xQv6mPDVM7YMLpXDZiiZyBHB/N")} {
		_, err := Dial(testCtx(t), s.target("n3", id, kh), quiet())
		msg := oneLineErr(t, err)
		var herr *HostKeyError
		if !errors.As(err, &herr) || !herr.Unknown {
			t.Fatalf("want unknown-host error, got %v", err)
		}
		for _, want := range []string{"n3 (127.0.0.1:", "unknown host", "ssh-keyscan", "accept-new", ssh.FingerprintSHA256(s.hostKey)} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q: %s", want, msg)
			}
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("strict mode created known_hosts")
	}
}

func TestAcceptNewAppendsThenStrictWorks(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	tg := s.target("n1", id, kh)
	tg.HostKeyChecking = HostKeyAcceptNew
	var stderr bytes.Buffer
	opts := quiet()
	opts.Stderr = &stderr
	h, err := Dial(testCtx(t), tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	st, err := os.Stat(kh)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(kh)
	if string(b) != s.knownLine()+"\n" {
		t.Errorf("known_hosts = %q, want %q", b, s.knownLine())
	}
	if !strings.Contains(stderr.String(), ssh.FingerprintSHA256(s.hostKey)) {
		t.Errorf("no notice of the added key: %q", stderr.String())
	}
	tg.HostKeyChecking = HostKeyStrict
	h = dial(t, tg, quiet())
	if _, err := h.Run(testCtx(t), "true", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	// A file without a trailing newline is not corrupted by the append.
	kh2 := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh2, []byte("# no newline"), 0o600)
	tg.KnownHosts, tg.HostKeyChecking = []string{kh2}, HostKeyAcceptNew
	dial(t, tg, quiet())
	b, _ = os.ReadFile(kh2)
	if string(b) != "# no newline\n"+s.knownLine()+"\n" {
		t.Errorf("known_hosts = %q", b)
	}
}

func TestHashedKnownHostsAccepted(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	line := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(s.addr))}, s.hostKey)
	if !strings.HasPrefix(line, "|1|") {
		t.Fatalf("not hashed: %s", line)
	}
	dial(t, s.target("n1", id, knownHostsFile(t, line)), quiet())
}

// A server with an RSA and an ed25519 key, known_hosts holding only the
// RSA one: HostKeyAlgorithms must steer negotiation to RSA, not report a
// mismatch for the ed25519 key the client would otherwise prefer.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	ed, rs := ed25519Signer(t), rsaSigner(t)
	s := newTestServer(t, ed, rs)
	id, _ := clientKey(t, "", s)
	kh := knownHostsFile(t, knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, rs.PublicKey()))
	dial(t, s.target("n1", id, kh), quiet())
}

func TestInsecureWarnsEveryDial(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	tg := s.target("lab1", id, filepath.Join(t.TempDir(), "none"))
	tg.HostKeyChecking = HostKeyInsecure
	for i := 0; i < 2; i++ {
		var stderr bytes.Buffer
		opts := quiet()
		opts.Stderr = &stderr
		dial(t, tg, opts)
		if !strings.Contains(stderr.String(), "WARNING: lab1") || !strings.Contains(stderr.String(), "NOT VERIFIED") {
			t.Errorf("dial %d: no loud warning: %q", i, stderr.String())
		}
	}
}

func TestAgentAuth(t *testing.T) {
	s := newTestServer(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	s.authorize(mustPub(t, priv))
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	// No usable identity files: only the agent's key can log in.
	tg := s.target("n1", filepath.Join(t.TempDir(), "id_ed25519"), knownHostsFile(t, s.knownLine()))
	tg.IdentitiesDefault = true
	opts := quiet()
	opts.AgentSocket = sock
	h := dial(t, tg, opts)
	if _, err := h.Run(testCtx(t), "true", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without the agent the same target has nothing to log in with.
	_, err = Dial(testCtx(t), tg, quiet())
	if msg := oneLineErr(t, err); !strings.Contains(msg, "no SSH key") {
		t.Errorf("error: %s", msg)
	}
}

func mustPub(t *testing.T, priv any) ssh.PublicKey {
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func TestIdentityFileAuthAndRefusal(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	kh := knownHostsFile(t, s.knownLine())
	dial(t, s.target("n1", id, kh), quiet())

	stranger, _ := clientKey(t, "") // not authorised
	_, err := Dial(testCtx(t), s.target("n1", stranger, kh), quiet())
	msg := oneLineErr(t, err)
	for _, want := range []string{"n1 (127.0.0.1:", "authentication refused for tester@127.0.0.1:", stranger} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	// An explicitly configured identity file that does not exist.
	_, err = Dial(testCtx(t), s.target("n1", "/nonexistent/id", kh), quiet())
	if msg := oneLineErr(t, err); !strings.Contains(msg, "/nonexistent/id") {
		t.Errorf("error: %s", msg)
	}
}

type fakePrompter struct{ pw, got []string }

func (p *fakePrompter) Passphrase(f string) ([]byte, error) {
	p.got = append(p.got, f)
	return []byte(p.pw[0]), nil
}

func TestEncryptedKey(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "sekrit", s)
	kh := knownHostsFile(t, s.knownLine())
	_, err := Dial(testCtx(t), s.target("n1", id, kh), quiet())
	msg := oneLineErr(t, err)
	for _, want := range []string{id, "encrypted", "ssh-agent", "ssh-add"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	p := &fakePrompter{pw: []string{"sekrit"}}
	opts := quiet()
	opts.Prompter = p
	dial(t, s.target("n1", id, kh), opts)
	if len(p.got) != 1 || p.got[0] != id {
		t.Errorf("prompted for %v", p.got)
	}
	// A key the server does not accept is never prompted for.
	other, _ := clientKey(t, "other")
	p2 := &fakePrompter{pw: []string{"other"}}
	opts.Prompter = p2
	tg := s.target("n1", other, kh)
	tg.IdentityFiles = append(tg.IdentityFiles, id)
	p2.pw = []string{"sekrit"}
	dial(t, tg, opts)
	if len(p2.got) != 1 || p2.got[0] != id {
		t.Errorf("prompted for %v, want only %s", p2.got, id)
	}
}

func TestCachingPrompter(t *testing.T) {
	n := 0
	p := NewPassphrasePrompter(func(prompt string) ([]byte, error) {
		n++
		if !strings.Contains(prompt, "/k") {
			t.Errorf("prompt %q", prompt)
		}
		return []byte("x"), nil
	})
	p.Passphrase("/k")
	p.Passphrase("/k")
	if n != 1 {
		t.Errorf("asked %d times", n)
	}
}

func TestProxyJump(t *testing.T) {
	bastion := newTestServer(t)
	bastion.forward = true
	inner := newTestServer(t)
	inner.forward = true
	s := newTestServer(t)
	id, _ := clientKey(t, "", s, bastion, inner)
	kh := knownHostsFile(t, s.knownLine(), bastion.knownLine(), inner.knownLine())
	hop := func(b *testServer, name string) Target {
		return Target{Node: name, Host: "127.0.0.1", Port: b.port, User: "jumper", IdentityFiles: []string{id}, KnownHosts: []string{kh}, HostKeyChecking: HostKeyStrict}
	}
	tg := s.target("n1", id, kh)
	tg.ProxyJump = []Target{hop(bastion, "bastion")}
	h := dial(t, tg, quiet())
	res, err := h.Run(testCtx(t), "echo via", RunOptions{})
	if err != nil || string(res.Stdout) != "via\n" {
		t.Fatalf("%q %v", res.Stdout, err)
	}
	if bastion.forwarded.Load() != 1 {
		t.Errorf("bastion forwarded %d connections, want 1", bastion.forwarded.Load())
	}
	// Two hops.
	tg.ProxyJump = []Target{hop(bastion, "bastion"), hop(inner, "inner")}
	dial(t, tg, quiet())
	if bastion.forwarded.Load() != 2 || inner.forwarded.Load() != 1 {
		t.Errorf("forwarded: bastion %d inner %d", bastion.forwarded.Load(), inner.forwarded.Load())
	}
	// The jump host's key is checked too.
	bad := hop(bastion, "bastion")
	bad.KnownHosts = []string{knownHostsFile(t, s.knownLine())}
	tg.ProxyJump = []Target{bad}
	_, err = Dial(testCtx(t), tg, quiet())
	msg := oneLineErr(t, err)
	if !strings.Contains(msg, "n1 (") || !strings.Contains(msg, "jump host 1/1") || !strings.Contains(msg, "bastion (127.0.0.1:") || !strings.Contains(msg, "unknown host") {
		t.Errorf("error: %s", msg)
	}
	// A jump host that refuses forwarding.
	noFwd := newTestServer(t)
	noFwd.authorize(mustPubFile(t, id))
	kh2 := knownHostsFile(t, s.knownLine(), noFwd.knownLine())
	j := hop(noFwd, "nofwd")
	j.KnownHosts = []string{kh2}
	tg.ProxyJump = []Target{j}
	tg.KnownHosts = []string{kh2}
	_, err = Dial(testCtx(t), tg, quiet())
	if msg := oneLineErr(t, err); !strings.Contains(msg, "n1 (127.0.0.1:") || !strings.Contains(msg, "refused to forward") {
		t.Errorf("error: %s", msg)
	}
}

func mustPubFile(t *testing.T, f string) ssh.PublicKey {
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// fakeSudo plays sudo on the server: NOPASSWD off, password "pw".
func fakeSudo(cmd string, ch ssh.Channel) int {
	switch {
	case cmd == "sudo -n true" || strings.HasPrefix(cmd, "sudo -n -- "):
		ch.Stderr().Write([]byte("sudo: a password is required\n"))
		return 1
	case cmd == "sudo -S -k -p '' true" || strings.HasPrefix(cmd, "sudo -S -k -p '' -- "):
		r := bufio.NewReader(ch)
		pw, _ := r.ReadString('\n')
		if pw != "pw\n" {
			ch.Stderr().Write([]byte("Sorry, try again.\nsudo: 1 incorrect password attempt\n"))
			return 1
		}
		if rest, ok := strings.CutPrefix(cmd, "sudo -S -k -p '' -- "); ok {
			rem, _ := bufioRest(r)
			ch.Write([]byte("root:"))
			ch.Write(rem)
			_ = rest
		}
		return 0
	}
	return runLocal(cmd, ch)
}

func bufioRest(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func TestSudoPassword(t *testing.T) {
	s := newTestServer(t)
	s.exec = fakeSudo
	id, _ := clientKey(t, "", s)
	kh := knownHostsFile(t, s.knownLine())
	h := dial(t, s.target("n2", id, kh), quiet())
	_, err := h.Run(testCtx(t), "id -u", RunOptions{Sudo: true})
	var sp *ErrSudoPassword
	if !errors.As(err, &sp) || sp.Host != "n2" {
		t.Fatalf("want *ErrSudoPassword for n2, got %T %v", err, err)
	}
	oneLineErr(t, err)
	// Without sudo the command runs.
	if res, err := h.Run(testCtx(t), "echo plain", RunOptions{}); err != nil || string(res.Stdout) != "plain\n" {
		t.Errorf("%q %v", res.Stdout, err)
	}
	// --ask-become-pass: the password is checked once, then fed to sudo -S;
	// the command's own stdin arrives intact after it.
	opts := quiet()
	opts.BecomePassword = []byte("pw")
	h = dial(t, s.target("n2", id, kh), opts)
	res, err := h.Run(testCtx(t), "cat", RunOptions{Sudo: true, Stdin: []byte("data")})
	if err != nil || string(res.Stdout) != "root:data" {
		t.Fatalf("%q %v", res.Stdout, err)
	}
	// A wrong become password is one clear error, not a retry loop.
	opts.BecomePassword = []byte("wrong")
	h = dial(t, s.target("n2", id, kh), opts)
	_, err = h.Run(testCtx(t), "cat", RunOptions{Sudo: true, Stdin: []byte("data")})
	if msg := oneLineErr(t, err); !strings.Contains(msg, "n2: sudo refused the become password") || strings.Contains(msg, "wrong") {
		t.Errorf("error: %s", msg)
	}
	// root and sudo = false skip sudo entirely.
	tg := s.target("n2", id, kh)
	tg.User = "root"
	h = dial(t, tg, quiet())
	if _, err := h.Run(testCtx(t), "true", RunOptions{Sudo: true}); err != nil {
		t.Errorf("root: %v", err)
	}
}

func TestRunContextCancel(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	h := dial(t, s.target("n1", id, knownHostsFile(t, s.knownLine())), quiet())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Run(ctx, "sleep 30", RunOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "n1: ") {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Run returned after %s", el)
	}
	// The connection survives a cancelled command.
	if _, err := h.Run(testCtx(t), "true", RunOptions{}); err != nil {
		t.Error(err)
	}
}

func TestKeepaliveClosesDeadConnection(t *testing.T) {
	s := newTestServer(t)
	s.noReplies = true
	id, _ := clientKey(t, "", s)
	opts := quiet()
	opts.Keepalive = 20 * time.Millisecond
	h := dial(t, s.target("n1", id, knownHostsFile(t, s.knownLine())), opts)
	select {
	case <-h.(*SSHHost).done:
	case <-time.After(10 * time.Second):
		t.Fatal("keepalive did not close an unresponsive connection")
	}
	_, err := h.Run(testCtx(t), "true", RunOptions{})
	if msg := oneLineErr(t, err); !strings.HasPrefix(msg, "n1 (127.0.0.1:") || !strings.Contains(msg, "connection lost") || !strings.Contains(msg, "keepalive") {
		t.Errorf("error: %s", msg)
	}
}

func TestKeepaliveKeepsLiveConnection(t *testing.T) {
	s := newTestServer(t)
	id, _ := clientKey(t, "", s)
	opts := quiet()
	opts.Keepalive = 5 * time.Millisecond
	h := dial(t, s.target("n1", id, knownHostsFile(t, s.knownLine())), opts)
	for i := 0; i < 20; i++ {
		if _, err := h.Run(testCtx(t), "true", RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	id, _ := clientKey(t, "")
	tg := Target{Node: "n2", Host: "127.0.0.1", Port: port, User: "u", IdentityFiles: []string{id}, KnownHosts: []string{"/nonexistent"}}
	_, err = Dial(testCtx(t), tg, quiet())
	msg := oneLineErr(t, err)
	if !strings.HasPrefix(msg, "n2 (127.0.0.1:") || !strings.Contains(msg, "connection refused — is sshd running / the port right?") {
		t.Errorf("error: %s", msg)
	}
}

func TestConnectTimeout(t *testing.T) {
	// A listener that accepts but never speaks SSH: the handshake must be
	// bounded by the connect timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	id, _ := clientKey(t, "")
	tg := Target{Node: "n3", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u", IdentityFiles: []string{id}, KnownHosts: []string{"/nonexistent"}, ConnectTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err = Dial(testCtx(t), tg, quiet())
	msg := oneLineErr(t, err)
	if !strings.HasPrefix(msg, "n3 (127.0.0.1:") || !strings.Contains(msg, "timed out after 300ms") {
		t.Errorf("error: %s", msg)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s", el)
	}
}

func TestNoTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if p := TerminalPrompter(r); p != nil {
		t.Error("a pipe is not a terminal")
	}
	if _, err := ReadPassword(r, "pw: "); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("err = %v", err)
	}
}

// The server now offers only a key type known_hosts does not have for it
// (reinstalled host, or an attacker without the old key): refused.
func TestHostKeyTypeChangedRefused(t *testing.T) {
	s := newTestServer(t, rsaSigner(t))
	id, _ := clientKey(t, "", s)
	kh := knownHostsFile(t, knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, ed25519Signer(t).PublicKey()))
	_, err := Dial(testCtx(t), s.target("n4", id, kh), quiet())
	msg := oneLineErr(t, err)
	if !strings.HasPrefix(msg, "n4 (127.0.0.1:") || !strings.Contains(msg, "HOST KEY TYPE CHANGED") || !strings.Contains(msg, kh+":1 (ssh-ed25519 SHA256:") {
		t.Errorf("error: %s", msg)
	}
}
