package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/inventory"
)

func newInitCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter inventory",
		Long: `Write a commented starter inventory to the -i path (default natsops.toml):
a 3-node cluster with every commonly used setting explained. Edit the hosts,
then run 'natsops validate'.

An existing file is never overwritten without --force.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(g.inventory, flags, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return withCode(ExitError, fmt.Errorf("%s already exists; use --force to overwrite it, or -i to choose another path", g.inventory))
			}
			if err != nil {
				return err
			}
			_, werr := f.Write(inventory.Example())
			if err := errors.Join(werr, f.Close()); err != nil {
				return fmt.Errorf("write %s: %w", g.inventory, err)
			}
			if g.json() {
				writeJSON(g.sys.stdout, map[string]any{"ok": true, "inventory": g.inventory})
				return nil
			}
			fmt.Fprintf(g.sys.stdout, "wrote %s\n", g.inventory)
			fmt.Fprintf(g.sys.stderr, "next: edit the [[node]] hosts, then run: natsops validate -i %s\n", g.inventory)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
