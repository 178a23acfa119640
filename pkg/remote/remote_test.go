package remote

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

func TestQuoteThroughRealShell(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "a b", "$(id)", "`id`", "x;rm -rf /", "\n", "\\", "'\"'", "-n", "ü日本", "*", "~root"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("Quote(%q) = %s: sh printed %q (%v)", s, Quote(s), out, err)
		}
	}
}

// FuzzQuote: any string without NUL passes through a real sh -c unchanged.
// (NUL cannot be in an argv string at all; callers refuse it.)
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "'", "a'b", "$HOME", "\x01\xff", "--", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return
			}
		}
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Fatalf("Quote(%q) = %s: sh printed %q (%v)", s, Quote(s), out, err)
		}
	})
}

func TestLocalRun(t *testing.T) {
	h := &Local{NodeName: "n1"}
	res, err := h.Run(context.Background(), Command("sh", "-c", "echo out; echo err >&2; exit 3"), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got %+v", res)
	}
	if e := res.Err(h, "probe"); e == nil || e.Error() != "n1: probe: exit 3: err" {
		t.Errorf("Err = %v", e)
	}
	res, err = h.Run(context.Background(), "cat", RunOptions{Stdin: []byte("in")})
	if err != nil || string(res.Stdout) != "in" {
		t.Errorf("stdin: %q %v", res.Stdout, err)
	}
}

// TestConnectLocalNoSudo: a local node with ssh.sudo = false (the demo's)
// runs privileged commands as this user, without sudo.
func TestConnectLocalNoSudo(t *testing.T) {
	inv, err := cluster.Parse("inv.toml", []byte("[ssh]\nsudo = false\n\n[[node]]\nname = \"n1\"\nhost = \"127.0.0.1\"\nconnection = \"local\"\nservice.config_path = \"n1.conf\"\n\n[[node]]\nname = \"n2\"\nhost = \"127.0.0.2\"\nconnection = \"local\"\nservice.config_path = \"n2.conf\"\nssh.sudo = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"n1": true, "n2": false}
	for _, n := range inv.Nodes {
		h, err := Connect(context.Background(), n, inv.Dir, Env{}, DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l, ok := h.(*Local)
		if !ok || l.NoSudo != want[n.Name] {
			t.Fatalf("%s: got %#v, want a Local host with NoSudo %v", n.Name, h, want[n.Name])
		}
	}
	h := &Local{NodeName: "n1", NoSudo: true}
	res, err := h.Run(context.Background(), "id -u", RunOptions{Sudo: true})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != strconv.Itoa(os.Geteuid()) {
		t.Fatalf("NoSudo ran as %q (%v), want uid %d", res.Stdout, err, os.Geteuid())
	}
}

// TestScript: a script's stdout comes back; a non-zero exit is an error
// naming the host, what ran, the exit code and the script's last words.
func TestScript(t *testing.T) {
	h := &Local{NodeName: "n1", NoSudo: true}
	out, err := Script(context.Background(), h, "read", "echo one; cat", RunOptions{Stdin: []byte("two\n")})
	if err != nil || string(out) != "one\ntwo\n" {
		t.Fatalf("Script = %q, %v", out, err)
	}
	out, err = Script(context.Background(), h, "apply", "echo partial; echo first >&2; echo 'no space left' >&2; exit 3", RunOptions{})
	if err == nil || out != nil || err.Error() != "n1: apply: exit 3: no space left" {
		t.Errorf("failing script: %q, %v", out, err)
	}
}
