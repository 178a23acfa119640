// Package layers holds the test that keeps natsops's import graph layered
// (docs/ARCHITECTURE.md): a package imports only packages of lower layers,
// so there are no cycles and nothing low depends on something high.
package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/natsops/natsops/"

// layer of every package; a package may import only lower layers.
var layer = map[string]int{
	"templates": 0, "inventory": 0, "pkg/natsconf": 0, "pkg/monitor": 0, "pkg/loadgen": 0, "pkg/embedded": 0, "internal/atomicfile": 0, "internal/text": 0, "internal/fanout": 0,
	"pkg/cluster": 1, "pkg/clidoc": 1, "pkg/progress": 1,
	"pkg/config": 2, "pkg/remote": 2, "pkg/health": 2, "pkg/fleet": 2, "pkg/bench": 2, "pkg/ansible": 2, "pkg/natscontext": 2, "pkg/natsadmin": 2,
	"pkg/service": 3, "pkg/audit": 3,
	"pkg/rollout": 4, "pkg/probe": 4, "pkg/hostrun": 4,
	"pkg/tune": 5, "pkg/deploy": 5, "pkg/demo": 5, "pkg/rebalance": 5,
	"pkg/provision": 6,
	// The command layer: the views, the shared machinery, the rollout
	// commands' share, the commands (none imports another), the root, main.
	"internal/cmd/view": 7, "internal/cmdutil": 8, "internal/cmd/rolloutcmd": 9,
	"internal/cmd/bench": 10, "internal/cmd/check": 10, "internal/cmd/contexts": 10, "internal/cmd/demo": 10,
	"internal/cmd/deploy": 10, "internal/cmd/gendocs": 10, "internal/cmd/hashpassword": 10, "internal/cmd/history": 10,
	"internal/cmd/initcmd": 10, "internal/cmd/inventory": 10, "internal/cmd/provision": 10, "internal/cmd/render": 10,
	"internal/cmd/rebalance": 10, "internal/cmd/restart": 10, "internal/cmd/server": 10, "internal/cmd/status": 10, "internal/cmd/tune": 10,
	"internal/cmd/validate": 10, "internal/cmd/version": 10,
	"internal/cmd/evacuate": 10, "internal/cmd/stepdown": 10, "internal/cmd/replace": 10, "internal/cmd/rescue": 10,
	"internal/cmd/root": 11, "internal/cmd/cmdtest": 12, "cmd/natsops": 12,
	// Test support and the testbed sit beside the product.
	"internal/natstest": 1, "internal/testinv": 2, "testbed": 3, "testbed/cmd/testbed": 4,
	// The docs tests build and run the binary; they import nothing of it.
	"docs": 0,
}

func TestImportsGoDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		if pkg == "internal/layers" {
			continue
		}
		seen[pkg] = true
		l, ok := layer[pkg]
		if !ok {
			t.Errorf("%s has no layer: add it to this test and to docs/ARCHITECTURE.md", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if dl, ok := layer[dep]; ok && dl >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, l, dep, dl)
			}
		}
	}
	for pkg := range layer {
		if !seen[pkg] {
			t.Errorf("layer lists %s, which does not exist", pkg)
		}
	}
}
