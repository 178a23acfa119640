package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is one file of WriteAll.
type File struct {
	Path string
	Data []byte
}

// WriteAll writes every file into dir (created, 0700, when missing) with
// mode perm, all or nothing: each goes to a temporary file first; only
// when all are written, and every target is a regular file or absent, are
// they renamed into place, and a rename that fails puts back the files
// already replaced. `natsops render --out DIR` writes the nodes' configs
// this way.
func WriteAll(dir string, files []File, perm fs.FileMode) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	type pending struct{ tmp, final string }
	var ps []pending
	cleanup := func() {
		for _, p := range ps {
			os.Remove(p.tmp)
		}
	}
	for _, file := range files {
		f, err := os.CreateTemp(filepath.Dir(file.Path), "."+filepath.Base(file.Path)+".*")
		if err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", file.Path, err)
		}
		ps = append(ps, pending{f.Name(), file.Path})
		_, werr := f.Write(file.Data)
		if err := errors.Join(werr, f.Chmod(perm), f.Sync(), f.Close()); err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", file.Path, err)
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
			return fmt.Errorf("%s is %s; nothing was written: move it away or pick another --out", p.final, what)
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
	for _, p := range ps {
		prev := ""
		if _, err := os.Lstat(p.final); err == nil {
			prev = p.tmp + ".prev"
			if err := os.Rename(p.final, prev); err != nil {
				undo()
				cleanup()
				return fmt.Errorf("write %s: %w; nothing was written", p.final, err)
			}
		}
		if err := os.Rename(p.tmp, p.final); err != nil {
			if prev != "" {
				os.Rename(prev, p.final)
			}
			undo()
			cleanup()
			return fmt.Errorf("write %s: %w; nothing was written", p.final, err)
		}
		done = append(done, pending{tmp: prev, final: p.final})
	}
	for _, d := range done {
		if d.tmp != "" {
			os.Remove(d.tmp)
		}
	}
	return nil
}
