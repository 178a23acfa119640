// Package initcmd is `natsops init`: a commented starter inventory.
package initcmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/inventory"
)

// Options are init's flags.
type Options struct {
	*cmdutil.Factory
	Force bool
}

// NewCmd is `natsops init`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter inventory",
		Long: `Write a commented starter inventory to the -i path (default natsops.toml):
a 3-node cluster with every commonly used setting explained. Edit the hosts,
then run 'natsops validate'.

An existing file is never overwritten without --force.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing file")
	return cmd
}

func run(o *Options) error {
	path := o.Global.Inventory
	if err := atomicfile.Write(path, inventory.Example(), 0o644, o.Force); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("%s already exists; use --force to overwrite it, or -i to choose another path", path))
		}
		return err
	}
	o.Result(map[string]any{"inventory": path})
	if !o.JSON() {
		fmt.Fprintf(o.Sys.Stdout, "wrote %s\n", path)
		fmt.Fprintf(o.Sys.Stderr, "next: edit the [[node]] hosts, then run: natsops validate -i %s\n", path)
	}
	return nil
}
