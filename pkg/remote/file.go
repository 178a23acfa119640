package remote

import (
	"context"
	"fmt"
	"strings"
)

// File is a file to install on a host.
type File struct {
	Path  string
	Data  []byte
	Mode  uint32 // permission bits, e.g. 0o644
	Owner string // "user:group"; empty keeps the default (root's, with sudo)
	// Validate, when set, is a command run on the new file before it
	// replaces the old one; "{}" is replaced by the quoted temp path. A
	// failing check leaves the old file untouched.
	Validate string
}

// Install outcome words printed by the install script.
const (
	installChanged   = "natsops:changed"
	installUnchanged = "natsops:unchanged"
)

// BackupSuffix is appended to a replaced file's path to keep the previous
// version.
const BackupSuffix = ".natsops-bak"

// installScript writes stdin to a temp file in the target's directory,
// fsyncs it, sets mode and owner, validates it, keeps a backup of the old
// file, and renames it into place: an interrupted run leaves the old file
// whole, and an equal file is not rewritten (only its mode/owner fixed).
func installScript(f File) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\np=%s\nd=$(dirname \"$p\")\n", Quote(f.Path))
	b.WriteString("mkdir -p \"$d\"\ntmp=$(mktemp \"$d/.natsops.XXXXXX\")\ntrap 'rm -f \"$tmp\"' EXIT\ncat > \"$tmp\"\n")
	fmt.Fprintf(&b, "chmod %04o \"$tmp\"\n", f.Mode&0o7777)
	if f.Owner != "" {
		fmt.Fprintf(&b, "chown %s \"$tmp\"\n", Quote(f.Owner))
	}
	b.WriteString("if [ -f \"$p\" ] && cmp -s \"$tmp\" \"$p\"; then\n")
	fmt.Fprintf(&b, "  chmod %04o \"$p\"\n", f.Mode&0o7777)
	if f.Owner != "" {
		fmt.Fprintf(&b, "  chown %s \"$p\"\n", Quote(f.Owner))
	}
	fmt.Fprintf(&b, "  echo %s\n  exit 0\nfi\n", installUnchanged)
	if f.Validate != "" {
		fmt.Fprintf(&b, "%s\n", strings.ReplaceAll(f.Validate, "{}", "\"$tmp\""))
	}
	b.WriteString("sync \"$tmp\" 2>/dev/null || sync\n")
	fmt.Fprintf(&b, "if [ -f \"$p\" ]; then cp -p \"$p\" \"$p%s\"; fi\n", BackupSuffix)
	b.WriteString("mv -f \"$tmp\" \"$p\"\ntrap - EXIT\nsync \"$d\" 2>/dev/null || true\n")
	fmt.Fprintf(&b, "echo %s\n", installChanged)
	return b.String()
}

// Install writes f on h atomically and reports whether it changed.
func Install(ctx context.Context, h Host, f File, sudo bool) (bool, error) {
	if !strings.HasPrefix(f.Path, "/") {
		return false, fmt.Errorf("%s: install %s: path must be absolute", h.Name(), f.Path)
	}
	res, err := h.Run(ctx, installScript(f), RunOptions{Sudo: sudo, Stdin: nonNilBytes(f.Data)})
	if err != nil {
		return false, err
	}
	if err := res.Err(h, "install "+f.Path); err != nil {
		return false, err
	}
	switch strings.TrimSpace(string(res.Stdout)) {
	case installChanged:
		return true, nil
	case installUnchanged:
		return false, nil
	}
	return false, fmt.Errorf("%s: install %s: unexpected output %q", h.Name(), f.Path, res.Stdout)
}

// ReadFile returns a file's content; exists is false when it is absent.
func ReadFile(ctx context.Context, h Host, path string, sudo bool) (data []byte, exists bool, err error) {
	cmd := fmt.Sprintf("if [ -e %[1]s ]; then cat %[1]s; else exit 44; fi", Quote(path))
	res, err := h.Run(ctx, cmd, RunOptions{Sudo: sudo})
	if err != nil {
		return nil, false, err
	}
	if res.ExitCode == 44 {
		return nil, false, nil
	}
	if err := res.Err(h, "read "+path); err != nil {
		return nil, false, err
	}
	return res.Stdout, true, nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
