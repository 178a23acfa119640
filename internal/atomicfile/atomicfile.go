// Package atomicfile writes a local file so that a reader, or a crash,
// sees the old file or the new one, never half of one: a temporary file in
// the same directory, written, given its mode, synced, then renamed over
// the target (or linked, when an existing file must not be replaced). The
// commands that write files on this machine (inventory import, contexts,
// the generated man pages and completions) share it; remote files have
// their own protocol in pkg/remote.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is Write refusing to replace a file (replace false): its
// error reads "PATH already exists".
var ErrExists = errors.New("already exists")

// Write puts data at path with mode perm. replace false never touches an
// existing file: it fails with an error that wraps ErrExists, also when
// the file appears while data is being written (the final step is a hard
// link, which fails on an existing name, not a rename). A failure leaves
// no temporary file behind and the old file, if any, as it was.
func Write(path string, data []byte, perm fs.FileMode, replace bool) (err error) {
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s %w", path, ErrExists)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename or link, gone or a second name
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(perm), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if replace {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s %w", path, ErrExists)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
