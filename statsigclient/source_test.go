package statsigclient_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package depends on the SDK's API only: nothing outside its tests
// reads goroutine stacks, frame names or profiles, whose text any SDK
// upgrade (or Go release) may change without notice.
func TestNoStackInspection(t *testing.T) {
	t.Parallel()
	forbidden := map[string][]string{
		"runtime":       {"Stack", "FuncForPC", "Callers", "CallersFrames", "GoroutineProfile"},
		"runtime/debug": {"Stack", "PrintStack"},
		"runtime/pprof": {"Lookup"},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		imported := map[string]string{} // local name -> import path
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			local := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			imported[local] = path
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			for _, fn := range forbidden[imported[x.Name]] {
				if sel.Sel.Name == fn {
					t.Errorf("%s: uses %s.%s", fset.Position(sel.Pos()), imported[x.Name], fn)
				}
			}
			return true
		})
	}
}
