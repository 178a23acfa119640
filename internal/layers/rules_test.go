package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// binaryFiles are the non-test Go files of the module's packages the
// natsops binary is built from, by package path.
func binaryFiles(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", module+"cmd/natsops").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || !strings.HasPrefix(f[0], module) {
			continue
		}
		pkg := strings.TrimPrefix(f[0], module)
		for _, name := range strings.Fields(f[2]) {
			files[pkg] = append(files[pkg], filepath.Join(f[1], name))
		}
	}
	if len(files["cmd/natsops"]) == 0 {
		t.Fatalf("go list found no cmd/natsops files:\n%s", out)
	}
	return files
}

// selectors are the pkg.Name uses of an imported package in a file,
// by the import path ("os" -> ["Exit", "Getenv"]).
func selectors(t *testing.T, fset *token.FileSet, path string) (map[string][]string, []string) {
	t.Helper()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // local name -> import path
	var imports []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imports = append(imports, p)
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = p
	}
	uses := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] != "" {
				uses[names[id.Name]] = append(uses[names[id.Name]], sel.Sel.Name)
			}
		}
		return true
	})
	return uses, imports
}

// TestOSExitOnlyInMain: the binary exits in one place, main; every other
// path returns its error to the one exit mapping (docs/ARCHITECTURE.md).
func TestOSExitOnlyInMain(t *testing.T) {
	fset := token.NewFileSet()
	var calls []string
	for _, files := range binaryFiles(t) {
		for _, path := range files {
			uses, _ := selectors(t, fset, path)
			for _, s := range uses["os"] {
				if s == "Exit" {
					calls = append(calls, path)
				}
			}
		}
	}
	if len(calls) != 1 || !strings.HasSuffix(calls[0], filepath.Join("cmd", "natsops", "main.go")) {
		t.Errorf("os.Exit is called in %v; only cmd/natsops/main.go may call it", calls)
	}
}

// worldReads are the os.* and other calls that read or change this
// process's world: in the command layer only cmdutil's System makes them.
var worldReads = map[string]map[string]bool{
	"os":      {"Exit": true, "Stdin": true, "Stdout": true, "Stderr": true, "Args": true, "Getenv": true, "LookupEnv": true, "Environ": true, "Hostname": true, "Getpid": true, "Executable": true, "UserHomeDir": true},
	"os/user": {"Current": true},
	"syscall": {"Kill": true, "Getpid": true},
	"time":    {"Now": true, "Since": true, "Sleep": true, "After": true},
}

// TestCommandsReadTheWorldThroughSystem: no command package, nor the
// shared rollout one, imports os/signal or reads the environment, the
// process, the clock or the standard streams itself; they go through
// cmdutil.System, which tests replace.
func TestCommandsReadTheWorldThroughSystem(t *testing.T) {
	fset := token.NewFileSet()
	for pkg, files := range binaryFiles(t) {
		if !strings.HasPrefix(pkg, "internal/cmd/") && pkg != "cmd/natsops" {
			continue
		}
		for _, path := range files {
			uses, imports := selectors(t, fset, path)
			for _, imp := range imports {
				if imp == "os/signal" {
					t.Errorf("%s imports os/signal: ask cmdutil.System.Interruptible", path)
				}
			}
			for imp, sels := range uses {
				for _, s := range sels {
					if worldReads[imp][s] && !(pkg == "cmd/natsops" && imp == "os" && s == "Exit") {
						t.Errorf("%s uses %s.%s: read it through cmdutil.System", path, imp, s)
					}
				}
			}
		}
	}
}

// TestOneExitMapping: the exit codes are defined, and errors mapped to
// them, in internal/cmdutil/exit.go alone; no other file of the binary
// declares an Exit* or Check* code or a function named exitCode.
func TestOneExitMapping(t *testing.T) {
	fset := token.NewFileSet()
	for _, files := range binaryFiles(t) {
		for _, path := range files {
			if strings.HasSuffix(path, filepath.Join("internal", "cmdutil", "exit.go")) {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					for _, sp := range d.Specs {
						if vs, ok := sp.(*ast.ValueSpec); ok {
							for _, n := range vs.Names {
								if strings.HasPrefix(n.Name, "Exit") && len(n.Name) > 4 || strings.HasPrefix(strings.ToLower(n.Name), "exitcode") {
									t.Errorf("%s declares %s: exit codes live in internal/cmdutil/exit.go", fset.Position(n.Pos()), n.Name)
								}
							}
						}
					}
				case *ast.FuncDecl:
					if strings.EqualFold(d.Name.Name, "exitCode") {
						t.Errorf("%s declares %s: the one mapping is cmdutil.ExitCode", fset.Position(d.Pos()), d.Name.Name)
					}
				}
			}
		}
	}
}
