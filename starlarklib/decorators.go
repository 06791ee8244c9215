package starlarklib

import (
	"strings"

	"go.starlark.net/syntax"
)

// decorator is an "@expr" line that applies to the def below it.
type decorator struct {
	line int    // 1-based line of the '@'
	expr string // the text after '@'
}

// extractDecorators finds decorator lines: lines whose first non-blank
// character is '@', followed, possibly after more decorator lines, blank
// lines or comments, by a "def" line at the same indentation. It returns
// the source with those lines blanked (so that every other line keeps its
// number) and the decorators of each def, keyed by the def's line, in
// source order (top first). An '@' line that no def follows is an error.
func extractDecorators(filename, src string) (string, map[int][]decorator, error) {
	if !strings.Contains(src, "@") {
		return src, nil, nil
	}
	lines := strings.Split(src, "\n")
	var decs map[int][]decorator
	var pending []decorator
	indent := ""
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " \t")
		lead := l[:len(l)-len(trimmed)]
		switch {
		case strings.HasPrefix(trimmed, "@") && (len(pending) == 0 || lead == indent):
			indent = lead
			pending = append(pending, decorator{line: i + 1, expr: strings.TrimSpace(trimmed[1:])})
		case len(pending) == 0:
		case lead == indent && (strings.HasPrefix(trimmed, "def ") || strings.HasPrefix(trimmed, "def\t")):
			if decs == nil {
				decs = map[int][]decorator{}
			}
			decs[i+1] = pending
			for _, d := range pending {
				lines[d.line-1] = ""
			}
			pending = nil
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		default:
			return "", nil, decoratorError(filename, pending[0])
		}
	}
	if len(pending) > 0 {
		return "", nil, decoratorError(filename, pending[0])
	}
	return strings.Join(lines, "\n"), decs, nil
}

// applyNestedDecorators inserts, after each decorated def nested in a
// statement list of stmts (not at top level: Exec applies those), the
// statements name = (expr)(name), bottom decorator first, positioned on
// the decorators' lines.
func applyNestedDecorators(filename string, stmts []syntax.Stmt, decs map[int][]decorator) error {
	for _, stmt := range stmts {
		var err error
		switch s := stmt.(type) {
		case *syntax.DefStmt:
			s.Body, err = decorateList(filename, s.Body, decs)
		case *syntax.IfStmt:
			if s.True, err = decorateList(filename, s.True, decs); err == nil {
				s.False, err = decorateList(filename, s.False, decs)
			}
		case *syntax.ForStmt:
			s.Body, err = decorateList(filename, s.Body, decs)
		case *syntax.WhileStmt:
			s.Body, err = decorateList(filename, s.Body, decs)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decorateList applies the decorators of the defs of a nested statement
// list, and recurses.
func decorateList(filename string, stmts []syntax.Stmt, decs map[int][]decorator) ([]syntax.Stmt, error) {
	if err := applyNestedDecorators(filename, stmts, decs); err != nil {
		return nil, err
	}
	var out []syntax.Stmt
	for _, stmt := range stmts {
		out = append(out, stmt)
		def, ok := stmt.(*syntax.DefStmt)
		if !ok {
			continue
		}
		ds := decs[int(def.Def.Line)]
		for j := len(ds) - 1; j >= 0; j-- {
			f, err := FileOptions().Parse(filename, decoratorSource(ds[j], def.Name.Name), 0)
			if err != nil {
				return nil, err
			}
			out = append(out, f.Stmts...)
		}
	}
	return out, nil
}

func decoratorError(filename string, d decorator) error {
	return syntax.Error{
		Pos: syntax.MakePosition(&filename, int32(d.line), 1),
		Msg: "a decorator must be followed by a def",
	}
}

// decoratorSource returns the statement that applies d to the function
// name, placed on the decorator's own line: name = (expr)(name).
func decoratorSource(d decorator, name string) string {
	return strings.Repeat("\n", d.line-1) + name + " = (" + d.expr + ")(" + name + ")\n"
}
