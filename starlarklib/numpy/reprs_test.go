package numpy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/starlarklib"
)

// TestNumPyReprs evaluates the expressions of testdata/numpy_reprs.txt and
// compares their repr with what NumPy printed for them ("ERROR": NumPy
// raised an exception, so must np).
func TestNumPyReprs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "numpy_reprs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]string // expr, want
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "#") || (l == "" && len(cases) == 0):
		case strings.HasPrefix(l, ">>> "):
			cases = append(cases, [2]string{l[4:], ""})
		default:
			c := &cases[len(cases)-1]
			if c[1] != "" {
				c[1] += "\n"
			}
			c[1] += l
		}
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	env := starlarklib.Modules()
	thread := &starlark.Thread{Name: "reprs"}
	for _, c := range cases {
		v, err := starlark.EvalOptions(starlarklib.FileOptions(), thread, "expr", c[0], env)
		if c[1] == "ERROR" {
			if err == nil {
				t.Errorf("%s = %s, NumPy fails", c[0], v)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c[0], err)
			continue
		}
		if tup, ok := v.(starlark.Tuple); ok {
			v = starlark.NewList(tup)
		}
		if got := v.String(); got != c[1] {
			t.Errorf("%s\n got %s\nwant %s", c[0], got, c[1])
		}
	}
}
