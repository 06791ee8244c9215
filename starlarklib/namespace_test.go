package starlarklib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"
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

// TestTopLevelSemantics runs programs three ways: whole in plain
// starlark-go (one module, pxsh's dialect options), whole in a Namespace,
// and one top-level statement per chunk in a Namespace; the printed
// output must be the same.
func TestTopLevelSemantics(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"for", "n = 0\nfor i in range(5):\n    n = n + 1\nprint(n)\n", "5\n"},
		{"while", "i = 0\nwhile i < 3:\n    i = i + 1\nprint(i)\n", "3\n"},
		{"live for earlier function", "def f():\n    return n\nn = 0\nfor i in range(3):\n    n = n + 1\n    print(f())\n", "1\n2\n3\n"},
		{"loop variable", "def g():\n    return i\ni = 10\nfor i in range(2):\n    print(g())\nprint(i)\n", "0\n1\n1\n"},
		{"empty loop keeps value", "i = 10\nfor i in []:\n    pass\nprint(i)\n", "10\n"},
		{"tuples", "a, b = 0, 1\nfor _ in range(10):\n    a, b = b, a + b\nprint(a, b)\n", "55 89\n"},
		{"if", "x = 1\nif True:\n    x = x + 1\n    y = x * 10\nelse:\n    x = 0\nprint(x, y)\n", "2 20\n"},
		{"def in if", "if True:\n    def h():\n        return k\n    k = 3\n    print(h())\n", "3\n"},
		{"nested loops", "t = 0\nfor i in range(3):\n    for j in range(3):\n        if j > i:\n            break\n        t = t + 1\nprint(t)\n", "6\n"},
		{"augmented", "n = 1\nn += 1\nfor i in range(3):\n    n *= 2\nprint(n)\n", "16\n"},
		{"list target", "[p, (q, r)] = 1, (2, 3)\nfor [p, q] in [(q, p)]:\n    r = p + q\nprint(p, q, r)\n", "2 1 3\n"},
		{"while with function", "def more():\n    return c < 4\nc = 0\nwhile more():\n    c += 1\nprint(c)\n", "4\n"},
		{"comprehension", "m = 2\nfor i in range(2):\n    m = [m * j for j in range(1, 3)][-1]\nprint(m)\n", "8\n"},
		{"closure over loop variable", "for i in range(3):\n    def f():\n        return i\nprint(f())\ni = 10\nprint(f())\n", "2\n10\n"},
		{"recursive lambda rebound", "fib = lambda n: n if n < 2 else fib(n - 1) + fib(n - 2)\nprint(fib(10))\nold = fib\nfib = lambda n: 0\nprint(old(5))\n", "55\n0\n"},
		{"function and global of one if", "x = 1\nif True:\n    def show():\n        return x\n    x = 2\nprint(show())\nx = 3\nprint(show())\n", "2\n3\n"},
		{"default evaluated at top level", "if True:\n    d = 5\n    def h(a = d):\n        return a + d\n    print(h())\nd = 7\nprint(h())\n", "10\n12\n"},
		{"comprehension variable shadows", "for x in range(2):\n    ys = [x for x in range(3)]\n    g = lambda: x\nprint(g(), ys)\nx = 9\nprint(g())\n", "1 [0, 1, 2]\n9\n"},
		{"universal name rebound", "for list in [[1], [2]]:\n    f = lambda: list\nprint(f())\nlist = 3\nprint(f())\n", "[2]\n3\n"},
		{"augmented with lambda", "c = 1\nc += len([lambda: c])\nk = lambda: c\nprint(k())\n", "2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var plain strings.Builder
			th := &starlark.Thread{Print: func(_ *starlark.Thread, s string) { plain.WriteString(s + "\n") }}
			if _, err := starlark.ExecFileOptions(FileOptions(), th, "t.star", tc.src, Modules()); err != nil {
				t.Fatalf("plain starlark: %v", err)
			}
			if plain.String() != tc.want {
				t.Fatalf("plain starlark printed %q, want %q", plain.String(), tc.want)
			}
			f, err := FileOptions().Parse("t.star", tc.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitAfter(tc.src, "\n")
			var chunks []string
			for i, s := range f.Stmts {
				from, to := int(syntax.Start(s).Line)-1, len(lines)
				if i+1 < len(f.Stmts) {
					to = int(syntax.Start(f.Stmts[i+1]).Line) - 1
				}
				chunks = append(chunks, strings.Repeat("\n", from)+strings.Join(lines[from:to], ""))
			}
			for _, way := range []struct {
				name   string
				chunks []string
			}{{"whole", []string{tc.src}}, {"chunked", chunks}} {
				var out strings.Builder
				ns := NewNamespace(Modules())
				th := &starlark.Thread{Print: func(_ *starlark.Thread, s string) { out.WriteString(s + "\n") }}
				for _, c := range way.chunks {
					if _, err := ns.Exec(th, "t.star", c, false); err != nil {
						t.Fatalf("%s: %v", way.name, err)
					}
				}
				if out.String() != tc.want {
					t.Errorf("%s: printed %q, want %q", way.name, out.String(), tc.want)
				}
			}
		})
	}
}

// TestLiveRebinding checks that functions defined by earlier chunks (a
// def, a lambda shown as an expression's value) see a loop's rebindings
// while it runs.
func TestLiveRebinding(t *testing.T) {
	ns := NewNamespace(Modules())
	var out strings.Builder
	th := &starlark.Thread{Print: func(_ *starlark.Thread, s string) { out.WriteString(s + " ") }}
	run := func(src string, want bool) starlark.Value {
		t.Helper()
		v, err := ns.Exec(th, "t.star", src, want)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	run("def f():\n    return k\n", false)
	g := run("lambda: k * 10", true)
	ns.Set("g", g)
	run("for k in range(3):\n    print(f(), g())\n", false)
	run("k = 5\nwhile k < 7:\n    k = k + 1\n    print(f())\n", false)
	if got, want := out.String(), "0 0 1 10 2 20 6 7 "; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

// TestCatchOfUnboundName: catch gives the same NameError message as an
// uncaught call, not go.starlark.net's "internal error: predeclared
// variable x is uninitialized" that late binding produces.
func TestCatchOfUnboundName(t *testing.T) {
	b := Modules()
	b["catch"] = CatchBuiltin(func(err error) starlark.Value { return starlark.String(err.Error()) })
	ns := NewNamespace(b)
	th := &starlark.Thread{}
	if _, err := ns.Exec(th, "t.star", "def f():\n    return nope\n", false); err != nil {
		t.Fatal(err)
	}
	v, err := ns.Exec(th, "t.star", "catch(f)", true)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starlark.AsString(v); s != "name 'nope' is not defined" {
		t.Errorf("catch(f) gave %q, want \"name 'nope' is not defined\"", s)
	}
}
