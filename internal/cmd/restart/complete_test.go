package restart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
)

// TestNodeCompletes: `natsops __complete restart --node ""` offers the
// inventory's node names, as --limit does.
func TestNodeCompletes(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "natsops.toml")
	src := "[cluster]\nname = \"c\"\n\n[[node]]\nname = \"n1\"\nhost = \"10.0.0.1\"\n\n[[node]]\nname = \"n2\"\nhost = \"10.0.0.2\"\n"
	if err := os.WriteFile(inv, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"__complete", "restart", "-i", inv, "--node", ""}, {"__complete", "restart", "-i", inv, "--limit", ""}} {
		code, out, _ := cmdtest.CLI(t, args...)
		if code != 0 || !strings.HasPrefix(out, "n1\nn2\n:4\n") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}
