package argocd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatestream/gatestream/internal/repo"
)

// declaredReasons returns the values of the Reason* and SessionReason*
// constants in api/v1alpha1.
func declaredReasons(t *testing.T) map[string]bool {
	t.Helper()
	api, err := repo.Path("api", "v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(api, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Reason") && !strings.HasPrefix(name.Name, "SessionReason") {
					continue
				}
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						reasons[v] = true
					}
				}
			}
			return true
		})
	}
	return reasons
}

var (
	luaTable = regexp.MustCompile(`(?s)local (TERMINAL|NOT_AN_ERROR) = \{(.*?)\n\}`)
	luaEntry = regexp.MustCompile(`(?m)^\s+(\w+) = true,$`)
)

// TestScriptReasonsAreDeclared keeps the scripts' reason lists in step with
// the API: every reason a script classifies is a declared constant, and no
// reason is both terminal and a wait.
func TestScriptReasonsAreDeclared(t *testing.T) {
	reasons := declaredReasons(t)
	if len(reasons) == 0 {
		t.Fatal("no Reason constants found in api/v1alpha1")
	}
	scripts, err := HealthScripts(configDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for kind, script := range scripts {
		seen := map[string]string{}
		for _, m := range luaTable.FindAllStringSubmatch(script, -1) {
			for _, e := range luaEntry.FindAllStringSubmatch(m[2], -1) {
				if !reasons[e[1]] {
					t.Errorf("%s: %s lists %q, which is no Reason constant in api/v1alpha1", kind, m[1], e[1])
				}
				if other, ok := seen[e[1]]; ok && other != m[1] {
					t.Errorf("%s: %q is in both %s and %s", kind, e[1], other, m[1])
				}
				seen[e[1]] = m[1]
			}
		}
		if kind != "StreamingSession" && len(seen) == 0 {
			t.Errorf("%s: no TERMINAL/NOT_AN_ERROR entries parsed", kind)
		}
	}
}
