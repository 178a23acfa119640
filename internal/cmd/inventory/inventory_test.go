package inventory_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/inventory"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestImportFlags(t *testing.T) {
	var got *inventory.ImportOptions
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return inventory.NewCmdImport(f, func(o *inventory.ImportOptions) error { got = o; return nil })
	}
	code, _, _ := cmdtest.Parse(t, newCmd, "import", "--ansible", "-", "--group", "nats", "--out", "x.toml", "--force", "--cluster-name", "c")
	if code != 0 || got.AnsibleFile != "-" || got.Group != "nats" || got.Out != "x.toml" || !got.Force || got.ClusterName != "c" {
		t.Fatalf("exit %d, %+v", code, got)
	}
	for _, bad := range [][]string{{"--group", "nats"}, {"--ansible", "f.json"}, {"--ansible", "f.json", "--group", "nats", "-o", "json"}} {
		got = nil
		if code, _, _ := cmdtest.Parse(t, newCmd, append([]string{"import"}, bad...)...); code != cmdutil.ExitUsage || got != nil {
			t.Errorf("%v: exit %d, want 64 before the run", bad, code)
		}
	}
}
