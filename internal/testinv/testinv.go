// Package testinv holds the inventories that tests of several packages
// build on, so each package's tests start from the same valid cluster.
package testinv

import (
	_ "embed"
	"strings"
	"testing"

	"github.com/natsops/natsops/pkg/cluster"
)

// Base is a valid 3-node inventory (nodes a, b, c; a bcrypt user) that
// tests extend. pkg/cluster's own tests read the same file (base.toml).
//
//go:embed base.toml
var Base string

// ThreeJS is Base with nodes named n1, n2, n3 and JetStream on.
func ThreeJS() string {
	return strings.NewReplacer(`name = "a"`, `name = "n1"`, `name = "b"`, `name = "n2"`, `name = "c"`, `name = "n3"`).Replace(Base) +
		"\n[jetstream]\nenabled = true\nstore_dir = \"/var/lib/nats\"\n"
}

// MustParse parses src as test.toml or fails the test.
func MustParse(t testing.TB, src string) *cluster.Inventory {
	t.Helper()
	inv, err := cluster.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n--- inventory:\n%s", err, src)
	}
	return inv
}
