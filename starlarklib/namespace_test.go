package starlarklib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
)

const utilModule = "K = \"k\"\ndef sq(x):\n    return x * x\n"

// newTestThread returns a thread whose Load serves assert.star (from
// testdata), starlarktest's module and, otherwise, ns.Load.
func newTestThread(t *testing.T, ns *Namespace) *starlark.Thread {
	t.Helper()
	thread := &starlark.Thread{Name: t.Name()}
	starlarktest.SetReporter(thread, t)
	var assertMod starlark.StringDict
	thread.Load = func(th *starlark.Thread, module string) (starlark.StringDict, error) {
		switch module {
		case "starlarktest":
			return starlarktest.LoadAssertModule()
		case "assert.star":
			if assertMod != nil {
				return assertMod, nil
			}
			src, err := os.ReadFile(filepath.Join("testdata", "assert.star"))
			if err != nil {
				return nil, err
			}
			assertMod, err = starlark.ExecFileOptions(FileOptions(), th, "assert.star", src, Modules())
			return assertMod, err
		}
		return ns.Load(th, module)
	}
	return thread
}

// TestScripts runs testdata/*.star. A script is split into chunks at lines
// "# ---"; the chunks run one after another in one Namespace, with the
// line numbers of the file.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if filepath.Base(file) == "assert.star" {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ns := NewNamespace(Modules())
			ns.SetModule("util.star", utilModule)
			thread := newTestThread(t, ns)
			line := 0
			for i, chunk := range strings.Split(string(b), "\n# ---\n") {
				src := strings.Repeat("\n", line) + chunk
				if _, err := ns.Exec(thread, filepath.Base(file), src, false); err != nil {
					if ee, ok := err.(*starlark.EvalError); ok {
						t.Fatalf("chunk %d: %s", i, ee.Backtrace())
					}
					t.Fatalf("chunk %d: %v", i, err)
				}
				line += strings.Count(chunk, "\n") + 2
			}
		})
	}
}
