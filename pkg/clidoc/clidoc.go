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
	date := o.Date
	if date.IsZero() {
		date = time.Now().UTC()
	}
	hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: o.Source, Manual: o.Manual}
	prefix := root.Name()
	return installPages(root, pageSet{
		dir: o.ManDir, ext: ".1", what: "man pages",
		gen: func(tmp string) error { return doc.GenManTree(root, hdr, tmp) },
		convert: func(name string, b []byte) (string, []byte, error) {
			if !o.Gzip {
				return name, b, nil
			}
			b, err := gzipBytes(b)
			return name + ".gz", b, err
		},
		// The other form of a page (.1 beside .1.gz) would be installed
		// as if current too.
		ours: func(n string) bool {
			return n == prefix+".1" || n == prefix+".1.gz" || strings.HasPrefix(n, prefix+"-") && (strings.HasSuffix(n, ".1") || strings.HasSuffix(n, ".1.gz"))
		},
	})
}

// writeMarkdown writes cobra/doc's Markdown pages (name "natsops_bench_pubsub.md",
// each linking its parent and children by file name) into dir, so dir
// holds exactly the tree's pages and a diff against it shows what changed.
func writeMarkdown(root *cobra.Command, dir string) ([]string, error) {
	prefix := root.Name()
	return installPages(root, pageSet{
		dir: dir, ext: ".md", what: "markdown pages",
		gen: func(tmp string) error { return doc.GenMarkdownTree(root, tmp) },
		ours: func(n string) bool {
			return n == prefix+".md" || strings.HasPrefix(n, prefix+"_") && strings.HasSuffix(n, ".md")
		},
	})
}

// pageSet is one kind of page cobra/doc generates: where it goes, its
// file suffix, the generator, an optional conversion of each page (name
// and content), and which files of dir are pages of this tree.
type pageSet struct {
	dir, ext, what string
	gen            func(tmp string) error
	convert        func(name string, b []byte) (string, []byte, error)
	ours           func(name string) bool
}

// installPages generates a set into a scratch directory beside its
// directory, then moves each page into place atomically (a failure half
// way leaves the directory as it was), and removes the pages of commands
// that are gone (renamed, removed), which would otherwise be installed as
// if current.
func installPages(root *cobra.Command, ps pageSet) ([]string, error) {
	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(ps.dir)), ".clidoc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// cobra's footer says "Auto generated by spf13/cobra on DATE" from the
	// clock: a page would change every day with nothing else changed.
	root.DisableAutoGenTag = true
	if err := ps.gen(tmp); err != nil {
		return nil, fmt.Errorf("%s: %w", ps.what, err)
	}
	pages, err := filepath.Glob(filepath.Join(tmp, "*"+ps.ext))
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
		if ps.convert != nil {
			if name, b, err = ps.convert(name, b); err != nil {
				return nil, err
			}
		}
		dst := filepath.Join(ps.dir, name)
		if err := atomicfile.Write(dst, b, 0o644, true); err != nil {
			return nil, err
		}
		keep[name] = true
		written = append(written, dst)
	}
	old, err := os.ReadDir(ps.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range old {
		if n := e.Name(); !keep[n] && !e.IsDir() && ps.ours(n) {
			if err := os.Remove(filepath.Join(ps.dir, n)); err != nil {
				return nil, err
			}
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
