// Package conformance runs ports of ipyparallel 7.1's own tests
// (testdata/test_*.star, one file per ipyparallel test file, each case a
// function named after its original) against a real cluster. README.md
// lists the cases left out and why.
package conformance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
)

// nEngines is the size of the cluster, as ipyparallel's test cluster
// (which starts 4 engines and adds some in some tests).
const nEngines = 4

// env is a Starlark client environment connected to the cluster.
type env struct {
	ns     *starlarklib.Namespace
	thread *starlark.Thread
	out    *bytes.Buffer
}

func newEnv(t *testing.T, cl *clustertest.Cluster) *env {
	e := &env{out: &bytes.Buffer{}}
	cenv := &clientlib.Env{
		Stdout: e.out,
		Connect: func(ctx context.Context, profile, file string, timeout time.Duration) (*client.Client, error) {
			c, err := client.Dial(ctx, cl.ClientFile, client.Options{Timeout: timeout})
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			return c, err
		},
	}
	builtins := starlarklib.Modules()
	for k, v := range clientlib.Builtins(cenv) {
		builtins[k] = v
	}
	builtins["add_engines"] = starlark.NewBuiltin("add_engines", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		var n int
		if err := starlark.UnpackArgs(b.Name(), args, kw, "n", &n); err != nil {
			return nil, err
		}
		for range n {
			cl.StartEngine(-1)
		}
		return starlark.None, nil
	})
	builtins["write_temp"] = starlark.NewBuiltin("write_temp", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		var text string
		if err := starlark.UnpackArgs(b.Name(), args, kw, "text", &text); err != nil {
			return nil, err
		}
		path := filepath.Join(t.TempDir(), "file.star")
		return starlark.String(path), os.WriteFile(path, []byte(text), 0o600)
	})
	builtins["output"] = starlark.NewBuiltin("output", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		s := e.out.String()
		e.out.Reset()
		return starlark.String(s), nil
	})
	e.ns = starlarklib.NewNamespace(builtins)
	cenv.NS = e.ns
	e.thread = &starlark.Thread{
		Name:  t.Name(),
		Print: func(_ *starlark.Thread, msg string) { e.out.WriteString(msg + "\n") },
		Load: func(th *starlark.Thread, module string) (starlark.StringDict, error) {
			if module == "assert.star" {
				return starlarktest.LoadAssertModule()
			}
			return e.ns.Load(th, module)
		},
	}
	return e
}

// TestConformance runs each file's test_* functions as subtests, in source
// order, in one client namespace per file (the file's top level plays
// ipyparallel's setUp: rc, its views), against a cluster of its own (some
// cases add or shut down engines: add_engines(n) starts n more). A case
// listed in the file's xfail dict must fail (a documented difference); the
// others must pass.
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "test_*.star"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files: %v", err)
	}
	passed, xfailed := 0, 0
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".star"), func(t *testing.T) {
			cl := clustertest.Start(t, nEngines, clustertest.Options{})
			p, x := runFile(t, cl, file)
			passed += p
			xfailed += x
		})
	}
	t.Logf("ipyparallel conformance: %d cases pass, %d documented differences", passed, xfailed)
}

func runFile(t *testing.T, cl *clustertest.Cluster, file string) (passed, xfailed int) {
	e := newEnv(t, cl)
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Exec(e.thread, file, "Client().clear(block = True)", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ns.Exec(e.thread, file, string(src), false); err != nil {
		t.Fatalf("%s: %s", file, clientlib.ErrorReport(err, false))
	}
	xfail := map[string]bool{}
	if d, ok := e.ns.Globals()["xfail"].(*starlark.Dict); ok {
		for _, k := range d.Keys() {
			xfail[string(k.(starlark.String))] = true
		}
	}
	type tcase struct {
		name string
		fn   *starlark.Function
	}
	var cases []tcase
	for name, v := range e.ns.Globals() {
		if fn, ok := v.(*starlark.Function); ok && strings.HasPrefix(name, "test_") {
			cases = append(cases, tcase{name, fn})
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].fn.Position().Line < cases[j].fn.Position().Line })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var failure string
			rep := &reporter{fail: func(s string) { failure += s + "\n" }}
			starlarktest.SetReporter(e.thread, rep)
			// ipyparallel's setUp: every test starts with clean engine
			// namespaces.
			if _, err := e.ns.Exec(e.thread, file, "Client().clear(block = True)", false); err != nil {
				t.Fatal(err)
			}
			_, err := starlark.Call(e.thread, c.fn, nil, nil)
			if err != nil {
				failure += clientlib.ErrorReport(err, false)
			}
			switch {
			case xfail[c.name] && failure == "":
				t.Errorf("%s passes but is listed in xfail: remove it from the list", c.name)
			case xfail[c.name]:
				xfailed++
			case failure != "":
				t.Errorf("%s", failure)
			default:
				passed++
			}
		})
	}
	return passed, xfailed
}

// reporter collects starlarktest assertion failures.
type reporter struct{ fail func(string) }

func (r *reporter) Error(args ...any) {
	var b strings.Builder
	for _, a := range args {
		if s, ok := a.(string); ok {
			b.WriteString(s)
		}
	}
	r.fail(b.String())
}
