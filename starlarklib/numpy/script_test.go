package numpy_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/pxsh/pxsh/starlarklib"
)

// TestScripts runs testdata/*.star with np predeclared and assert.star
// (starlarklib's) loadable.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.star"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			thread := &starlark.Thread{Name: t.Name()}
			starlarktest.SetReporter(thread, t)
			var assertMod starlark.StringDict
			thread.Load = func(th *starlark.Thread, module string) (starlark.StringDict, error) {
				switch module {
				case "starlarktest":
					return starlarktest.LoadAssertModule()
				case "assert.star":
					if assertMod == nil {
						b, err := os.ReadFile(filepath.Join("..", "testdata", "assert.star"))
						if err != nil {
							return nil, err
						}
						assertMod, err = starlark.ExecFileOptions(starlarklib.FileOptions(), th, "assert.star", b, starlarklib.Modules())
						if err != nil {
							return nil, err
						}
					}
					return assertMod, nil
				}
				return nil, os.ErrNotExist
			}
			_, err = starlark.ExecFileOptions(starlarklib.FileOptions(), thread, filepath.Base(file), src, starlarklib.Modules())
			if err != nil {
				if ee, ok := err.(*starlark.EvalError); ok {
					t.Fatal(ee.Backtrace())
				}
				t.Fatal(err)
			}
		})
	}
}
