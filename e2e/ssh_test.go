//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/testbed"
)

// The SSH transport (pkg/remote) against the testbed's real sshd, sudo
// and host keys, through the generated inventory.

// sshEnv resolves targets without reading the developer's ~/.ssh/config
// or agent: everything comes from the inventory.
func sshEnv(t *testing.T) remote.Env {
	return remote.Env{Home: t.TempDir(), User: "nobody"}
}

func targets(t *testing.T) []remote.Target {
	t.Helper()
	inv, err := cluster.Load(tb.InventoryFile)
	if err != nil {
		t.Fatal(err)
	}
	var ts []remote.Target
	for _, n := range inv.Nodes {
		tg, err := remote.TargetFromNode(n, inv.Dir, sshEnv(t))
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tg)
	}
	return ts
}

func targetNamed(t *testing.T, name string) remote.Target {
	t.Helper()
	for _, tg := range targets(t) {
		if tg.Node == name {
			return tg
		}
	}
	t.Fatalf("no node %s in the inventory", name)
	return remote.Target{}
}

func sshOpts(stderr *bytes.Buffer) remote.DialOptions {
	return remote.DialOptions{Stderr: stderr}
}

// dialAndSudo dials tg and checks `sudo id -u` is 0 and the hostname.
func dialAndSudo(c context.Context, tg remote.Target, opts remote.DialOptions) error {
	h, err := remote.Dial(c, tg, opts)
	if err != nil {
		return err
	}
	defer h.Close()
	for i := 0; i < 2; i++ { // the connection is reused
		res, err := h.Run(c, "id -u; hostname", remote.RunOptions{Sudo: true})
		if err != nil {
			return err
		}
		if f := strings.Fields(string(res.Stdout)); len(f) != 2 || f[0] != "0" || f[1] != tg.Node {
			return res.Err(h, "id -u") // or a wrong answer
		}
	}
	return nil
}

func eachTarget(c context.Context, ts []remote.Target, opts remote.DialOptions) remote.Results {
	return remote.Each(c, ts, 10, func(tg remote.Target) string { return tg.Node }, func(c context.Context, tg remote.Target) error {
		return dialAndSudo(c, tg, opts)
	})
}

func TestSSHEveryNodeSudo(t *testing.T) {
	c := ctx(t, 2*time.Minute)
	var stderr bytes.Buffer
	rs := eachTarget(c, targets(t), sshOpts(&stderr))
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Errorf("unexpected warnings: %s", stderr.String())
	}
}

func TestSSHSudoPassword(t *testing.T) {
	c := ctx(t, time.Minute)
	tg := targetNamed(t, tb.Nodes[0].Name)
	tg.User = testbed.PasswordSudoUser
	var stderr bytes.Buffer
	h, err := remote.Dial(c, tg, sshOpts(&stderr))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.Run(c, "id -u", remote.RunOptions{Sudo: true})
	var sp *remote.ErrSudoPassword
	if !errors.As(err, &sp) || sp.Host != tg.Node {
		t.Fatalf("sudo as %s: %T %v, want *ErrSudoPassword naming %s", tg.User, err, err, tg.Node)
	}
	t.Logf("refused as expected: %v", err)

	// --ask-become-pass: sudo -S with the password; the command's stdin is
	// untouched.
	opts := sshOpts(&stderr)
	opts.BecomePassword = []byte(testbed.SudoPassword)
	h2, err := remote.Dial(c, tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	res, err := h2.Run(c, "id -u; cat", remote.RunOptions{Sudo: true, Stdin: []byte("payload\n")})
	if err != nil || string(res.Stdout) != "0\npayload\n" {
		t.Fatalf("sudo with become password: %q %q %v", res.Stdout, res.Stderr, err)
	}
	// A wrong one is one clear error.
	opts.BecomePassword = []byte("wrong")
	h3, err := remote.Dial(c, tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h3.Close()
	_, err = h3.Run(c, "id -u", remote.RunOptions{Sudo: true})
	if err == nil || !strings.Contains(err.Error(), "sudo refused the become password") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong become password: %v", err)
	}
	t.Logf("wrong password: %v", err)
}

func TestSSHReplacedHostKeyRefused(t *testing.T) {
	c, v := ctx(t, 2*time.Minute), victim()
	t.Cleanup(func() {
		tb.RestoreHostKey(context.Background(), v)
		tb.WaitSSH(context.Background(), v, 30*time.Second)
	})
	if err := tb.ReplaceHostKey(c, v); err != nil {
		t.Fatal(err)
	}
	ts := targets(t)
	var rs remote.Results
	// sshd restarts after the key change: retry only while the victim's
	// failure is not yet a host key verdict.
	err := testbed.Poll(c, 30*time.Second, func() error {
		var stderr bytes.Buffer
		rs = eachTarget(c, ts, sshOpts(&stderr))
		for _, r := range rs {
			if r.Name == v {
				var herr *remote.HostKeyError
				if !errors.As(r.Err, &herr) {
					return r.Err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	if got := rs.Failed(); len(got) != 1 || got[0] != v {
		t.Fatalf("failed %v, want only %s: %v", got, v, rs.Err())
	}
	for _, r := range rs {
		if r.Name != v {
			continue
		}
		msg := r.Err.Error()
		for _, want := range []string{v + " (", "MISMATCH", "SHA256:", tb.KnownHostsFile + ":"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q: %s", want, msg)
			}
		}
		t.Logf("refused: %s", msg)
	}
}

func TestSSHDisconnectedNodeTimesOut(t *testing.T) {
	c, v := ctx(t, 2*time.Minute), victim()
	cut := false
	t.Cleanup(func() {
		if cut {
			tb.Reconnect(context.Background(), v)
			tb.WaitSSH(context.Background(), v, 60*time.Second)
		}
	})
	// Connections opened before the cut: the victim's must fail (keepalive
	// or the command's own I/O), the others keep working.
	ts := targets(t)
	var hosts []remote.Host
	for _, tg := range ts {
		var stderr bytes.Buffer
		opts := sshOpts(&stderr)
		opts.Keepalive = time.Second
		h, err := remote.Dial(c, tg, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		hosts = append(hosts, h)
	}
	if err := tb.Disconnect(c, v); err != nil {
		t.Fatal(err)
	}
	cut = true
	start := time.Now()
	mid := remote.Each(c, hosts, 10, remote.Host.Name, func(c context.Context, h remote.Host) error {
		_, err := h.Run(c, "sleep 1; true", remote.RunOptions{})
		return err
	})
	if got := mid.Failed(); len(got) != 1 || got[0] != v {
		t.Fatalf("mid-run: failed %v, want only %s: %v", got, v, mid.Err())
	}
	t.Logf("mid-run, after %s: %v", time.Since(start).Round(time.Millisecond), mid.Err())
	if msg := mid.Err().Error(); !strings.Contains(msg, v+" (") || !strings.Contains(msg, "connection lost") {
		t.Errorf("mid-run error: %s", msg)
	}
	for i := range ts {
		ts[i].ConnectTimeout = 3 * time.Second
	}
	start = time.Now()
	var stderr bytes.Buffer
	rs := eachTarget(c, ts, sshOpts(&stderr))
	el := time.Since(start)
	if got := rs.Failed(); len(got) != 1 || got[0] != v {
		t.Fatalf("failed %v, want only %s: %v", got, v, rs.Err())
	}
	var buf bytes.Buffer
	rs.Summary(&buf)
	t.Logf("after %s:\n%s", el.Round(time.Millisecond), buf.String())
	for _, r := range rs {
		if r.Name == v && (!strings.HasPrefix(r.Err.Error(), v+" (") || !strings.Contains(r.Err.Error(), "timed out after 3s")) {
			t.Errorf("cut-off node: %v", r.Err)
		}
	}
	if el > 15*time.Second {
		t.Errorf("fan-out took %s with a 3s connect timeout", el)
	}
	if err := tb.Reconnect(c, v); err != nil {
		t.Fatal(err)
	}
	cut = false
	if err := tb.WaitSSH(c, v, 60*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestSSHWrongPortRefused(t *testing.T) {
	c := ctx(t, time.Minute)
	tg := targetNamed(t, tb.Nodes[0].Name)
	tg.Port = 2222
	_, err := remote.Dial(c, tg, remote.DialOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), tg.Node+" ("+tg.Host+":2222): connection refused — is sshd running / the port right?") {
		t.Fatalf("wrong port: %v", err)
	}
	t.Logf("%v", err)
}

func TestSSHAuthRefused(t *testing.T) {
	c := ctx(t, time.Minute)
	tg := targetNamed(t, tb.Nodes[0].Name)
	tg.User = "nosuchuser"
	_, err := remote.Dial(c, tg, remote.DialOptions{})
	if err == nil || !strings.Contains(err.Error(), "authentication refused for nosuchuser@") || !strings.Contains(err.Error(), tb.IdentityFile) {
		t.Fatalf("auth: %v", err)
	}
	t.Logf("%v", err)
}

// accept-new against a real sshd: the first dial records the node's real
// key (the same one the testbed read from the node), strict works after.
func TestSSHAcceptNew(t *testing.T) {
	c := ctx(t, time.Minute)
	tg := targetNamed(t, tb.Nodes[0].Name)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	tg.KnownHosts, tg.HostKeyChecking = []string{kh}, remote.HostKeyStrict
	if _, err := remote.Dial(c, tg, remote.DialOptions{}); err == nil || !strings.Contains(err.Error(), "unknown host") {
		t.Fatalf("strict, empty known_hosts: %v", err)
	}
	tg.HostKeyChecking = remote.HostKeyAcceptNew
	var stderr bytes.Buffer
	if err := dialAndSudo(c, tg, sshOpts(&stderr)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(tb.KnownHostsFile)
	if line := strings.TrimSpace(string(b)); !strings.Contains(string(want), strings.Fields(line)[2]) {
		t.Errorf("recorded %q, not in the testbed's known_hosts:\n%s", line, want)
	}
	tg.HostKeyChecking = remote.HostKeyStrict
	if err := dialAndSudo(c, tg, sshOpts(&stderr)); err != nil {
		t.Fatal(err)
	}
}

// ProxyJump against real sshd: n1 is the jump host for the others, given
// as an inventory proxy_jump and as an ~/.ssh/config alias chain.
func TestSSHProxyJump(t *testing.T) {
	if len(tb.Nodes) < 2 {
		t.Skip("needs 2 nodes")
	}
	c := ctx(t, 2*time.Minute)
	inv, err := cluster.Load(tb.InventoryFile)
	if err != nil {
		t.Fatal(err)
	}
	jump := inv.Nodes[0]
	for _, n := range inv.Nodes[1:] {
		nn := *n
		nn.SSH.ProxyJump = &jump.Host
		tg, err := remote.TargetFromNode(&nn, inv.Dir, sshEnv(t))
		if err != nil {
			t.Fatal(err)
		}
		// The jump host's user is OpenSSH's default (the local user) unless
		// given: give it, as an operator would (user@host).
		tg.ProxyJump[0].User = testbed.User
		var stderr bytes.Buffer
		if err := dialAndSudo(c, tg, sshOpts(&stderr)); err != nil {
			t.Fatalf("%s via %s: %v", n.Name, jump.Name, err)
		}
	}

	// Only ~/.ssh/config: the inventory names an alias, nothing else.
	home := t.TempDir()
	cfg := fmt.Sprintf(`Host tb-jump
    HostName %s
    User ops
    IdentityFile %s
    UserKnownHostsFile %s
    ProxyJump none

Host tb-*
    User ops
    IdentityFile %s
    UserKnownHostsFile %s
    ProxyJump tb-jump
`, jump.Host, tb.IdentityFile, tb.KnownHostsFile, tb.IdentityFile, tb.KnownHostsFile)
	for _, n := range inv.Nodes[1:] {
		cfg += fmt.Sprintf("\nHost tb-%s\n    HostName %s\n", n.Name, n.Host)
	}
	parsed, err := remote.ParseSSHConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	env := remote.Env{Home: home, User: "nobody", SSHConfig: parsed}
	for _, n := range inv.Nodes[1:] {
		tg, err := remote.TargetFromNode(&cluster.Node{Name: n.Name, Host: "tb-" + n.Name, Connection: "ssh"}, inv.Dir, env)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Host != n.Host || tg.User != "ops" || len(tg.ProxyJump) != 1 || tg.ProxyJump[0].Host != jump.Host {
			t.Fatalf("resolved %+v", tg)
		}
		var stderr bytes.Buffer
		if err := dialAndSudo(c, tg, sshOpts(&stderr)); err != nil {
			t.Fatalf("%s via ssh_config: %v", n.Name, err)
		}
	}
}
