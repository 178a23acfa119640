package cluster

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// base is a valid 3-node inventory that tests extend (shared with other
// packages' tests through internal/testinv).
var base = func() string {
	b, err := os.ReadFile("../../internal/testinv/base.toml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// estate is the estate other packages' tests share (testinv.Estate: hubs
// east and west joined by gateways, a leaf cluster edge, accounts), with
// a second west node w2 on the default gateway port, as
// testinv.WithNode(testinv.Estate, "west", "w2", "10.0.2.2") has it.
var estate = func() string {
	b, err := os.ReadFile("../../internal/testinv/estate.toml")
	if err != nil {
		panic(err)
	}
	return strings.Replace(string(b), "port = 7333\n", "port = 7333\n[[clusters.node]]\nname = \"w2\"\nhost = \"10.0.2.2\"\n", 1)
}()

func mustParse(t testing.TB, src string) *Inventory {
	t.Helper()
	inv, err := Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n--- inventory:\n%s", err, src)
	}
	return inv
}

func problems(t testing.TB, src string) []Problem {
	t.Helper()
	_, err := Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	var ie *InventoryError
	if !errors.As(err, &ie) {
		t.Fatalf("Parse error is %T, not *InventoryError: %v", err, err)
	}
	return ie.Problems
}
