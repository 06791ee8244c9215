package shell

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/syntax"
)

// habit is a Python construct Starlark lacks, and what to write instead.
type habit struct {
	re   *regexp.Regexp
	hint func(m []string) string
}

var habits = []habit{
	{regexp.MustCompile(`^\s*(?:import|from)\s+(numpy|np)\b`), func([]string) string {
		return "Starlark has no import: use np (predeclared) instead of importing numpy"
	}},
	{regexp.MustCompile(`^\s*(?:import|from)\s+(math|json|time|struct)\b`), func(m []string) string {
		return fmt.Sprintf("Starlark has no import: %s is predeclared, use it directly (%s.…)", m[1], m[1])
	}},
	{regexp.MustCompile(`^\s*(?:import\s+([\w.]+)|from\s+([\w.]+)\s+import)`), func(m []string) string {
		mod := m[1] + m[2]
		return fmt.Sprintf("Starlark has no import: modules are .star files; load(\"%s.star\", \"name\") (ship them to engines with dv.sync_imports(\"%s.star\"))", mod, mod)
	}},
	{regexp.MustCompile(`^\s*(try\s*:|except\b|finally\s*:)`), func([]string) string {
		return "Starlark has no try/except: r = catch(f, *args) returns f's value or the error as a value (if not r: print(r.ename)); results take return_exceptions=True"
	}},
	{regexp.MustCompile(`^\s*raise\b`), func([]string) string {
		return `Starlark has no raise: fail("message") stops with an error`
	}},
	{regexp.MustCompile(`^\s*class\s+\w+`), func([]string) string {
		return "Starlark has no classes: use struct(a=1, b=2) (predeclared), a dict, or functions"
	}},
	{regexp.MustCompile(`^\s*with\b`), func([]string) string {
		return "Starlark has no with statement: call the functions directly (flags go to each call: dv.apply(f, block=True))"
	}},
	{regexp.MustCompile(`^\s*(global|nonlocal)\b`), func(m []string) string {
		return fmt.Sprintf("Starlark has no %s: return the new value, or keep state in a dict or list", m[1])
	}},
	{regexp.MustCompile(`(?:^|[^\w"'])[fF](["'])`), func([]string) string {
		return `Starlark has no f-strings: use "x = %d" % x or "x = {}".format(x)`
	}},
	{regexp.MustCompile(`[\w)\]]\s*\*\*\s*[\w(]`), func([]string) string {
		return "Starlark has no ** operator: use math.pow(x, y) (a float) or x * x"
	}},
}

// pythonHint returns advice when a syntax error comes from a Python
// habit: the line of the error first, then the whole code.
func pythonHint(code string, err error) string {
	line := 0
	var se syntax.Error
	var rl resolve.ErrorList
	switch {
	case errors.As(err, &se):
		line = int(se.Pos.Line)
	case errors.As(err, &rl) && len(rl) > 0:
		line = int(rl[0].Pos.Line)
	default:
		return ""
	}
	lines := strings.Split(code, "\n")
	if line >= 1 && line <= len(lines) {
		if h := habitOf(lines[line-1]); h != "" {
			return h
		}
	}
	for _, l := range lines {
		if h := habitOf(l); h != "" {
			return h
		}
	}
	return ""
}

func habitOf(line string) string {
	if i := strings.Index(line, "#"); i >= 0 && !strings.ContainsAny(line[:i], `"'`) {
		line = line[:i]
	}
	for _, h := range habits {
		if m := h.re.FindStringSubmatch(line); m != nil {
			return h.hint(m)
		}
	}
	return ""
}

// hintError is an error with advice for a Python habit.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "\nhint: " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// withHint adds a Python-habit hint to a syntax error of code.
func withHint(code string, err error) error {
	if err == nil {
		return nil
	}
	if h := pythonHint(code, err); h != "" {
		return &hintError{err, h}
	}
	return err
}
