package spectest

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/starlarklib"
)

// StarlarkDir returns go.starlark.net's directory in the module cache,
// where its spec files and assert.star are.
func StarlarkDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.starlark.net").Output()
	if err != nil {
		return "", fmt.Errorf("locate go.starlark.net (run go mod download): %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("locate go.starlark.net: not in the module cache (run go mod download)")
	}
	return dir, nil
}

// LoadAssert executes go.starlark.net's assert.star from dir with the
// helper builtins it expects, implemented here. Its error() does not stop
// the program: it calls report with the message and the caller's
// position.
func LoadAssert(dir string, report func(thread *starlark.Thread, msg string)) (starlark.StringDict, error) {
	src, err := os.ReadFile(filepath.Join(dir, "starlarktest", "assert.star"))
	if err != nil {
		return nil, fmt.Errorf("load assert.star: %w", err)
	}
	predeclared := starlark.StringDict{
		"error":    starlark.NewBuiltin("error", assertError(report)),
		"catch":    starlark.NewBuiltin("catch", catch),
		"matches":  starlark.NewBuiltin("matches", matches),
		"module":   starlark.NewBuiltin("module", starlarkstruct.MakeModule),
		"_freeze":  starlark.NewBuiltin("freeze", freeze),
		"_floateq": starlark.NewBuiltin("floateq", floatEq),
	}
	m, err := starlark.ExecFileOptions(starlarklib.FileOptions(), &starlark.Thread{Name: "assert"}, "assert.star", src, predeclared)
	if err != nil {
		return nil, fmt.Errorf("load assert.star: %w", err)
	}
	return m, nil
}

// Modules are the modules the spec files load, for a namespace's
// SetNativeModule: assert.star (from LoadAssert) and json.star, math.star
// and time.star (pxsh's standard modules).
func Modules(assert starlark.StringDict) map[string]starlark.StringDict {
	std := starlarklib.Modules()
	return map[string]starlark.StringDict{
		"assert.star": assert,
		"json.star":   {"json": std["json"]},
		"math.star":   {"math": std["math"]},
		"time.star":   {"time": std["time"]},
	}
}

type builtinFunc = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// assertError is error(msg): it reports and returns None.
func assertError(report func(*starlark.Thread, string)) builtinFunc {
	return func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		msg := fmt.Sprint(args)
		if len(args) == 1 {
			if s, ok := starlark.AsString(args[0]); ok {
				msg = s
			} else {
				msg = args[0].String()
			}
		}
		report(th, msg+" at "+th.CallFrame(1).Pos.String())
		return starlark.None, nil
	}
}

// catch(f) calls f and returns its error message, or None.
func catch(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackArgs("catch", args, kwargs, "fn", &fn); err != nil {
		return nil, err
	}
	if _, err := starlark.Call(th, fn, nil, nil); err != nil {
		return starlark.String(starlarklib.FixError(err).Error()), nil
	}
	return starlark.None, nil
}

// matches(pattern, str) reports whether the regular expression matches.
func matches(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, str string
	if err := starlark.UnpackArgs("matches", args, kwargs, "pattern", &pattern, "str", &str); err != nil {
		return nil, err
	}
	ok, err := regexp.MatchString(pattern, str)
	return starlark.Bool(ok), err
}

// freeze(x) freezes x and returns it.
func freeze(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("freeze: got %d arguments, want 1", len(args))
	}
	args[0].Freeze()
	return args[0], nil
}

// floateq(x, y) reports whether two floats are equal or 1 ULP apart.
func floatEq(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Float
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &x, &y); err != nil {
		return nil, err
	}
	a, c := float64(x), float64(y)
	return starlark.Bool(a == c || (math.IsNaN(a) && math.IsNaN(c)) || math.Nextafter(a, c) == c), nil
}
