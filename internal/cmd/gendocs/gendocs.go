// Package gendocs is the hidden `natsops gendocs`: man pages and shell
// completions from the command tree, for the packages (pkg/clidoc).
package gendocs

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/clidoc"
)

// Options are gendocs' flags.
type Options struct {
	*cmdutil.Factory
	Man         string
	Completions string
	Gzip        bool
	Source      string
	Markdown    string
}

// NewCmd is the release build's step (.goreleaser.yaml's before
// hook) that writes the man pages and completion scripts the packages
// install, and writes the Markdown reference checked in under docs/cli.
// Hidden: it is not for operators.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "gendocs --man DIR --completions DIR",
		Short: "Write man pages and shell completion scripts (for packaging)",
		Long: `Write one man page per command (natsops.1, natsops-deploy.1, ...) into the
--man directory and the bash, zsh and fish completion scripts (natsops.bash,
_natsops, natsops.fish) into the --completions directory, from this
binary's command tree. Pages of commands that no longer exist are removed
from the --man directory.

--markdown DIR writes one Markdown page per command (natsops_deploy.md,
...), undated: the repository's reference, go run ./cmd/natsops gendocs
--markdown docs/cli. Pages of commands that no longer exist are removed
from it too.

The pages' header date is SOURCE_DATE_EPOCH (seconds since 1970, e.g. the
commit's: git log -1 --format=%ct) so that a build is reproducible;
without it, today.`,
		Hidden: true,
		Args:   cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Man == "" && o.Completions == "" && o.Markdown == "" {
				return cmdutil.Usage("nothing to write: pass --man DIR, --completions DIR or both, or --markdown DIR")
			}
			if runF != nil {
				return runF(o)
			}
			return o.run(cmd.Root())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Man, "man", "", "write the man pages into `DIR`")
	fl.StringVar(&o.Completions, "completions", "", "write the completion scripts into `DIR`")
	fl.BoolVar(&o.Gzip, "gzip", false, "gzip the man pages (name.1.gz, as distributions install them)")
	fl.StringVar(&o.Source, "source", "", "the pages' header source (default \"natsops VERSION\")")
	fl.StringVar(&o.Markdown, "markdown", "", "write one Markdown page per command into `DIR` (docs/cli)")
	return cmd
}

func (o *Options) run(root *cobra.Command) error {
	var date time.Time
	if s, ok := o.Sys.Getenv("SOURCE_DATE_EPOCH"); ok && s != "" {
		d, err := clidoc.DateFromEpoch(s)
		if err != nil {
			return cmdutil.Usage("%v", err)
		}
		date = d
	}
	source := o.Source
	if source == "" {
		source = "natsops " + o.Version().Version
	}
	files, err := clidoc.Write(root, clidoc.Options{
		ManDir:        o.Man,
		CompletionDir: o.Completions,
		Gzip:          o.Gzip,
		Date:          date,
		Source:        source,
		Manual:        "natsops manual",
		MarkdownDir:   o.Markdown,
	})
	if err != nil {
		return err
	}
	if o.JSON() {
		o.Result(map[string]any{"files": files})
		return nil
	}
	for _, f := range files {
		fmt.Fprintln(o.Sys.Stdout, f)
	}
	return nil
}
