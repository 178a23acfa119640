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

// Estate is a valid estate that tests break or extend: hubs east (e1,
// e2; leaf node port 7422) and west (w1, on gateway port 7333) joined by
// gateways (port 7222, user gw), and a leaf cluster edge (x1) dialling
// east as user "leaf", bound to account APP. Accounts APP (exports
// events.>), SHOP (imports events.orders from APP) and SYS (the system
// account). Every secret is an env: reference (GW, APP, SHOP, SYS,
// LEAF). pkg/cluster's own tests read the same file (estate.toml).
//
//go:embed estate.toml
var Estate string

// WithNode is src, an estate, with one more node in its cluster named
// cluster: name at host, after that cluster's other nodes.
func WithNode(src, cluster, name, host string) string {
	node := "[[clusters.node]]\nname = \"" + name + "\"\nhost = \"" + host + "\"\n"
	at := strings.Index(src, "[[clusters]]\nname = \""+cluster+"\"\n")
	if at < 0 {
		panic("testinv.WithNode: no cluster " + cluster)
	}
	if next := strings.Index(src[at+1:], "\n[[clusters]]"); next >= 0 {
		at += 1 + next + 1
		return src[:at] + node + src[at:]
	}
	return strings.TrimRight(src, "\n") + "\n" + node
}

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
