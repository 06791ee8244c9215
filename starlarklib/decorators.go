package starlarklib

import (
	"strings"

	"go.starlark.net/syntax"
)

// decorator is a top-level "@expr" line that applies to the def below it.
type decorator struct {
	line int    // 1-based line of the '@'
	expr string // the text after '@'
}

// extractDecorators finds top-level decorator lines: lines that start with
// '@' in the first column and are followed, possibly after more decorator
// lines, blank lines or comments, by a line that starts with "def ". It
// returns the source with those lines blanked (so that every other line
// keeps its number) and the decorators of each def, keyed by the def's line,
// in source order (top first). An '@' line that no def follows is an error.
func extractDecorators(filename, src string) (string, map[int][]decorator, error) {
	if !strings.Contains(src, "@") {
		return src, nil, nil
	}
	lines := strings.Split(src, "\n")
	var decs map[int][]decorator
	var pending []decorator
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "@"):
			pending = append(pending, decorator{line: i + 1, expr: strings.TrimSpace(l[1:])})
		case len(pending) == 0:
		case strings.HasPrefix(l, "def ") || strings.HasPrefix(l, "def\t"):
			if decs == nil {
				decs = map[int][]decorator{}
			}
			decs[i+1] = pending
			for _, d := range pending {
				lines[d.line-1] = ""
			}
			pending = nil
		case strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#"):
		default:
			return "", nil, decoratorError(filename, pending[0])
		}
	}
	if len(pending) > 0 {
		return "", nil, decoratorError(filename, pending[0])
	}
	return strings.Join(lines, "\n"), decs, nil
}

func decoratorError(filename string, d decorator) error {
	return syntax.Error{
		Pos: syntax.MakePosition(&filename, int32(d.line), 1),
		Msg: "a decorator must be followed by a top-level def",
	}
}

// decoratorSource returns the statement that applies d to the function
// name, placed on the decorator's own line: name = (expr)(name).
func decoratorSource(d decorator, name string) string {
	return strings.Repeat("\n", d.line-1) + name + " = (" + d.expr + ")(" + name + ")\n"
}
