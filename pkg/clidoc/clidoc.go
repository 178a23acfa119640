// Package clidoc writes what a natsops package ships beside the binary and
// derives from its command tree: one man page per command (cobra/doc) and
// the bash, zsh and fish completion scripts. Generated from the tree at
// release time, they cannot drift from the commands and flags they
// describe. It also writes the repository's command reference, one
// Markdown page per command (docs/cli), from the same tree: checked in,
// and checked in CI to be what the tree generates.
//
// The boundary is real: it is a build step, not a command anyone runs on
// a fleet. It takes the cobra tree as data, writes only into the
// directories it is given, and owns the two properties a package build
// needs: files replaced atomically, and output that depends only on its
// inputs (the header date comes from SOURCE_DATE_EPOCH, never the clock,
// and gzip members carry no name or time), so two builds of one commit
// ship the same bytes.
package clidoc

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natsops/natsops/internal/atomicfile"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Options say what to write where.
type Options struct {
	// ManDir receives one page per command, "natsops-deploy.1" (with
	// Gzip "natsops-deploy.1.gz"); empty: no man pages.
	ManDir string
	// CompletionDir receives natsops.bash, _natsops (zsh) and
	// natsops.fish, named after the root command; empty: none.
	CompletionDir string
	// Gzip compresses the man pages, as distributions install them.
	Gzip bool
	// Date is the pages' header date (the release's, for reproducible
	// builds); zero: today.
	Date time.Time
	// Source is the header's source, e.g. "natsops 1.2.3".
	Source string
	// Manual is the header's manual title.
	Manual string
	// MarkdownDir receives one Markdown page per command,
	// "natsops_deploy.md", linked to each other; empty: none. The pages
	// carry no date, so they depend on the tree alone.
	MarkdownDir string
}

// Write generates the pages and completion scripts for the tree of root
// and returns the files written, sorted. Each file is replaced
// atomically; man and Markdown pages of commands that no longer exist
// (files named after the root command with the page suffix) are removed,
// so ManDir and MarkdownDir hold exactly the tree's pages.
func Write(root *cobra.Command, o Options) ([]string, error) {
	var written []string
	if o.ManDir != "" {
		files, err := writeMan(root, o)
		if err != nil {
			return nil, err
		}
		written = append(written, files...)
	}
	if o.CompletionDir != "" {
		files, err := writeCompletions(root, o.CompletionDir)
		if err != nil {
			return nil, err
		}
		written = append(written, files...)
	}
	if o.MarkdownDir != "" {
		files, err := writeMarkdown(root, o.MarkdownDir)
		if err != nil {
			return nil, err
		}
		written = append(written, files...)
	}
	sort.Strings(written)
	return written, nil
}

// DateFromEpoch parses SOURCE_DATE_EPOCH (reproducible-builds.org): a
// decimal count of seconds since 1970-01-01 UTC.
func DateFromEpoch(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds since 1970-01-01 UTC (e.g. the commit's: git log -1 --format=%%ct)", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func writeMan(root *cobra.Command, o Options) ([]string, error) {
	if err := os.MkdirAll(o.ManDir, 0o755); err != nil {
		return nil, err
	}
	// Generate into a scratch directory beside ManDir, then move each
	// page into place: a failure half way leaves ManDir as it was.
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(o.ManDir)), ".clidoc-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	date := o.Date
	if date.IsZero() {
		date = time.Now().UTC()
	}
	// The auto-generated footer says "on DATE" from the clock; the header
	// has the date already.
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: o.Source, Manual: o.Manual}
	if err := doc.GenManTree(root, hdr, tmp); err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	pages, err := filepath.Glob(filepath.Join(tmp, "*.1"))
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	var written []string
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(p)
		if o.Gzip {
			if b, err = gzipBytes(b); err != nil {
				return nil, err
			}
			name += ".gz"
		}
		dst := filepath.Join(o.ManDir, name)
		if err := atomicfile.Write(dst, b, 0o644, true); err != nil {
			return nil, err
		}
		keep[name] = true
		written = append(written, dst)
	}
	// Pages of commands that are gone (renamed, removed), and the other
	// form of a page (.1 beside .1.gz), would be installed as if current.
	old, err := os.ReadDir(o.ManDir)
	if err != nil {
		return nil, err
	}
	prefix := root.Name()
	for _, e := range old {
		n := e.Name()
		if keep[n] || e.IsDir() || !(n == prefix+".1" || n == prefix+".1.gz" || strings.HasPrefix(n, prefix+"-") && (strings.HasSuffix(n, ".1") || strings.HasSuffix(n, ".1.gz"))) {
			continue
		}
		if err := os.Remove(filepath.Join(o.ManDir, n)); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// writeMarkdown writes cobra/doc's Markdown pages (name "natsops_bench_pubsub.md",
// each linking its parent and children by file name) into dir, replacing
// each page atomically, and removes the pages of commands that are gone,
// so dir holds exactly the tree's pages and a diff against it shows what
// changed.
func writeMarkdown(root *cobra.Command, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".clidoc-md-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// cobra's footer says "Auto generated by spf13/cobra on DATE" from the
	// clock: a page would change every day with nothing else changed.
	root.DisableAutoGenTag = true
	if err := doc.GenMarkdownTree(root, tmp); err != nil {
		return nil, fmt.Errorf("markdown pages: %w", err)
	}
	pages, err := filepath.Glob(filepath.Join(tmp, "*.md"))
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	var written []string
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, filepath.Base(p))
		if err := atomicfile.Write(dst, b, 0o644, true); err != nil {
			return nil, err
		}
		keep[filepath.Base(p)] = true
		written = append(written, dst)
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix := root.Name()
	for _, e := range old {
		n := e.Name()
		if keep[n] || e.IsDir() || !(n == prefix+".md" || strings.HasPrefix(n, prefix+"_") && strings.HasSuffix(n, ".md")) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// gzipBytes compresses like `gzip -9n`: no file name, no time stamp.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCompletions(root *cobra.Command, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name := root.Name()
	gens := []struct {
		file string
		gen  func(*bytes.Buffer) error
	}{
		{name + ".bash", func(w *bytes.Buffer) error { return root.GenBashCompletionV2(w, true) }},
		{"_" + name, func(w *bytes.Buffer) error { return root.GenZshCompletion(w) }},
		{name + ".fish", func(w *bytes.Buffer) error { return root.GenFishCompletion(w, true) }},
	}
	var written []string
	for _, g := range gens {
		var buf bytes.Buffer
		if err := g.gen(&buf); err != nil {
			return nil, fmt.Errorf("%s completion: %w", g.file, err)
		}
		dst := filepath.Join(dir, g.file)
		if err := atomicfile.Write(dst, buf.Bytes(), 0o644, true); err != nil {
			return nil, err
		}
		written = append(written, dst)
	}
	return written, nil
}
