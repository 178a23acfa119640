package tune_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/tune"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *tune.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return tune.NewCmd(f, func(o *tune.Options) error { got = o; return nil })
	}, "tune", "--check", "--parallel", "3", "--ask-become-pass")
	if code != 0 || !got.Check || got.Global.Parallel != 3 || !got.Global.AskBecomePass {
		t.Errorf("exit %d, %+v", code, got)
	}
}
