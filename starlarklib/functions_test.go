package starlarklib

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// pair is a client and an engine namespace, each with its own thread.
type pair struct {
	client, engine   *Namespace
	cthread, ethread *starlark.Thread
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{client: NewNamespace(Modules()), engine: NewNamespace(Modules())}
	p.cthread = &starlark.Thread{Name: "client", Load: p.client.Load}
	p.ethread = &starlark.Thread{Name: "engine", Load: p.engine.Load}
	return p
}

func (p *pair) execClient(t *testing.T, file, src string) {
	t.Helper()
	if _, err := p.client.Exec(p.cthread, file, src, false); err != nil {
		t.Fatalf("client exec: %v", backtrace(err))
	}
}

func (p *pair) execEngine(t *testing.T, src string) {
	t.Helper()
	if _, err := p.engine.Exec(p.ethread, "<engine>", src, false); err != nil {
		t.Fatalf("engine exec: %v", backtrace(err))
	}
}

func backtrace(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}

// ship sends the client's value of expr to the engine and returns what the
// engine rebuilt.
func (p *pair) ship(t *testing.T, expr string) starlark.Value {
	t.Helper()
	v, err := p.client.Eval(p.cthread, expr)
	if err != nil {
		t.Fatalf("client eval %s: %v", expr, err)
	}
	b, err := Encode(v, p.client.EncodeOptions())
	if err != nil {
		t.Fatalf("encode %s: %v", expr, err)
	}
	w, err := Decode(b, p.engine.DecodeOptions(p.ethread))
	if err != nil {
		t.Fatalf("decode %s: %v", expr, err)
	}
	return w
}

// callBoth calls the client's function expr locally and the shipped copy
// on the engine with the same arguments (an argument tuple written in
// Starlark) and returns both results as strings.
func (p *pair) call(t *testing.T, th *starlark.Thread, fn starlark.Value, args string) string {
	t.Helper()
	env := starlark.StringDict{"__f": fn}
	v, err := starlark.EvalOptions(FileOptions(), th, "<call>", "__f("+args+")", env)
	if err != nil {
		t.Fatalf("call %s(%s): %v", fn, args, backtrace(err))
	}
	return v.String()
}

func TestShipFunctions(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<in1>", `
dflt = 7
def make(k):
    base = [4, 2]
    def f(x, scale=3):
        return [x * k + base[0], scale, base[1]]
    return f
f1 = make(4)

def withdef(x, b=[1, 2], *args, c=dflt, **kw):
    return [x, b, args, c, kw]

def outer(n):
    def inner(m):
        return m + n
    return inner(1) + n

def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

def mkfib():
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    return fib
fib = mkfib()

def va(*args, **kw):
    return [args, kw]

idx = lambda x: x[0]
sl = lambda x: x[1:2]
empty = lambda: ()
both = lambda x: (x[0], x[1:], ())
ml = (lambda x:
    x + [7,
        8][1])
s = "é"; utf = lambda x: x + "é" + x[0:]
def helper(y):
    return y * 2
def usehelper():
    h = helper
    return lambda z: h(z) + 1
uh = usehelper()
`)
	cases := []struct{ fn, args, want string }{
		{"f1", "4", "[20, 3, 2]"},
		{"f1", "1, scale=9", "[8, 9, 2]"},
		{"withdef", "0", `[0, [1, 2], (), 7, {}]`},
		{"withdef", "0, 5, 6, c=1, z=2", `[0, 5, (6,), 1, {"z": 2}]`},
		{"outer", "5", "11"},
		{"fact", "10", "3628800"},
		{"fib", "10", "55"},
		{"va", "1, 2, k=3", `[(1, 2), {"k": 3}]`},
		{"idx", "[5, 6]", "5"},
		{"sl", "[5, 6, 7]", "[6]"},
		{"empty", "", "()"},
		{"both", "[1, 2]", "(1, [2], ())"},
		{"ml", "1", "9"},
		{"utf", `"a"`, `"aéa"`},
		{"uh", "3", "7"},
	}
	for _, c := range cases {
		t.Run(c.fn+"("+c.args+")", func(t *testing.T) {
			local, _ := p.client.Get(c.fn)
			if got := p.call(t, p.cthread, local, c.args); got != c.want {
				t.Errorf("local = %s, want %s", got, c.want)
			}
			remote := p.ship(t, c.fn)
			if got := p.call(t, p.ethread, remote, c.args); got != c.want {
				t.Errorf("remote = %s, want %s", got, c.want)
			}
		})
	}
}

func TestShipEngineGlobals(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<in1>", "g = lambda x: a + b + x\n")
	p.execEngine(t, "a = 10\nb = 20\n")
	fn := p.ship(t, "g")
	if got := p.call(t, p.ethread, fn, "5"); got != "35" {
		t.Errorf("got %s, want 35", got)
	}
	p.execEngine(t, "a = 100\n") // late binding on the engine
	if got := p.call(t, p.ethread, fn, "5"); got != "125" {
		t.Errorf("after rebinding got %s, want 125", got)
	}
}

func TestShipExportErrors(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<in1>", `
def mk():
    pr = [].append  # a method: not a predeclared name
    return lambda: pr
bad = mk()
`)
	v, _ := p.client.Get("bad")
	_, err := Encode(v, p.client.EncodeOptions())
	if err == nil || !strings.Contains(err.Error(), "free variable pr") || !errors.Is(err, ErrUnsendable) {
		t.Errorf("encode of closure over a builtin: %v", err)
	}

	// A function whose source this namespace never saw.
	other := NewNamespace(nil)
	if _, err := other.Exec(p.cthread, "<other>", "def z():\n    pass\n", false); err != nil {
		t.Fatal(err)
	}
	z, _ := other.Get("z")
	_, err = p.client.ExportFunction(z.(*starlark.Function))
	if !errors.Is(err, ErrNoSource) {
		t.Errorf("export of unknown function: %v", err)
	}
}

func TestShipTracebackLines(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<in7>", "x = 1\n\n\ndef boom(d):\n    y = 2\n    return y // d\n")
	fn := p.ship(t, "boom")
	_, err := starlark.Call(p.ethread, fn, starlark.Tuple{starlark.MakeInt(0)}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	bt := backtrace(err)
	if !strings.Contains(bt, "<in7>:6:") || !strings.Contains(bt, "in boom") {
		t.Errorf("backtrace does not name the client's line 6:\n%s", bt)
	}

	// A lambda on line 1 and a def on line 1 still build.
	p.execClient(t, "<in8>", "l1 = lambda: 1 // 0\n")
	p.execClient(t, "<in9>", "def d1():\n    return 1 // 0\n")
	for _, name := range []string{"l1", "d1"} {
		fn := p.ship(t, name)
		_, err := starlark.Call(p.ethread, fn, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "division by zero") {
			t.Errorf("%s: %v", name, err)
		}
	}
	bt = backtrace(func() error { _, err := starlark.Call(p.ethread, p.ship(t, "l1"), nil, nil); return err }())
	if !strings.Contains(bt, "<in8>:1:") {
		t.Errorf("lambda backtrace:\n%s", bt)
	}
}

// TestShipBack sends a function to the engine and the rebuilt function
// back to the client (as pull does).
func TestShipBack(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<in1>", "def mk(k):\n    def add(x, y=10):\n        return x + y + k\n    return add\nadd = mk(1)\n")
	fn := p.ship(t, "add")
	p.engine.Set("add2", fn)
	b, err := Encode(fn, p.engine.EncodeOptions())
	if err != nil {
		t.Fatalf("re-export: %v", err)
	}
	back, err := Decode(b, p.client.DecodeOptions(p.cthread))
	if err != nil {
		t.Fatalf("decode back: %v", err)
	}
	if got := p.call(t, p.cthread, back, "1"); got != "12" {
		t.Errorf("got %s, want 12", got)
	}
}

func TestExecErrorsAndValues(t *testing.T) {
	ns := NewNamespace(Modules())
	th := &starlark.Thread{Load: ns.Load}
	_, err := ns.Exec(th, "<in1>", "print(zz)\n", false)
	if err == nil || err.Error() != "name 'zz' is not defined" {
		t.Errorf("undefined name: %v", err)
	}
	v, err := ns.Exec(th, "<in2>", "a = 2\na * 21\n", true)
	if err != nil || v == nil || v.String() != "42" {
		t.Errorf("value of last expression: %v, %v", v, err)
	}
	v, err = ns.Exec(th, "<in3>", "a * 2\nb = 1\n", true)
	if err != nil || v != nil {
		t.Errorf("no value expected: %v, %v", v, err)
	}
	v, err = ns.Eval(th, "[a, b]")
	if err != nil || v.String() != "[2, 1]" {
		t.Errorf("eval: %v, %v", v, err)
	}
	if _, err := ns.Eval(th, "nope"); err == nil || err.Error() != "name 'nope' is not defined" {
		t.Errorf("eval of missing name: %v", err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ns.Globals().Keys()); diff != "" {
		t.Errorf("globals (-want +got):\n%s", diff)
	}
	ns.Clear()
	if len(ns.Globals()) != 0 {
		t.Errorf("globals after clear: %v", ns.Globals())
	}
	if _, ok := ns.Get("math"); !ok {
		t.Error("builtins lost by Clear")
	}
	_, err = ns.Exec(th, "<in4>", `load("os", "getenv")`, false)
	if err == nil || !strings.Contains(err.Error(), `module "os" not available on this engine`) {
		t.Errorf("load of os: %v", err)
	}
	_, err = ns.Exec(th, "<in5>", "x = (\n", false)
	if err == nil || !strings.Contains(err.Error(), "<in5>:") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestDecoratorLines(t *testing.T) {
	ns := NewNamespace(nil)
	th := &starlark.Thread{}
	src := "def twice(f):\n    return lambda x: f(f(x))\n@twice\ndef inc(x):\n    return x + 1\ny = inc(1) // 0\n"
	_, err := ns.Exec(th, "<d1>", src, false)
	if bt := backtrace(err); !strings.Contains(bt, "<d1>:6:") {
		t.Errorf("error line after a decorator:\n%s", bt)
	}
	_, err = ns.Exec(th, "<d2>", "\n@nosuch\ndef f():\n    pass\n", false)
	if bt := backtrace(err); !strings.Contains(bt, "<d2>:2:") || !strings.Contains(bt, "nosuch") {
		t.Errorf("error in a decorator:\n%s", bt)
	}
	_, err = ns.Exec(th, "<d3>", "@twice\nx = 1\n", false)
	if err == nil || !strings.Contains(err.Error(), "<d3>:1:1") {
		t.Errorf("decorator without def: %v", err)
	}
}

// TestShipBuiltin checks that predeclared builtins and module members
// travel by name and run the receiver's own builtin of that name.
func TestShipBuiltin(t *testing.T) {
	mod := func(tag string) starlark.StringDict {
		return starlark.StringDict{"sim": &starlarkstruct.Module{Name: "sim", Members: starlark.StringDict{
			"kernel": starlark.NewBuiltin("kernel", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
				return starlark.String(tag + args[0].String()), nil
			}),
		}}}
	}
	client, engine := NewNamespace(mod("client:")), NewNamespace(mod("engine:"))
	thread := &starlark.Thread{}
	for _, c := range []struct{ expr, want string }{
		{"sim.kernel", `"engine:7"`},
		{"len", "1"},
	} {
		v, err := client.Eval(thread, c.expr)
		if err != nil {
			t.Fatal(err)
		}
		arg := starlark.Value(starlark.MakeInt(7))
		if c.expr == "len" {
			arg = starlark.NewList([]starlark.Value{arg})
		}
		body, err := EncodeCall(v, starlark.Tuple{arg}, nil, client.EncodeOptions())
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		fn, args, kwargs, err := DecodeCall(body, engine.DecodeOptions(thread))
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		got, err := starlark.Call(thread, fn, args, kwargs)
		if err != nil || got.String() != c.want {
			t.Errorf("%s(7) on the engine = %v, %v; want %s", c.expr, got, err, c.want)
		}
	}
	method, _ := client.Eval(thread, "[].append")
	if _, err := Encode(method, client.EncodeOptions()); !errors.Is(err, ErrUnsendable) {
		t.Errorf("a method: %v, want ErrUnsendable", err)
	}
}

// A chunk run again under the same file name with other text defines
// other functions at the same places: each function keeps its own
// source, on the client and when the engine sends its copy back.
func TestShipRedefinedUnderOneName(t *testing.T) {
	p := newPair(t)
	p.execClient(t, "<job>", "def f():\n    return 1\ng = lambda: 10\n")
	p.execClient(t, "<keep>", "f1 = f\ng1 = g\n")
	p.execClient(t, "<job>", "def f():\n    return 2\ng = lambda: 20\n")
	for expr, want := range map[string]string{"f1": "1", "g1": "10", "f": "2", "g": "20"} {
		remote := p.ship(t, expr)
		if got := p.call(t, p.ethread, remote, ""); got != want {
			t.Errorf("%s on the engine = %s, want %s", expr, got, want)
		}
		b, err := Encode(remote, p.engine.EncodeOptions())
		if err != nil {
			t.Fatalf("engine's encode of %s: %v", expr, err)
		}
		back, err := Decode(b, p.client.DecodeOptions(p.cthread))
		if err != nil {
			t.Fatalf("client's decode of %s: %v", expr, err)
		}
		if got := p.call(t, p.cthread, back, ""); got != want {
			t.Errorf("%s sent back by the engine = %s, want %s", expr, got, want)
		}
	}
}

// BenchmarkExportFunction exports a function defined at the end of a
// chunk of 2,000 other functions, as a long script's apply does on each
// call.
func BenchmarkExportFunction(b *testing.B) {
	ns := NewNamespace(nil)
	var src strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&src, "def f%d(x):\n    return x + %d\n", i, i)
	}
	src.WriteString("def noop():\n    return None\n")
	th := &starlark.Thread{}
	if _, err := ns.Exec(th, "<long>", src.String(), false); err != nil {
		b.Fatal(err)
	}
	fn, _ := ns.Get("noop")
	for b.Loop() {
		if _, err := ns.ExportFunction(fn.(*starlark.Function)); err != nil {
			b.Fatal(err)
		}
	}
}
