package validate_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/validate"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *validate.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return validate.NewCmd(f, func(o *validate.Options) error { got = o; return nil })
	}, "validate", "--strict", "--rules", "--templates", "t", "-i", "x.toml", "--cluster", "east,west")
	if code != 0 || !got.Strict || !got.Rules || got.Build.Templates != "t" || got.Global.Inventory != "x.toml" || len(got.Global.Clusters) != 2 {
		t.Errorf("exit %d, %+v", code, got)
	}
}
