package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/natsops/natsops/pkg/config"
	"github.com/spf13/cobra"
)

type renderOptions struct {
	*globals
	build       buildFlags
	out         string
	showSecrets bool
}

func newRenderCmd(g *globals) *cobra.Command {
	o := &renderOptions{globals: g}
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
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run() },
	}
	cmd.Flags().StringVar(&o.out, "out", "", "directory to write <node>.conf into, or - for stdout (required)")
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print secrets with --out - instead of masking them")
	cmd.Flags().StringVar(&o.build.templates, "templates", "", "use the templates in this directory instead of the embedded ones")
	return cmd
}

func (o *renderOptions) run() error {
	if o.out == "" {
		return usageError("render needs --out DIR (or --out - to print)")
	}
	b, err := o.globals.buildEstate(o.build)
	if err != nil {
		return err
	}
	inv, res := b.inv, b.res
	st := style{on: o.color()}
	if !res.OK(config.SevError) {
		if o.json() {
			writeJSON(o.sys.stdout, map[string]any{"ok": false, "files": []string{}, "findings": res.Findings})
			return reported(ExitInvalid)
		}
		printFindings(o.sys.stderr, st, res.Findings)
		fmt.Fprintf(o.sys.stderr, "natsops: nothing written: %s in %s\n", plural(config.Count(res.Findings, config.SevError), "error"), inv.Path)
		return reported(ExitInvalid)
	}
	if o.verbose > 0 {
		printFindings(o.sys.stderr, st, res.Findings)
	}
	if o.out == "-" {
		return o.print(b)
	}
	files, err := writeAll(o.out, res.Configs)
	if err != nil {
		return err
	}
	if o.json() {
		writeJSON(o.sys.stdout, map[string]any{"ok": true, "files": files, "findings": nonNil(res.Findings)})
		return nil
	}
	for _, f := range files {
		fmt.Fprintln(o.sys.stdout, f)
	}
	return nil
}

func (o *renderOptions) print(b *built) error {
	res := b.res
	for i, c := range res.Configs {
		cfg := c.Config
		if !o.showSecrets {
			// Re-render with placeholders: the real config was validated.
			m, err := config.Render(b.invOf(c.Node), b.ts, c.Node, config.RenderOptions{Env: o.sys.getenv, Mask: true})
			if err != nil {
				return err
			}
			cfg = m.Config
		}
		if len(res.Configs) > 1 {
			if i > 0 {
				fmt.Fprintln(o.sys.stdout)
			}
			fmt.Fprintf(o.sys.stdout, "# ---- node %s: %s ----\n", c.Node.Name, c.Node.Service.ConfigPath)
		}
		if _, err := o.sys.stdout.Write(cfg); err != nil {
			return err
		}
	}
	return nil
}

// writeAll writes every config into dir, all or nothing: each goes to a
// temp file first; only when all are written are they renamed into place.
func writeAll(dir string, configs []*config.Rendered) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	type pending struct{ tmp, final string }
	var ps []pending
	cleanup := func() {
		for _, p := range ps {
			os.Remove(p.tmp)
		}
	}
	for _, c := range configs {
		final := filepath.Join(dir, c.Node.Name+".conf")
		f, err := os.CreateTemp(dir, "."+c.Node.Name+".conf.*")
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("write %s: %w", final, err)
		}
		ps = append(ps, pending{f.Name(), final})
		_, werr := f.Write(c.Config)
		err = errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close())
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("write %s: %w", final, err)
		}
	}
	// Every target must be a file that can be replaced, before any is:
	// a directory (or anything else) in the way refuses the whole run.
	for _, p := range ps {
		if st, err := os.Lstat(p.final); err == nil && !st.Mode().IsRegular() {
			cleanup()
			what := "not a regular file"
			if st.IsDir() {
				what = "a directory"
			}
			return nil, fmt.Errorf("%s is %s; nothing was written: move it away or pick another --out", p.final, what)
		}
	}
	// Keep the files being replaced until every rename is done, to put
	// them back if one fails.
	var done []pending
	undo := func() {
		for _, d := range done {
			if d.tmp != "" {
				os.Rename(d.tmp, d.final)
			} else {
				os.Remove(d.final)
			}
		}
	}
	files := make([]string, 0, len(ps))
	for _, p := range ps {
		prev := ""
		if _, err := os.Lstat(p.final); err == nil {
			prev = p.tmp + ".prev"
			if err := os.Rename(p.final, prev); err != nil {
				undo()
				cleanup()
				return nil, fmt.Errorf("write %s: %w; nothing was written", p.final, err)
			}
		}
		if err := os.Rename(p.tmp, p.final); err != nil {
			if prev != "" {
				os.Rename(prev, p.final)
			}
			undo()
			cleanup()
			return nil, fmt.Errorf("write %s: %w; nothing was written", p.final, err)
		}
		done = append(done, pending{tmp: prev, final: p.final})
		files = append(files, p.final)
	}
	for _, d := range done {
		if d.tmp != "" {
			os.Remove(d.tmp)
		}
	}
	return files, nil
}
