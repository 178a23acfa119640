package cluster

import (
	"errors"
	"strings"
	"testing"
)

// base is a valid 3-node inventory that tests extend.
const base = `[cluster]
name = "t"

[server.auth]
user = "app"
password = '$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.'

[[node]]
name = "a"
host = "10.0.0.1"

[[node]]
name = "b"
host = "10.0.0.2"

[[node]]
name = "c"
host = "10.0.0.3"
`

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

func buildAll(t testing.TB, inv *Inventory, env map[string]string) *Result {
	t.Helper()
	ts, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Build(ts, inv.Nodes, mapEnv(env))
}

func mapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func hasRule(fs []Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}
