package remote

import (
	"context"
	"encoding/base64"
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

// ScriptHeader starts a script that installs files with InstallSteps: it
// stops at the first failure and removes any temp file left behind.
const ScriptHeader = "set -eu\nnatsops_tmps=\nnatsops_clean() { for t in $natsops_tmps; do rm -f \"$t\"; done; }\ntrap natsops_clean EXIT\n"

// InstallSteps returns shell that installs f, reading its content from the
// shell command src, and sets the shell variable result to 1 when the file
// changed, 0 when it was already equal. It writes a temp file in the
// target's directory, fsyncs it, sets mode and owner, validates it, keeps
// a backup of the old file and renames it into place: an interrupted run
// leaves the old file whole, and an equal file is not rewritten (only its
// mode and owner fixed). Use after ScriptHeader.
func InstallSteps(f File, src, result string) string {
	var b strings.Builder
	mode := fmt.Sprintf("%04o", f.Mode&0o7777)
	fmt.Fprintf(&b, "p=%s\nd=$(dirname \"$p\")\nmkdir -p \"$d\"\n", Quote(f.Path))
	b.WriteString("tmp=$(mktemp \"$d/.natsops.XXXXXX\")\nnatsops_tmps=\"$natsops_tmps $tmp\"\n")
	fmt.Fprintf(&b, "%s > \"$tmp\"\nchmod %s \"$tmp\"\n", src, mode)
	if f.Owner != "" {
		fmt.Fprintf(&b, "chown %s \"$tmp\"\n", Quote(f.Owner))
	}
	b.WriteString("if [ -f \"$p\" ] && cmp -s \"$tmp\" \"$p\"; then\n")
	fmt.Fprintf(&b, "  rm -f \"$tmp\"\n  chmod %s \"$p\"\n", mode)
	if f.Owner != "" {
		fmt.Fprintf(&b, "  chown %s \"$p\"\n", Quote(f.Owner))
	}
	fmt.Fprintf(&b, "  %s=0\nelse\n", result)
	if f.Validate != "" {
		fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(f.Validate, "{}", "\"$tmp\""))
	}
	b.WriteString("  sync \"$tmp\" 2>/dev/null || sync\n")
	// The backup keeps the old content (and its secrets) readable by root
	// only, whatever the old file's mode was.
	fmt.Fprintf(&b, "  if [ -f \"$p\" ]; then (umask 077; cp \"$p\" \"$p%[1]s.tmp\") && chmod 600 \"$p%[1]s.tmp\" && mv -f \"$p%[1]s.tmp\" \"$p%[1]s\"; fi\n", BackupSuffix)
	b.WriteString("  mv -f \"$tmp\" \"$p\"\n  sync \"$d\" 2>/dev/null || true\n")
	fmt.Fprintf(&b, "  %s=1\nfi\n", result)
	return b.String()
}

// Embedded returns a shell source command that prints data, for
// InstallSteps in a script that carries its files inline (small files: a
// command line is limited to about 128KB).
func Embedded(data []byte) string {
	return "printf %s " + Quote(base64.StdEncoding.EncodeToString(data)) + " | base64 -d"
}

func installScript(f File) string {
	return ScriptHeader + InstallSteps(f, "cat", "r") +
		fmt.Sprintf("if [ \"$r\" = 1 ]; then echo %s; else echo %s; fi\n", installChanged, installUnchanged)
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

// RestoreBackup puts back the previous version Install kept of path,
// atomically (a temp file in the same directory renamed over it) and with
// the mode and owner path has now (the backup itself is root's, 0600).
func RestoreBackup(ctx context.Context, h Host, path string, sudo bool) error {
	script := ScriptHeader + fmt.Sprintf(`p=%s
b="$p%s"
[ -f "$b" ] || { echo "no backup $b to restore" >&2; exit 1; }
d=$(dirname "$p")
tmp=$(mktemp "$d/.natsops.XXXXXX")
natsops_tmps="$natsops_tmps $tmp"
cat "$b" > "$tmp"
if [ -e "$p" ]; then chmod --reference="$p" "$tmp"; chown --reference="$p" "$tmp" 2>/dev/null || true; fi
sync "$tmp" 2>/dev/null || sync
mv -f "$tmp" "$p"
sync "$d" 2>/dev/null || true
`, Quote(path), BackupSuffix)
	res, err := h.Run(ctx, script, RunOptions{Sudo: sudo})
	if err != nil {
		return err
	}
	return res.Err(h, "restore "+path+BackupSuffix)
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
