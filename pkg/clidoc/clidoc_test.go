package clidoc

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// tree is a small command tree like natsops's: a root with a persistent
// flag, a command with a flag, a nested command and a hidden one.
func tree() *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "A tool"}
	root.PersistentFlags().StringP("inventory", "i", "x.toml", "inventory file")
	deploy := &cobra.Command{Use: "deploy", Short: "Deploy it", Long: "Deploy every node.", Run: func(*cobra.Command, []string) {}}
	deploy.Flags().Bool("check", false, "change nothing")
	bench := &cobra.Command{Use: "bench", Short: "Bench it"}
	bench.AddCommand(&cobra.Command{Use: "pubsub", Short: "Pub and sub", Run: func(*cobra.Command, []string) {}})
	hidden := &cobra.Command{Use: "secret", Short: "Not for users", Hidden: true, Run: func(*cobra.Command, []string) {}}
	root.AddCommand(deploy, bench, hidden)
	return root
}

var date = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func names(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Base(f))
	}
	return out
}

// One page per visible command, named after its path, with the header
// the options give and the command's own text and flags.
func TestWriteManPages(t *testing.T) {
	dir := t.TempDir()
	files, err := Write(tree(), Options{ManDir: dir, Date: date, Source: "tool 1.2.3", Manual: "tool manual"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tool-bench-pubsub.1", "tool-bench.1", "tool-deploy.1", "tool.1"}
	if got := names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages %v, want %v (no page for the hidden command)", got, want)
	}
	page := string(read(t, filepath.Join(dir, "tool-deploy.1")))
	for _, s := range []string{
		`.TH "TOOL-DEPLOY" "1" "Mar 2026" "tool 1.2.3" "tool manual"`,
		"Deploy every node.",
		`\fB--check\fP`,
		`\fB--inventory\fP`, // inherited from the root
		`\fBtool(1)\fP`,     // SEE ALSO its parent
	} {
		if !strings.Contains(page, s) {
			t.Errorf("tool-deploy.1 lacks %q:\n%s", s, page)
		}
	}
	if strings.Contains(page, "Auto generated") {
		t.Errorf("tool-deploy.1 has cobra's footer, dated by the clock:\n%s", page)
	}
}

// Gzipped pages carry no name or time: two builds give the same bytes,
// and the content is the plain page's.
func TestWriteGzipIsReproducible(t *testing.T) {
	plain, a, b := t.TempDir(), t.TempDir(), t.TempDir()
	for _, o := range []Options{{ManDir: plain}, {ManDir: a, Gzip: true}, {ManDir: b, Gzip: true}} {
		o.Date, o.Source = date, "tool 1.2.3"
		if _, err := Write(tree(), o); err != nil {
			t.Fatal(err)
		}
	}
	za, zb := read(t, filepath.Join(a, "tool-deploy.1.gz")), read(t, filepath.Join(b, "tool-deploy.1.gz"))
	if !bytes.Equal(za, zb) {
		t.Error("two gzipped builds of one page differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(za))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, time %v: want none", zr.Name, zr.ModTime)
	}
	if got, want := gunzip(t, za), string(read(t, filepath.Join(plain, "tool-deploy.1"))); got != want {
		t.Errorf("gunzipped page differs from the plain one")
	}
}

// A page of a command that no longer exists, and a plain page beside its
// gzipped successor, are removed; other files are left alone, and no
// temporary file is left.
func TestWriteRemovesStalePages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"tool-gone.1", "tool-deploy.1", "tool.1.gz.bak", "other.1", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Write(tree(), Options{ManDir: dir, Gzip: true, Date: date}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := "notes.txt other.1 tool-bench-pubsub.1.gz tool-bench.1.gz tool-deploy.1.gz tool.1.gz tool.1.gz.bak"
	if strings.Join(got, " ") != want {
		t.Errorf("man dir holds %v, want %s", got, want)
	}
	parent, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range parent {
		if strings.HasPrefix(e.Name(), ".clidoc") {
			t.Errorf("scratch directory %s left behind", e.Name())
		}
	}
}

// The completion scripts are cobra's for the tree, named as the shells
// look them up.
func TestWriteCompletions(t *testing.T) {
	dir := t.TempDir()
	files, err := Write(tree(), Options{CompletionDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(files), " "); got != "_tool tool.bash tool.fish" {
		t.Fatalf("completion files %s", got)
	}
	for file, marker := range map[string]string{
		"tool.bash": "__start_tool",
		"_tool":     "#compdef tool",
		"tool.fish": "complete -c tool",
	} {
		if s := string(read(t, filepath.Join(dir, file))); !strings.Contains(s, marker) {
			t.Errorf("%s lacks %q", file, marker)
		}
	}
}

func TestDateFromEpoch(t *testing.T) {
	d, err := DateFromEpoch("1773489600")
	if err != nil || !d.Equal(date) {
		t.Errorf("DateFromEpoch(1773489600) = %v, %v; want %v", d, err, date)
	}
	for _, bad := range []string{"", "yesterday", "-5", "1.5"} {
		if _, err := DateFromEpoch(bad); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Errorf("DateFromEpoch(%q) = %v, want an error naming SOURCE_DATE_EPOCH", bad, err)
		}
	}
}

// A directory that cannot be written is an error naming it, not a
// partial set of pages.
func TestWriteUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(tree(), Options{ManDir: filepath.Join(file, "man")}); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Write into a path under a file: %v, want an error naming it", err)
	}
}

// One Markdown page per visible command, named after its path with
// underscores, holding the command's text and flags and linking its
// parent and children by file name; no date, so two runs (on any day)
// give the same bytes.
func TestWriteMarkdownPages(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	files, err := Write(tree(), Options{MarkdownDir: a})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tool.md", "tool_bench.md", "tool_bench_pubsub.md", "tool_deploy.md"}
	if got := names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages %v, want %v (no page for the hidden command)", got, want)
	}
	page := string(read(t, filepath.Join(a, "tool_deploy.md")))
	for _, s := range []string{
		"## tool deploy",
		"Deploy every node.",
		"--check",
		"--inventory",     // inherited from the root
		"[tool](tool.md)", // SEE ALSO its parent
	} {
		if !strings.Contains(page, s) {
			t.Errorf("tool_deploy.md lacks %q:\n%s", s, page)
		}
	}
	if !strings.Contains(string(read(t, filepath.Join(a, "tool_bench.md"))), "[tool bench pubsub](tool_bench_pubsub.md)") {
		t.Errorf("tool_bench.md does not link its subcommand's page")
	}
	if strings.Contains(page, "Auto generated") {
		t.Errorf("tool_deploy.md has cobra's footer, dated by the clock:\n%s", page)
	}
	if _, err := Write(tree(), Options{MarkdownDir: b}); err != nil {
		t.Fatal(err)
	}
	for _, n := range want {
		if !bytes.Equal(read(t, filepath.Join(a, n)), read(t, filepath.Join(b, n))) {
			t.Errorf("two runs wrote different %s", n)
		}
	}
}

// A Markdown page of a command that no longer exists is removed; other
// files (the directory's own README, another tool's page) are left alone.
func TestWriteMarkdownRemovesStalePages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"tool_gone.md", "tool_deploy.md", "README.md", "other_x.md", "tool_notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Write(tree(), Options{MarkdownDir: dir}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := "README.md other_x.md tool.md tool_bench.md tool_bench_pubsub.md tool_deploy.md tool_notes.txt"
	if strings.Join(got, " ") != want {
		t.Errorf("markdown dir holds %v, want %s", got, want)
	}
	if s := string(read(t, filepath.Join(dir, "tool_deploy.md"))); s == "old" {
		t.Error("tool_deploy.md was not replaced")
	}
}
