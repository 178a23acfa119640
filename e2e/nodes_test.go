//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsops/natsops/testbed"
)

// Every node: SSH with the run's key, host key verified against the
// generated known_hosts; systemd is PID 1 and nats-server is active; the
// monitoring endpoint answers /healthz 200; ops has passwordless sudo.
func TestNodes(t *testing.T) {
	for _, n := range tb.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			t.Parallel()
			c := ctx(t, 60*time.Second)
			cl, err := tb.Dial(c, n.Name, testbed.User)
			if err != nil {
				t.Fatalf("ssh %s@%s: %v", testbed.User, n.Host, err)
			}
			cl.Close()
			out, err := tb.Run(c, n.Name, testbed.User, "systemctl is-active nats-server")
			if err != nil || strings.TrimSpace(out) != "active" {
				t.Fatalf("systemctl is-active nats-server = %q, %v", out, err)
			}
			out, err = tb.Run(c, n.Name, testbed.User, "cat /proc/1/comm; hostname; sudo -n id -u")
			if err != nil || strings.Fields(out)[0] != "systemd" || strings.Fields(out)[1] != n.Name || strings.Fields(out)[2] != "0" {
				t.Fatalf("PID 1 / hostname / sudo: %q, %v", out, err)
			}
			out, err = tb.Run(c, n.Name, testbed.User, "/usr/sbin/nats-server --version; /usr/local/bin/nats-server-2.15 --version")
			if err != nil || !strings.Contains(out, "v2.9.10") || !strings.Contains(out, "v2.15.") {
				t.Fatalf("nats-server versions: %q, %v", out, err)
			}
			if err := tb.WaitHealthz(c, n.Name, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			code, body, err := tb.HTTPGet(c, n.Name, "/healthz")
			if err != nil || code != 200 {
				t.Fatalf("GET /healthz = %d %s, %v", code, body, err)
			}
		})
	}
}

// ops2's sudo asks for a password: non-interactive sudo must fail with
// sudo's own message (what natsops must turn into a clear error).
func TestSudoNeedsPassword(t *testing.T) {
	c := ctx(t, 30*time.Second)
	n := tb.Nodes[0].Name
	out, err := tb.Run(c, n, testbed.PasswordSudoUser, "sudo -n true")
	if err == nil {
		t.Fatalf("sudo -n as %s succeeded, want a password prompt refusal", testbed.PasswordSudoUser)
	}
	if !strings.Contains(out, "a password is required") {
		t.Fatalf("sudo -n as %s: %q, want 'a password is required'", testbed.PasswordSudoUser, out)
	}
	out, err = tb.Run(c, n, testbed.PasswordSudoUser, "echo "+testbed.SudoPassword+" | sudo -S -p '' id -u")
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("sudo -S with the password: %q, %v", out, err)
	}
}

// The generated inventory names every node with its address and points at
// the generated key and known_hosts next to it.
func TestInventoryFile(t *testing.T) {
	b, err := os.ReadFile(tb.InventoryFile)
	if err != nil {
		t.Fatal(err)
	}
	inv := string(b)
	for _, want := range []string{`identity_file = "id_ed25519"`, `known_hosts = "known_hosts"`, `host_key_checking = "strict"`, `user = "ops"`} {
		if !strings.Contains(inv, want) {
			t.Errorf("inventory lacks %s", want)
		}
	}
	for _, n := range tb.Nodes {
		if !strings.Contains(inv, "name = \""+n.Name+"\"\nhost = \""+n.Host+"\"") {
			t.Errorf("inventory lacks node %s %s", n.Name, n.Host)
		}
	}
	dir := filepath.Dir(tb.InventoryFile)
	for _, f := range []string{"id_ed25519", "known_hosts"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
