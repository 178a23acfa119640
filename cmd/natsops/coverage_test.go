package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	rootcmd "github.com/natsops/natsops/internal/cmd/root"
	"github.com/natsops/natsops/internal/cmdutil"
)

// testSources are the files that run natsops through its CLI: the
// testscript scripts, this package's tests and the end-to-end tests.
func testSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, glob := range []string{"testdata/script/*.txtar", "*_test.go", "../../e2e/*_test.go"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if filepath.Base(f) == "coverage_test.go" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = string(b)
		}
	}
	return out
}

// runs reports whether a source runs command name: `natsops NAME` in a
// script, or "NAME" as an argument in Go.
func runs(src, name string) bool {
	return regexp.MustCompile(`natsops (-[^\n]* )?` + name + `\b|"` + name + `"`).MatchString(src)
}

// TestEveryCommandAndFlagIsRun: every command of the README's table and
// every flag of every command is run through the CLI by some test (a
// command nobody ran is how diff shipped broken). A new command or flag
// without a test fails here, naming it.
func TestEveryCommandAndFlagIsRun(t *testing.T) {
	srcs := testSources(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `natsops ([a-z-]+)").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	root := rootcmd.NewCmd(cmdutil.NewFactory(testSystem(nil, nil, false), cmdutil.Link{}))
	var missing []string
	check := func(cmd *cobra.Command) {
		name := cmd.Name()
		var using []string
		for f, src := range srcs {
			if runs(src, name) {
				using = append(using, f)
			}
		}
		if len(using) == 0 {
			missing = append(missing, "natsops "+name)
			return
		}
		cmd.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
			if fl.Name == "help" {
				return
			}
			for _, f := range using {
				if strings.Contains(srcs[f], "--"+fl.Name) || strings.Contains(srcs[f], `"--`+fl.Name) {
					return
				}
			}
			missing = append(missing, "natsops "+name+" --"+fl.Name)
		})
	}
	for _, cmd := range root.Commands() {
		if cmd.Hidden || cmd.Name() == "help" {
			continue
		}
		if cmd.Name() != "completion" && !documented[cmd.Name()] {
			t.Errorf("natsops %s is not in the README's command table", cmd.Name())
		}
		check(cmd)
	}
	root.PersistentFlags().VisitAll(func(fl *pflag.Flag) {
		for _, src := range srcs {
			if strings.Contains(src, "--"+fl.Name) || (fl.Shorthand != "" && strings.Contains(src, " -"+fl.Shorthand+" ")) {
				return
			}
		}
		missing = append(missing, "the global --"+fl.Name)
	})
	for c := range documented {
		if sub, _, err := root.Find([]string{c}); err != nil || sub == root {
			t.Errorf("the README's table names natsops %s, which does not exist", c)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no test runs %s through the CLI", m)
	}
}
