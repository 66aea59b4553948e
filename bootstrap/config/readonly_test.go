package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const configPkg = "github.com/hybridnode/hybridnode/bootstrap/config"

// readOnlyMethods are the pointer methods of Config that change nothing.
var readOnlyMethods = map[string]bool{"Get": true, "FormatString": true}

// TestSpecIsReadOnlyAfterResolve: outside this package no code (tests
// aside) writes to a Spec once Resolve made it: no assignment, ++/--,
// range assignment, delete, clear or copy into one of its fields (or of its
// Config, or an element of their slices and maps), no &field, no pointer
// method that changes it (SetString). The module's packages are type-checked
// from their source, their imports from the export data `go list -export`
// gives.
func TestSpecIsReadOnlyAfterResolve(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to list the packages: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Export,Module", "./...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	type pkg struct {
		ImportPath, Dir, Export string
		GoFiles                 []string
		Module                  *struct{ Path string }
	}
	exports := map[string]string{}
	var mine []pkg
	for d := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := d.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == "github.com/hybridnode/hybridnode" && p.ImportPath != configPkg {
			mine = append(mine, p)
		}
	}
	if len(mine) < 10 {
		t.Fatalf("only %d packages of the module listed", len(mine))
	}

	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	})
	var found []string
	for _, p := range mine {
		// Read here (not only by go list), so that go test's cache of this
		// result depends on every package's files, new ones included.
		if _, err := os.ReadDir(p.Dir); err != nil {
			t.Fatal(err)
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Selections: map[*ast.SelectorExpr]*types.Selection{}, Uses: map[*ast.Ident]types.Object{}}
		if _, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-check %s: %v", p.ImportPath, err)
		}
		for _, f := range files {
			found = append(found, specWrites(fset, info, f)...)
		}
	}
	for _, w := range found {
		t.Errorf("%s: the Spec is read-only after config.Resolve", w)
	}
}

// specWrites lists the writes to a Spec in f.
func specWrites(fset *token.FileSet, info *types.Info, f *ast.File) []string {
	var out []string
	flag := func(e ast.Expr, what string) {
		if throughSpec(info, e) {
			out = append(out, fmt.Sprintf("%s: %s %s", fset.Position(e.Pos()), what, types.ExprString(e)))
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for _, e := range n.Lhs {
				flag(e, "assigns")
			}
		case *ast.IncDecStmt:
			flag(n.X, "changes")
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if e != nil {
						flag(e, "assigns")
					}
				}
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				flag(n.X, "takes the address of")
			}
		case *ast.CallExpr:
			fun := ast.Unparen(n.Fun)
			if id, ok := fun.(*ast.Ident); ok && len(n.Args) > 0 {
				if b, ok := info.Uses[id].(*types.Builtin); ok && (b.Name() == "delete" || b.Name() == "clear" || b.Name() == "copy") {
					flag(n.Args[0], b.Name()+"s")
				}
			}
			sel, ok := fun.(*ast.SelectorExpr)
			if !ok {
				break
			}
			s := info.Selections[sel]
			if s == nil || s.Kind() != types.MethodVal || readOnlyMethods[sel.Sel.Name] {
				break
			}
			if sig, ok := s.Obj().Type().(*types.Signature); ok && sig.Recv() != nil {
				if _, ptr := sig.Recv().Type().(*types.Pointer); ptr && (isSpec(info.Types[sel.X].Type) || throughSpec(info, sel.X)) {
					out = append(out, fmt.Sprintf("%s: calls %s", fset.Position(sel.Pos()), types.ExprString(sel)))
				}
			}
		}
		return true
	})
	return out
}

// throughSpec reports whether e is a field of a Spec (its Config's, by
// promotion or not) or reached from one: x.Spec.Field, x.Spec.Config.Field,
// x.Spec.Labels[0], x.Spec.KubeletExtraArgs["k"].
func throughSpec(info *types.Info, e ast.Expr) bool {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.SelectorExpr:
			if s := info.Selections[x]; s == nil || s.Kind() != types.FieldVal {
				return false
			}
			if isSpec(info.Types[x.X].Type) {
				return true
			}
			e = x.X
		default:
			return false
		}
	}
}

// isSpec: t is config.Spec or a pointer to it.
func isSpec(t types.Type) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == configPkg && n.Obj().Name() == "Spec"
}

// TestSpecWritesFound: the guard sees each kind of write (and not reads).
func TestSpecWritesFound(t *testing.T) {
	src := `package p

import "github.com/hybridnode/hybridnode/bootstrap/config"

type node struct{ Spec *config.Spec }

func writes(n *node, s config.Spec) {
	n.Spec.KubernetesMinor = 1
	n.Spec.Config.NodeName = "x"
	n.Spec.ProviderID += "y"
	n.Spec.JoinAttempts++
	n.Spec.KubeletExtraArgs["k"] = "v"
	n.Spec.NodeLabels[0] = "a=b"
	delete(n.Spec.KubeletExtraArgs, "k")
	_ = &n.Spec.Token
	_ = n.Spec.SetString("nodeName", "z")
	_ = n.Spec.Config.SetString("nodeName", "z")
	s.KubernetesVersion = "v1.37.1"
}

func reads(n *node) (string, int) {
	var c config.Config
	c.NodeName = "copy"
	n.Spec = &config.Spec{}
	v := n.Spec.Config.FormatString("nodeName") + n.Spec.Get("nodeName").(string)
	return v + c.NodeName + n.Spec.KubernetesVersion, n.Spec.KubernetesMinor
}
`
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "list", "-export", "-deps", "-f", "{{.ImportPath}} {{.Export}}", configPkg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, " ")
		exports[path] = file
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Selections: map[*ast.SelectorExpr]*types.Selection{}, Uses: map[*ast.Ident]types.Object{}}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	if _, err := (&types.Config{Importer: imp}).Check("p", fset, []*ast.File{f}, info); err != nil {
		t.Fatal(err)
	}
	got := specWrites(fset, info, f)
	var at []string
	for _, w := range got {
		pos, _, _ := strings.Cut(w, ": ")
		at = append(at, strings.TrimPrefix(pos, "p.go:"))
	}
	// One write on each of lines 8 to 18; nothing in reads.
	want := []string{"8:2", "9:2", "10:2", "11:2", "12:2", "13:2", "14:9", "15:7", "16:6", "17:6", "18:2"}
	if !slices.Equal(at, want) {
		t.Errorf("writes found at %v, want %v:\n%s", at, want, strings.Join(got, "\n"))
	}
}
