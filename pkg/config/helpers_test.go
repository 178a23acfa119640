package config

import (
	"strings"
	"testing"

	"github.com/natsops/natsops/internal/testinv"
	"github.com/natsops/natsops/pkg/cluster"
)

var base = testinv.Base

func mustParse(t testing.TB, src string) *cluster.Inventory { return testinv.MustParse(t, src) }

func buildAll(t testing.TB, inv *cluster.Inventory, env map[string]string) *Result {
	t.Helper()
	ts, err := LoadTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Build(inv, ts, inv.Nodes, cluster.MapEnv(env))
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
