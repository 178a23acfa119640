package cluster

import (
	"errors"
	"os"
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
