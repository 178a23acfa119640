// Package docs holds the tests of the documentation itself: the command
// reference under docs/cli is what the command tree generates, every
// relative link of the README and docs/ leads somewhere, and every
// natsops command the README, docs/ and the example inventories show runs
// as written. It builds the natsops binary once (go build, as the release
// and `go run` do) and runs it; it imports nothing of natsops, so it
// holds whatever shape the command layer takes.
package docs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repo is the repository root, seen from this package's directory.
const repo = ".."

// regenerate is how docs/cli is brought up to date.
const regenerate = "go run ./cmd/natsops gendocs --markdown docs/cli"

// natsopsBin is the binary TestMain built from ./cmd/natsops.
var natsopsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natsops-docs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	natsopsBin = filepath.Join(dir, "natsops")
	build := exec.Command("go", "build", "-o", natsopsBin, "./cmd/natsops")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/natsops: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is this process's environment without what changes natsops's
// defaults or output (NATSOPS_INVENTORY is the -i default the pages show),
// or points it at this user's files (HOME, XDG_*: contexts, the audit
// log), with home as HOME and tmp as TMPDIR.
func cleanEnv(home, tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "NATSOPS_"), strings.HasPrefix(name, "XDG_"), strings.HasPrefix(name, "NATS_"),
			name == "HOME", name == "TMPDIR", name == "NO_COLOR", name == "SSH_AUTH_SOCK", name == "SOURCE_DATE_EPOCH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "TMPDIR="+tmp, "NO_COLOR=1")
}

// TestCLIReferenceIsCurrent: docs/cli holds exactly the pages the current
// command tree generates, byte for byte, so a flag or help text changed
// without regenerating the reference fails here.
func TestCLIReferenceIsCurrent(t *testing.T) {
	gen := t.TempDir()
	cmd := exec.Command(natsopsBin, "gendocs", "--markdown", gen)
	cmd.Env = cleanEnv(t.TempDir(), t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("natsops gendocs --markdown: %v\n%s", err, out)
	}
	want := mdFiles(t, gen)
	have := mdFiles(t, filepath.Join(repo, "docs", "cli"))
	if len(want) == 0 {
		t.Fatal("natsops gendocs --markdown wrote no page")
	}
	var stale []string
	for name, w := range want {
		h, ok := have[name]
		switch {
		case !ok:
			stale = append(stale, "docs/cli/"+name+" is missing")
		case !bytes.Equal(h, w):
			stale = append(stale, "docs/cli/"+name+" differs at: "+firstDiff(h, w))
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			stale = append(stale, "docs/cli/"+name+" is not a page of any command")
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		hint := ""
		if v, ok := os.LookupEnv("NATSOPS_INVENTORY"); ok && v != "" {
			hint = " (with NATSOPS_INVENTORY unset: it changes the -i default the pages show)"
		}
		t.Errorf("the command reference is not what the command tree generates; regenerate it%s:\n    %s\nand commit docs/cli.\n%s",
			hint, regenerate, strings.Join(stale, "\n"))
	}
}

func mdFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// firstDiff names the first line where have and want differ.
func firstDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl {
			return fmt.Sprintf("line %d: checked in %q, generated %q", i+1, hl, wl)
		}
	}
	return "(same lines)"
}

// TestLinksResolve: every relative link of the README and docs/ (the
// generated reference included) leads to a file of the repository, and a
// #fragment into a Markdown page to one of its headings.
func TestLinksResolve(t *testing.T) {
	pages := []string{"README.md"}
	for _, glob := range []string{"docs/*.md", "docs/cli/*.md"} {
		m, err := filepath.Glob(filepath.Join(repo, glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(repo, p)
			pages = append(pages, rel)
		}
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, page := range pages {
		text := read(t, page)
		for _, m := range link.FindAllStringSubmatch(stripCode(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(page), file))
			}
			if _, err := os.Stat(filepath.Join(repo, dest)); err != nil {
				t.Errorf("%s links %s: %s does not exist", page, target, dest)
				continue
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchors(read(t, dest))[frag] {
				t.Errorf("%s links %s: %s has no heading #%s", page, target, dest, frag)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found in the README or docs/")
	}
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stripCode blanks fenced code blocks: text in them is not a link.
func stripCode(md string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(l)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// anchors are the fragments GitHub gives a page's headings: lower case,
// punctuation dropped, spaces as hyphens.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, l := range strings.Split(stripCode(md), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		h = drop.ReplaceAllString(strings.ToLower(h), "")
		out[strings.ReplaceAll(h, " ", "-")] = true
	}
	return out
}

// A shownLine is a command line as a page or an example inventory shows
// it: comments stripped, continuation lines joined by one space.
type shownLine struct {
	file  string
	line  int
	text  string
	block int // lines of one code block or comment block share it, in order
}

// docFiles are the files whose command lines must run: the README, the
// topic pages (not docs/cli: generated from --help, whose examples use
// placeholders), the example inventories and the examples.
func docFiles(t *testing.T) []string {
	files := []string{"README.md"}
	for _, glob := range []string{"docs/*.md", "inventory/*.toml", "examples/*/*"} {
		m, err := filepath.Glob(filepath.Join(repo, glob))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(m)
		for _, p := range m {
			rel, _ := filepath.Rel(repo, p)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	return files
}

// shellBlock is a fenced block that holds shell commands.
var shellBlock = regexp.MustCompile("^```(sh|shell|bash|console)\\s*$")

// commentCommand is a whole-line comment indented by two or more spaces
// after the #: how the example inventories show a command.
var commentCommand = regexp.MustCompile(`^\s*#\s{2,}(\S.*)$`)

// extract finds the lines of a file that invoke natsops.
func extract(file, text string, block *int) []shownLine {
	var out []shownLine
	var cur []string
	start := 0
	flush := func() {
		*block++
		out = append(out, commands(file, start, cur, *block)...)
		cur = nil
	}
	lines := strings.Split(text, "\n")
	if strings.HasSuffix(file, ".md") {
		in := false
		for i, l := range lines {
			tl := strings.TrimSpace(l)
			switch {
			case !in && shellBlock.MatchString(tl):
				in, start = true, i+2
			case in && tl == "```":
				in = false
				flush()
			case in:
				cur = append(cur, tl)
			}
		}
		return out
	}
	for i, l := range lines {
		m := commentCommand.FindStringSubmatch(l)
		if m == nil {
			if cur != nil {
				flush()
			}
			continue
		}
		if cur == nil {
			start = i + 1
		}
		cur = append(cur, m[1])
	}
	if cur != nil {
		flush()
	}
	return out
}

// commands joins a block's continuation lines (a trailing \, |, && or
// ||) and keeps the logical lines that invoke natsops.
func commands(file string, first int, lines []string, block int) []shownLine {
	var out []shownLine
	var acc []string
	at := first
	for i, l := range lines {
		if len(acc) == 0 {
			at = first + i
		}
		l = strings.TrimSpace(stripComment(l))
		cont := false
		if strings.HasSuffix(l, `\`) {
			l, cont = strings.TrimSpace(strings.TrimSuffix(l, `\`)), true
		} else if strings.HasSuffix(l, "|") || strings.HasSuffix(l, "&&") || strings.HasSuffix(l, "||") {
			cont = true
		}
		if l != "" {
			acc = append(acc, l)
		}
		if cont {
			continue
		}
		if text := strings.Join(acc, " "); len(invocations(text)) > 0 {
			out = append(out, shownLine{file: file, line: at, text: text, block: block})
		}
		acc = nil
	}
	return out
}

// stripComment drops a shell comment: a # at the start or after a blank,
// outside quotes.
func stripComment(l string) string {
	var q rune
	for i, r := range l {
		switch {
		case q != 0:
			if r == q {
				q = 0
			}
		case r == '\'' || r == '"':
			q = r
		case r == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

// words splits a shell line into words, honouring quotes, with the
// operators | || && ; as words of their own.
func words(s string) []string {
	var out []string
	var w strings.Builder
	var q rune
	inWord := false
	end := func() {
		if inWord {
			out = append(out, w.String())
			w.Reset()
			inWord = false
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case q != 0:
			if r == q {
				q = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			q, inWord = r, true
		case r == ' ' || r == '\t':
			end()
		case r == '|' || r == '&' || r == ';':
			end()
			op := string(r)
			if i+1 < len(rs) && (r == '|' || r == '&') && rs[i+1] == r {
				op += string(r)
				i++
			}
			out = append(out, op)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	end()
	return out
}

// invocations are the natsops commands of a line, each its arguments:
// a simple command whose first word (after VAR=value assignments) is
// natsops, a path ending in /natsops, or `go run ./cmd/natsops`.
func invocations(line string) [][]string {
	var out [][]string
	var cmd []string
	flush := func() {
		for len(cmd) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(cmd[0]) {
			cmd = cmd[1:]
		}
		switch {
		case len(cmd) > 0 && (cmd[0] == "natsops" || strings.HasSuffix(cmd[0], "/natsops")):
			out = append(out, cmd[1:])
		case len(cmd) > 2 && cmd[0] == "go" && cmd[1] == "run" && cmd[2] == "./cmd/natsops":
			out = append(out, cmd[3:])
		}
		cmd = nil
	}
	for _, w := range words(line) {
		switch w {
		case "|", "||", "&&", ";", "&":
			flush()
		default:
			cmd = append(cmd, w)
		}
	}
	flush()
	return out
}

// How a shown command is run.
type runKind int

const (
	// local: no host needed. Run as written by sh -c in a fresh
	// directory per block holding copies of inventory/ and examples/
	// (the paths the lines name), with natsops on PATH; `go run
	// ./cmd/natsops` is the binary built from that package.
	local runKind = iota
	// keep: the line that starts the kept demo cluster every cluster
	// line runs against; run once, first.
	keep
	// cluster: run as written in the kept demo's directory, whose
	// natsops.toml (the default inventory) is the demo's.
	cluster
	// e2e: needs real SSH hosts; each natsops invocation of the line
	// must be run, with these arguments, by the named function of an
	// end-to-end test (the testbed, make e2e).
	e2e
	// script: a line of the named script of make test, verbatim.
	script
)

// A shown command, and what running it must give.
type shown struct {
	run   runKind
	code  int      // exit code
	env   []string // what the text around it says to set
	stdin string   // what the operator types
	out   string   // stdout holds it
	// replace: the operator's own paths, as a test can have them.
	replace [][2]string
	// file, fileHas: a file (relative to the directory it ran in) that
	// must hold fileHas afterwards.
	file, fileHas string
	// where: e2e, "FILE FUNC" per invocation; script, the file.
	where []string
}

// superclusterEnv is what inventory/supercluster.toml and docs/estates.md
// say to export: its four env: passwords.
var superclusterEnv = []string{"NATS_ROUTE_PASSWORD=route-secret-1234", "NATS_GATEWAY_PASSWORD=gateway-secret-1234", "NATS_SYS_PASSWORD=sys-secret-1234", "NATS_LEAF_PASSWORD=leaf-secret-1234"}

// shownCommands: every command line the docs show, and how it runs. A
// line shown in several places is run in each (in its block's order).
var shownCommands = map[string]shown{
	// Quickstart and install (README).
	"go run ./cmd/natsops demo":                                                    {run: local, out: "0 lost"},
	"go run ./cmd/natsops validate -i inventory/example.toml":                      {run: local, out: "example.toml: valid, 3 nodes"},
	"go run ./cmd/natsops render -i inventory/example.toml --limit nats-1 --out -": {run: local, out: "<secret>"},
	"go run ./cmd/natsops render -i inventory/example.toml --out build/":           {run: local, file: "build/nats-1.conf", fileHas: "max_connections"},
	"go run ./cmd/natsops init":                                                    {run: local, file: "natsops.toml", fileHas: "[[node]]"},
	"natsops version":                                                              {run: local, out: "natsops "},
	"natsops validate -i /usr/share/doc/natsops/examples/example.toml":             {run: script, where: []string{"scripts/pkgtest-container.sh"}},

	// docs/inventory.md
	"natsops init":                                        {run: local, file: "natsops.toml", fileHas: "[[node]]"},
	"natsops validate":                                    {run: local, out: "natsops.toml: valid"},
	"natsops render --out build/":                         {run: local, file: "build/nats-1.conf", fileHas: "max_connections"},
	"natsops validate --rules":                            {run: local, out: "L001"},
	"natsops hash-password":                               {run: local, stdin: "correct horse battery staple\n", out: "$2"},
	`printf '%s' "$APP_PASSWORD" | natsops hash-password`: {run: local, env: []string{"APP_PASSWORD=correct horse battery staple"}, out: "$2"},

	// docs/provisioning.md: the CI recipe needs bare hosts; the testbed
	// runs each step (e2e/provision_test.go).
	"natsops provision --yes && natsops tune --yes && natsops deploy --yes && natsops check": {run: e2e, where: []string{
		"e2e/provision_test.go provisionTimed", "e2e/provision_test.go TestProvisionPackage",
		"e2e/provision_test.go deployFromBare", "e2e/provision_test.go deployFromBare"}},

	// docs/rollouts.md, docs/natscli.md, docs/capacity.md, docs/incidents.md:
	// against the kept demo.
	"natsops demo --keep":                              {run: keep, out: "the cluster keeps running"},
	"natsops restart --dry-run":                        {run: cluster, out: "n1"},
	"natsops restart --stop-after 1 --yes":             {run: cluster, out: "stopped after 1"},
	"natsops restart --yes":                            {run: cluster, out: "resum"},
	"natsops deploy --check":                           {run: cluster},
	"natsops history --limit 2":                        {run: cluster, out: "restart"},
	"natsops contexts":                                 {run: cluster, out: "local"},
	"natsops contexts --write":                         {run: cluster, out: "local.json"},
	"natsops contexts --user app --suffix app --write": {run: cluster, out: "local-app"},
	"natsops status":                                   {run: cluster, out: "n3"},
	"natsops status --monitor-only":                    {run: cluster, out: "monitor-only"},
	"natsops check":                                    {run: cluster, out: "OK"},
	"natsops check --format nagios":                    {run: cluster, out: "max_connections_used="},
	"natsops bench connections --limit n1 --target 2000 --step 1000 --hold 1s": {run: cluster, out: "target reached: 2000 connections held"},
	"natsops restart --node n2 --force --yes":                                  {run: cluster, out: "n2"},
	"natsops restart --node n2 --allow-unavailable --yes":                      {run: cluster, out: "n2"},
	"natsops diff":                       {run: cluster},
	"natsops history":                    {run: cluster, out: "restart"},
	"natsops history --node n2":          {run: cluster, out: "restart"},
	"natsops rebalance --dry-run":        {run: cluster, out: "rebalance"},
	"natsops rebalance --yes":            {run: cluster, out: "rebalance"},
	"natsops step-down --to n2 --yes":    {run: cluster, out: "to n2"},
	"natsops evacuate --node n1 --yes":   {run: cluster, code: 3},
	"natsops provision --limit n3 --yes": {run: e2e, where: []string{"e2e/ops_test.go TestReplaceDeadNode"}},
	"natsops tune --limit n3 --yes":      {run: e2e, where: []string{"e2e/ops_test.go TestReplaceDeadNode"}},
	"natsops replace --node n3 --yes":    {run: e2e, where: []string{"e2e/ops_test.go TestReplaceDeadNode"}},
	"natsops deploy --timeout 10m --yes": {run: e2e, where: []string{"e2e/ops_test.go TestReplaceDeadNode"}},
	"natsops rescue --lost n2,n3 --yes":  {run: e2e, where: []string{"e2e/ops_test.go TestRescueLostQuorum"}},
	// docs/incidents.md: a dead run's lock needs a natsops killed with
	// SIGKILL while it holds one (e2e/locks_test.go).
	"natsops deploy --break-lock --yes": {run: e2e, where: []string{"e2e/locks_test.go TestDeployBreaksADeadLock"}},

	// docs/prometheus.md: the cron line, with the operator's inventory
	// and node_exporter's directory as the demo has them.
	"natsops check -i /etc/natsops/natsops.toml --format prometheus > /var/lib/node_exporter/textfile/natsops.prom.tmp; mv /var/lib/node_exporter/textfile/natsops.prom.tmp /var/lib/node_exporter/textfile/natsops.prom": {
		run: cluster, replace: [][2]string{{"/etc/natsops/natsops.toml", "natsops.toml"}, {"/var/lib/node_exporter/textfile/", "textfile/"}},
		file: "textfile/natsops.prom", fileHas: "natsops_check_status 0"},

	// docs/ansible.md, examples/ansible: ansible-inventory is, on PATH,
	// the committed output of Debian's ansible-core 2.14 for exactly
	// that command (pkg/ansible/testdata/hosts.json); make ansible runs
	// the real one.
	"ansible-inventory -i examples/ansible/hosts.ini --list | natsops inventory import --ansible - --group nats --out natsops.toml": {run: local, file: "natsops.toml", fileHas: "nats-a1"},
	"natsops validate -i natsops.toml": {run: local, out: "natsops.toml: valid"},

	// docs/estates.md, inventory/*.toml
	"natsops validate -i inventory/supercluster.toml":                      {run: local, env: superclusterEnv, out: "valid, 7 nodes"},
	"natsops validate -i inventory/supercluster.toml --cluster east":       {run: local, env: superclusterEnv, out: "valid, 3 nodes"},
	"natsops render -i inventory/supercluster.toml --out build/":           {run: local, env: superclusterEnv, file: "build/edge-1.conf", fileHas: "leafnodes"},
	"natsops render -i inventory/supercluster.toml --cluster edge --out -": {run: local, env: superclusterEnv, out: "<secret>"},
	"natsops validate -i inventory/example.toml":                           {run: local, out: "valid, 3 nodes"},
	"natsops render -i inventory/example.toml --out build/":                {run: local, file: "build/nats-1.conf", fileHas: "max_connections"},
	"natsops validate -i inventory/local.toml":                             {run: local, out: "valid, 3 nodes"},
	"natsops render -i inventory/local.toml --out build/local/":            {run: local, file: "build/local/n1.conf", fileHas: "jetstream"},
	"natsops demo --supercluster":                                          {run: local, out: "7 nodes of 7"},
}

// TestShownCommandsRun: every natsops command line of the README, docs/
// and the example inventories is in shownCommands, and runs as it says:
// the exit code, and what it prints or writes. A new line the table does
// not know fails, naming its file and line; so does an entry no page
// shows any more.
func TestShownCommandsRun(t *testing.T) {
	var all []shownLine
	block := 0
	for _, f := range docFiles(t) {
		all = append(all, extract(f, read(t, f), &block)...)
	}
	used := map[string]bool{}
	for _, l := range all {
		if _, ok := shownCommands[l.text]; !ok {
			t.Errorf("%s:%d shows a command this test does not know how to run; add it to shownCommands:\n    %s", l.file, l.line, l.text)
		}
		used[l.text] = true
	}
	for text := range shownCommands {
		if !used[text] {
			t.Errorf("shownCommands has %q, which no page shows any more: remove it", text)
		}
	}
	if t.Failed() {
		return
	}

	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	home := filepath.Join(work, "home")
	tmp := filepath.Join(work, "tmp")
	for _, d := range []string{bin, home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(natsopsBin, filepath.Join(bin, "natsops")); err != nil {
		t.Fatal(err)
	}
	hostsJSON, err := filepath.Abs(filepath.Join(repo, "pkg/ansible/testdata/hosts.json"))
	if err != nil {
		t.Fatal(err)
	}
	standIn := "#!/bin/sh\n" +
		"[ \"$*\" = \"-i examples/ansible/hosts.ini --list\" ] || { echo \"ansible-inventory stand-in: only -i examples/ansible/hosts.ini --list, not $*\" >&2; exit 2; }\n" +
		"exec cat " + hostsJSON + "\n"
	if err := os.WriteFile(filepath.Join(bin, "ansible-inventory"), []byte(standIn), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(home, tmp), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	// Static checks first: they need nothing running.
	for _, l := range all {
		s := shownCommands[l.text]
		switch s.run {
		case e2e:
			checkE2E(t, l, s)
		case script:
			checkScript(t, l, s)
		}
	}

	// The kept demo cluster: the first keep line, as written.
	var demoDir string
	for _, l := range all {
		if shownCommands[l.text].run != keep {
			continue
		}
		keepTmp := filepath.Join(work, "keep")
		if err := os.MkdirAll(keepTmp, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			dirs, _ := filepath.Glob(filepath.Join(keepTmp, "natsops-demo-*"))
			for _, d := range dirs {
				if out, err := exec.Command(natsopsBin, "demo", "--stop", d).CombinedOutput(); err != nil {
					t.Errorf("natsops demo --stop %s: %v\n%s", d, err, out)
				}
			}
		})
		kenv := append(cleanEnv(home, keepTmp), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		runShown(t, l, shownCommands[l.text], t.TempDir(), kenv)
		dirs, _ := filepath.Glob(filepath.Join(keepTmp, "natsops-demo-*"))
		if len(dirs) != 1 {
			t.Fatalf("%s:%d %s left %d demo directories in its TMPDIR, want 1: %v", l.file, l.line, l.text, len(dirs), dirs)
		}
		demoDir = dirs[0]
		if _, err := os.Stat(filepath.Join(demoDir, "natsops.toml")); err != nil {
			t.Fatalf("the kept demo has no natsops.toml: %v", err)
		}
		break
	}

	// Every line in its block's order.
	dirs := map[int]string{}
	for _, l := range all {
		s := shownCommands[l.text]
		switch s.run {
		case local:
			d, ok := dirs[l.block]
			if !ok {
				d = t.TempDir()
				for _, sub := range []string{"inventory", "examples"} {
					copyTree(t, filepath.Join(repo, sub), filepath.Join(d, sub))
				}
				dirs[l.block] = d
			}
			runShown(t, l, s, d, env)
		case cluster:
			if demoDir == "" {
				t.Errorf("%s:%d %s needs the kept demo cluster, and no page shows the line that starts it", l.file, l.line, l.text)
				continue
			}
			runShown(t, l, s, demoDir, env)
		}
	}
}

// runShown runs one line as written (sh -c) in dir and checks its exit
// code, output and file.
func runShown(t *testing.T, l shownLine, s shown, dir string, env []string) {
	t.Helper()
	text := strings.ReplaceAll(l.text, "go run ./cmd/natsops ", natsopsBin+" ")
	for _, r := range s.replace {
		text = strings.ReplaceAll(text, r[0], r[1])
	}
	if s.file != "" {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(s.file)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", text)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, env...), s.env...)
	cmd.Stdin = strings.NewReader(s.stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	t.Logf("%s:%d %s: exit %d in %.1fs", l.file, l.line, l.text, code, time.Since(start).Seconds())
	if err != nil && code < 0 {
		t.Errorf("%s:%d %s: %v", l.file, l.line, l.text, err)
		return
	}
	if code != s.code {
		t.Errorf("%s:%d %s: exit %d, want %d\n--- stdout:\n%s--- stderr:\n%s", l.file, l.line, l.text, code, s.code, tail(stdout.String()), tail(stderr.String()))
		return
	}
	if s.out != "" && !strings.Contains(stdout.String(), s.out) {
		t.Errorf("%s:%d %s: stdout lacks %q\n--- stdout:\n%s--- stderr:\n%s", l.file, l.line, l.text, s.out, tail(stdout.String()), tail(stderr.String()))
	}
	if s.file != "" {
		b, err := os.ReadFile(filepath.Join(dir, s.file))
		if err != nil || !strings.Contains(string(b), s.fileHas) {
			t.Errorf("%s:%d %s: %s should hold %q: %v\n%s", l.file, l.line, l.text, s.file, s.fileHas, err, tail(string(b)))
		}
	}
}

func tail(s string) string {
	const max = 3000
	if len(s) > max {
		s = "...\n" + s[len(s)-max:]
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// checkE2E: each natsops invocation of the line is run, with the same
// arguments as Go string literals in sequence, by the function the table
// names.
func checkE2E(t *testing.T, l shownLine, s shown) {
	t.Helper()
	invs := invocations(l.text)
	if len(invs) != len(s.where) {
		t.Errorf("%s:%d %s: %d natsops invocations, the table names %d e2e functions", l.file, l.line, l.text, len(invs), len(s.where))
		return
	}
	for i, args := range invs {
		file, fn, _ := strings.Cut(s.where[i], " ")
		body := funcBody(read(t, file), fn)
		if body == "" {
			t.Errorf("%s:%d %s: %s has no func %s", l.file, l.line, l.text, file, fn)
			continue
		}
		quoted := make([]string, len(args))
		for j, a := range args {
			quoted[j] = fmt.Sprintf("%q", a)
		}
		if seq := strings.Join(quoted, ", "); !strings.Contains(body, seq) {
			t.Errorf("%s:%d %s: %s %s does not run natsops %s (no %s in it)", l.file, l.line, l.text, file, fn, strings.Join(args, " "), seq)
		}
	}
}

// funcBody is the text of func name up to the next top-level func.
func funcBody(src, name string) string {
	i := strings.Index(src, "\nfunc "+name+"(")
	if i < 0 {
		return ""
	}
	rest := src[i+1:]
	if j := strings.Index(rest, "\nfunc "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// checkScript: the named script of make test has the line, verbatim.
func checkScript(t *testing.T, l shownLine, s shown) {
	t.Helper()
	for _, f := range s.where {
		for _, line := range strings.Split(read(t, f), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), l.text); ok && (rest == "" || rest[0] == ' ') {
				return
			}
		}
	}
	t.Errorf("%s:%d %s: no line of %s runs it as written", l.file, l.line, l.text, strings.Join(s.where, ", "))
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
