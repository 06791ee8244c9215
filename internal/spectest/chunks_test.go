package spectest

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/starlarklib"
)

// chunk is one test program of a spec file: the text between "---" lines,
// padded with blank lines so that its lines are those of the file.
type chunk struct {
	file string         // base name of the spec file
	line int            // first line of the chunk
	src  string         // padded source
	want map[int]string // expected error pattern by line ("###" comments)
}

func (c chunk) id() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// specDir returns go.starlark.net's directory in the module cache.
func specDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.starlark.net").Output()
	if err != nil {
		t.Fatalf("locate go.starlark.net (run go mod download): %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go.starlark.net is not in the module cache (run go mod download)")
	}
	return dir
}

// readChunks splits every spec file into chunks.
func readChunks(t *testing.T, dir string) []chunk {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "starlark", "testdata", "*.star"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no spec files in %s: %v", dir, err)
	}
	var all []chunk
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		line := 1
		for _, text := range strings.Split(string(b), "\n---\n") {
			c := chunk{file: filepath.Base(f), line: line, src: strings.Repeat("\n", line-1) + text, want: map[int]string{}}
			for i, l := range strings.Split(text, "\n") {
				_, after, ok := strings.Cut(l, "###")
				if !ok {
					continue
				}
				pat, err := strconv.Unquote(strings.TrimSpace(after))
				if err != nil {
					t.Fatalf("%s:%d: bad expectation %q", c.file, line+i, after)
				}
				c.want[line+i] = pat
			}
			all = append(all, c)
			line += strings.Count(text, "\n") + 2
		}
	}
	return all
}

// outcome is what running a chunk gave: the error (if any) with the line
// of the chunk's file it came from (0: none found), and the assertion
// failures reported without stopping.
type outcome struct {
	errLine int
	errMsg  string
	asserts []string
}

// check compares an outcome with the chunk's expectations; "" means the
// chunk passed.
func (c chunk) check(o outcome) string {
	var problems []string
	problems = append(problems, o.asserts...)
	if o.errMsg != "" {
		pat, ok := c.want[o.errLine]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("unexpected error at line %d: %s", o.errLine, o.errMsg))
		case !regexp.MustCompile(pat).MatchString(o.errMsg):
			problems = append(problems, fmt.Sprintf("line %d: error %q does not match %q", o.errLine, o.errMsg, pat))
		}
	}
	for l, pat := range c.want {
		if o.errMsg == "" || l != o.errLine {
			problems = append(problems, fmt.Sprintf("line %d: expected an error matching %q", l, pat))
		}
	}
	return strings.Join(problems, "; ")
}

// reporter collects the failures that assert.star's error() reports.
type reporter struct {
	mu   sync.Mutex
	msgs []string
}

func (r *reporter) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// loadAssert executes go.starlark.net's assert.star (from the module
// cache) with its helper builtins implemented here; error() reports to
// rep.
func loadAssert(t *testing.T, dir string, rep *reporter) starlark.StringDict {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "starlarktest", "assert.star"))
	if err != nil {
		t.Fatal(err)
	}
	predeclared := starlark.StringDict{
		"error": starlark.NewBuiltin("error", func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			msg := fmt.Sprint(args)
			if len(args) == 1 {
				if s, ok := starlark.AsString(args[0]); ok {
					msg = s
				} else {
					msg = args[0].String()
				}
			}
			rep.mu.Lock()
			rep.msgs = append(rep.msgs, "assert: "+msg+" at "+th.CallFrame(1).Pos.String())
			rep.mu.Unlock()
			return starlark.None, nil
		}),
		"catch": starlark.NewBuiltin("catch", func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var fn starlark.Callable
			if err := starlark.UnpackArgs("catch", args, kwargs, "fn", &fn); err != nil {
				return nil, err
			}
			if _, err := starlark.Call(th, fn, nil, nil); err != nil {
				return starlark.String(starlarklib.FixError(err).Error()), nil
			}
			return starlark.None, nil
		}),
		"matches": starlark.NewBuiltin("matches", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var pattern, str string
			if err := starlark.UnpackArgs("matches", args, kwargs, "pattern", &pattern, "str", &str); err != nil {
				return nil, err
			}
			ok, err := regexp.MatchString(pattern, str)
			return starlark.Bool(ok), err
		}),
		"module": starlark.NewBuiltin("module", starlarkstruct.MakeModule),
		"_freeze": starlark.NewBuiltin("freeze", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("freeze: got %d arguments, want 1", len(args))
			}
			args[0].Freeze()
			return args[0], nil
		}),
		"_floateq": starlark.NewBuiltin("floateq", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var x, y starlark.Float
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &x, &y); err != nil {
				return nil, err
			}
			a, c := float64(x), float64(y)
			eq := a == c || (math.IsNaN(a) && math.IsNaN(c)) || math.Nextafter(a, c) == c
			return starlark.Bool(eq), nil
		}),
	}
	m, err := starlark.ExecFileOptions(starlarklib.FileOptions(), &starlark.Thread{Name: "assert"}, "assert.star", src, predeclared)
	if err != nil {
		t.Fatalf("assert.star: %v", err)
	}
	return m
}

// nativeModules are the modules the spec files load, as pxsh gives them
// to a namespace with SetNativeModule.
func nativeModules(assert starlark.StringDict) map[string]starlark.StringDict {
	std := starlarklib.Modules()
	return map[string]starlark.StringDict{
		"assert.star": assert,
		"json.star":   {"json": std["json"]},
		"math.star":   {"math": std["math"]},
		"time.star":   {"time": std["time"]},
	}
}
