package contexts_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmd/cmdtest"
	"github.com/natsops/natsops/internal/cmd/contexts"
	"github.com/natsops/natsops/internal/cmdutil"
)

func TestFlags(t *testing.T) {
	var got *contexts.Options
	code, _, _ := cmdtest.Parse(t, func(f *cmdutil.Factory) *cobra.Command {
		return contexts.NewCmd(f, func(o *contexts.Options) error { got = o; return nil })
	}, "contexts", "--write", "--force", "--with-secrets", "--dir", "d", "--user", "app", "--suffix", "app")
	if code != 0 || !got.Write || !got.Force || !got.WithSecrets || got.Dir != "d" || got.User != "app" || got.Suffix != "app" {
		t.Errorf("exit %d, %+v", code, got)
	}
}
