package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestMainFlags: nats-server's own flags, exit codes and messages for
// the paths that do not start a server.
func TestMainFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(good, []byte("port: 4222\nserver_name: n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("port: \"not a port\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"--version"}, 0, "nats-server: v" + server.VERSION, ""},
		{[]string{"--help"}, 0, "--signal <signal>", ""},
		{[]string{"-t", "-c", good}, 0, "", "configuration file " + good + " is valid"},
		{[]string{"-t", "-c", bad}, 1, "", bad},
		{[]string{"-t"}, 1, "", "must specify [-c, --config] option"},
		{[]string{"--no-such-flag"}, 1, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"--signal", "reload=" + filepath.Join(dir, "missing.pid")}, 1, "", "missing.pid"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.errs) {
			t.Errorf("Main(%q) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.errs)
		}
	}
}
