package hashpassword_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/hashpassword"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *hashpassword.Options
	newCmd := func(f *cmdutil.Factory) *cobra.Command {
		return hashpassword.NewCmd(f, func(o *hashpassword.Options) error { got = o; return nil })
	}
	if code, _, _ := cmdtest.Parse(t, newCmd, "hash-password"); code != 0 || got.Cost != 11 {
		t.Fatalf("default cost: exit %d, %+v", code, got)
	}
	for _, cost := range []string{"3", "32"} {
		got = nil
		if code, _, _ := cmdtest.Parse(t, newCmd, "hash-password", "--cost", cost); code != cmdutil.ExitUsage || got != nil {
			t.Errorf("--cost %s: exit %d, want 64 before the run", cost, code)
		}
	}
}
