package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process SSH server on 127.0.0.1:0: public key auth
// against a set of authorised keys, exec requests run through a handler
// (default: sh -c locally), optional direct-tcpip forwarding (a jump host).
type testServer struct {
	t        *testing.T
	ln       net.Listener
	addr     string
	port     int
	hostKeys []ssh.Signer
	// hostKey is the first host key's public part.
	hostKey ssh.PublicKey

	mu         sync.Mutex
	authorized map[string]bool

	forward   bool         // accept direct-tcpip
	forwarded atomic.Int32 // direct-tcpip channels served
	noReplies bool         // ignore global requests (dead keepalives)
	exec      func(cmd string, ch ssh.Channel) int
	execs     atomic.Int32
}

func ed25519Signer(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsaSigner(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestServer(t *testing.T, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{ed25519Signer(t)}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port,
		hostKeys: hostKeys, hostKey: hostKeys[0].PublicKey(), authorized: map[string]bool{}}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *testServer) authorize(k ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized[string(k.Marshal())] = true
}

func (s *testServer) serve() {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.authorized[string(k.Marshal())] {
				return nil, nil
			}
			return nil, errors.New("not authorised")
		},
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c, cfg)
	}
}

func (s *testServer) handle(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	if s.noReplies {
		go func() {
			for range reqs { // never answer: the client's keepalives hang
			}
		}()
	} else {
		go ssh.DiscardRequests(reqs)
	}
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			go s.session(nc)
		case "direct-tcpip":
			if !s.forward {
				nc.Reject(ssh.Prohibited, "port forwarding is disabled")
				continue
			}
			go s.directTCPIP(nc)
		default:
			nc.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func (s *testServer) session(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		s.execs.Add(1)
		h := s.exec
		if h == nil {
			h = runLocal
		}
		code := h(p.Command, ch)
		ch.CloseWrite()
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
}

// runLocal runs the exec command with sh -c, like sshd with a POSIX shell.
func runLocal(cmd string, ch ssh.Channel) int {
	c := exec.Command("sh", "-c", cmd)
	c.Stdin, c.Stdout, c.Stderr = ch, ch, ch.Stderr()
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 255
	}
	return 0
}

func (s *testServer) directTCPIP(nc ssh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	conn, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	s.forwarded.Add(1)
	go ssh.DiscardRequests(reqs)
	go func() {
		io.Copy(ch, conn)
		ch.CloseWrite()
	}()
	io.Copy(conn, ch)
	conn.Close()
	ch.Close()
}

// knownHostsFile writes lines to a temp known_hosts file.
func knownHostsFile(t *testing.T, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	var b []byte
	for _, l := range lines {
		b = append(b, l+"\n"...)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// knownLine is the known_hosts line for the server's first host key.
func (s *testServer) knownLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey)
}

// clientKey makes a client key pair, authorised on servers, written to a
// private key file (encrypted with passphrase when non-empty).
func clientKey(t *testing.T, passphrase string, servers ...*testServer) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blk *pem.Block
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(f, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		s.authorize(signer.PublicKey())
	}
	return f, signer
}

// target is a Target for s with one identity file and known_hosts file.
func (s *testServer) target(name, identity, knownHosts string) Target {
	return Target{Node: name, Host: "127.0.0.1", Port: s.port, User: "tester",
		IdentityFiles: []string{identity}, KnownHosts: []string{knownHosts},
		HostKeyChecking: HostKeyStrict, Sudo: true, ConnectTimeout: DefaultConnectTimeout}
}
