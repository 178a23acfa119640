//go:build unix

package provision

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadSourcesFIFO: a FIFO as binary_source (which would block the
// read) is refused at once, before anything is read.
func TestLoadSourcesFIFO(t *testing.T) {
	inv, _ := inventory(t, binaryInv, fakeBinary("2.15.2"))
	path := filepath.Join(inv.Dir, "nats-server")
	if err := syscall.Unlink(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSources(inv, inv.Nodes); err == nil || !strings.Contains(err.Error(), "not a regular file (a named pipe)") {
		t.Errorf("FIFO source: %v", err)
	}
}
