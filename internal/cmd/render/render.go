// Package render is `natsops render`: every selected node's config
// rendered, validated and written locally, all or none.
package render

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/natsops/natsops/internal/cmd/view"
	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/internal/text"
	"github.com/natsops/natsops/pkg/config"
)

// Options are render's flags.
type Options struct {
	*cmdutil.Factory
	Build       cmdutil.BuildFlags
	Out         string
	ShowSecrets bool
}

// NewCmd is `natsops render`; runF, when set, gets the options instead of
// the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "render --out DIR|-",
		Short: "Write each node's nats-server config locally",
		Long: `Render every selected node's config, validate it, and write it to
DIR/<node>.conf, or print it with --out - (secrets masked unless
--show-secrets).

Nothing is written unless every selected node renders and validates: the
files are all written or none are. Files are created with mode 0600 since
they may hold passwords.`,
		Example: `  natsops render --out build/
  natsops render --limit nats-1 --out -`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Out == "" {
				return cmdutil.Usage("render needs --out DIR (or --out - to print)")
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "directory to write <node>.conf into, or - for stdout (required)")
	cmd.Flags().BoolVar(&o.ShowSecrets, "show-secrets", false, "print secrets with --out - instead of masking them")
	o.Build.Register(cmd.Flags())
	return cmd
}

// rendered is one config of render --out - with -o json.
type rendered struct {
	Node   string `json:"node"`
	Path   string `json:"config_path"`
	Config string `json:"config"`
}

func run(o *Options) error {
	b, err := o.BuildEstate(o.Build)
	if err != nil {
		return err
	}
	inv, res := b.Inv, b.Res
	st := o.Style()
	if !res.OK(config.SevError) {
		err := cmdutil.InvalidConfigs("nothing written: ", res.Findings, inv.Path)
		if o.JSON() {
			o.Result(map[string]any{"files": []string{}, "findings": res.Findings})
			return cmdutil.WithCode(cmdutil.ExitInvalid, err)
		}
		view.PrintFindings(o.Sys.Stderr, st, res.Findings)
		return cmdutil.WithCode(cmdutil.ExitInvalid, err)
	}
	if o.Global.Verbose > 0 {
		view.PrintFindings(o.Sys.Stderr, st, res.Findings)
	}
	if o.Out == "-" {
		return print(o, b)
	}
	files := make([]atomicfile.File, len(res.Configs))
	for i, c := range res.Configs {
		files[i] = atomicfile.File{Path: filepath.Join(o.Out, c.Node.Name+".conf"), Data: c.Config}
	}
	if err := atomicfile.WriteAll(o.Out, files, 0o600); err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	if o.JSON() {
		o.Result(map[string]any{"files": names, "findings": text.NonNil(res.Findings)})
		return nil
	}
	for _, f := range names {
		fmt.Fprintln(o.Sys.Stdout, f)
	}
	return nil
}

// print writes the configs on stdout, secrets masked unless
// --show-secrets (-o json: one document with each config as a string).
func print(o *Options, b *cmdutil.Built) error {
	res := b.Res
	var docs []rendered
	for i, c := range res.Configs {
		cfg := c.Config
		if !o.ShowSecrets {
			// Re-render with placeholders: the real config was validated.
			m, err := config.Render(b.InvOf(c.Node), b.TS, c.Node, config.RenderOptions{Env: o.Sys.Getenv, Mask: true})
			if err != nil {
				return err
			}
			cfg = m.Config
		}
		if o.JSON() {
			docs = append(docs, rendered{Node: c.Node.Name, Path: c.Node.Service.ConfigPath, Config: string(cfg)})
			continue
		}
		if len(res.Configs) > 1 {
			if i > 0 {
				fmt.Fprintln(o.Sys.Stdout)
			}
			fmt.Fprintf(o.Sys.Stdout, "# ---- node %s: %s ----\n", c.Node.Name, c.Node.Service.ConfigPath)
		}
		if _, err := o.Sys.Stdout.Write(cfg); err != nil {
			return err
		}
	}
	o.Result(map[string]any{"configs": text.NonNil(docs), "findings": text.NonNil(res.Findings)})
	return nil
}
