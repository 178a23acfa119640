package deploy

import (
	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/deploy"
)

// DiffOptions are diff's flags.
type DiffOptions struct {
	*cmdutil.Factory
	Build cmdutil.BuildFlags
}

// NewCmdDiff is `natsops diff`; runF, when set, gets the options instead
// of the run.
func NewCmdDiff(f *cmdutil.Factory, runF func(*DiffOptions) error) *cobra.Command {
	o := &DiffOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show rendered vs deployed configs, secrets masked",
		Long: `Render every selected node's config and show a unified diff against the
config deployed on the node (secrets masked on both sides; a changed secret
is said to differ without its value), and whether applying it would need a
reload or a restart. Changes nothing and takes no lock; deploy --check is
the same with exit code 2 when anything differs.

Exit codes: 0 shown (whatever differs), 1 a node could not be read (each
is named; the others are shown), 65 the inventory or a rendered config is
invalid.`,
		Example: `  natsops diff
  natsops diff --limit nats-1
  natsops diff -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			pl, err := readPlan(cmd.Context(), o.Factory, o.Build, deploy.Options{Restart: deploy.RestartAuto})
			if err != nil {
				return err
			}
			defer pl.conn.Close()
			printPlan(o.Factory, pl.plan, false)
			o.Result(map[string]any{"nodes": text.NonNil(pl.plan.Nodes), "changed": changedNames(pl.plan)})
			return planErrors(o.Factory, pl.plan, "")
		},
	}
	o.Build.Register(cmd.Flags())
	return cmd
}
