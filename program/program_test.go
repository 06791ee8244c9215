package program

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestHelpListsEverySubcommand checks that `pxsh help` names every
// subcommand Run dispatches (read from program.go's switch).
func TestHelpListsEverySubcommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"pxsh", "--help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("pxsh --help: exit %d: %s", code, errb.String())
	}
	f, err := parser.ParseFile(token.NewFileSet(), "program.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		cc, ok := node.(*ast.CaseClause)
		if !ok {
			return true
		}
		for _, e := range cc.List {
			lit, ok := e.(*ast.BasicLit)
			if !ok {
				continue
			}
			name, _ := strconv.Unquote(lit.Value)
			if strings.HasPrefix(name, "-") {
				continue
			}
			n++
			if !strings.Contains(out.String(), "  "+name+" ") {
				t.Errorf("pxsh --help does not list %q", name)
			}
		}
		return true
	})
	if n < 6 {
		t.Errorf("found only %d subcommands in program.go", n)
	}
}
