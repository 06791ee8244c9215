package starlarklib

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// buildFn builds src (a lambda, or a def named f) as an engine builds a
// received function.
func buildFn(t *testing.T, ns *Namespace, thread *starlark.Thread, src string) *starlark.Function {
	t.Helper()
	name := "lambda"
	if strings.HasPrefix(src, "def ") {
		name = "f"
	}
	v, err := ns.BuildFunction(thread, &protocol.Function{Name: name, Source: src, File: "<test>", Line: 1, Col: 1})
	if err != nil {
		t.Fatal(err)
	}
	return v.(*starlark.Function)
}

// The fast form of a function gives what calling it gives: the same
// value, or an error where the call fails.
func TestFastExprMatchesCall(t *testing.T) {
	ns := NewNamespace(Modules())
	thread := &starlark.Thread{Name: "test"}
	inputs := eval(t, `[0, 1, -7, 2147483647, 1 << 70, -(1 << 70), 2.5, -0.0, float("nan"), "ab", b"xy",
		True, False, None, [1, 2], (3,), {"a": 1}, "", 3,
		46340, 46341, -46341, 2147483647, 2147483648, -2147483648, -2147483649, 3037000499, 3037000500,
		(1 << 62), (1 << 63) - 1, -(1 << 63), 1 << 63, -(1 << 63) - 1]`).(*starlark.List)
	for _, src := range []string{
		"lambda x: x*x", "lambda x: x + 1", "lambda x: -x", "lambda x: +x", "lambda x: ~x",
		"lambda x: not x", "lambda x: x / 2", "lambda x: x // 0", "lambda x: x % 3", "lambda x: 7 % x",
		"lambda x: x << 2", "lambda x: x >> 1", "lambda x: x & 6 | 1 ^ x", "lambda x: x == 1", "lambda x: x != 'ab'",
		"lambda x: x < 3", "lambda x: x >= 2.5", "lambda x: 1 in x", "lambda x: 'a' not in x",
		"lambda x: x and 5", "lambda x: x or 'no'", "lambda x: 'big' if x > 10 else 'small'", "lambda x: (x * 3) - 1",
		"lambda x: x * 'ab'", "lambda x: x + b'z'", "lambda x: 1.5 * x", "lambda x: 1 << 80",
		"def f(x):\n    return x * x + 1", "lambda x: x + x", "lambda x: x - 1", "lambda x: 1 - x",
		"lambda x: -x * x", "lambda x: x * -1", "lambda x: x * 3037000500", "lambda x: x * x - x * x",
	} {
		fn := buildFn(t, ns, thread, src)
		fast := fastOf(fn)
		if fast == nil {
			t.Fatalf("%s: no fast form", src)
		}
		for i := range inputs.Len() {
			args := starlark.Tuple{inputs.Index(i)}
			want, werr := starlark.Call(thread, fn, args, nil)
			got, gerr := fast.eval(new(fastEnv), args)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s(%s): call %v, %v; fast %v, %v", src, args[0], want, werr, got, gerr)
			}
			if werr == nil && (got.Type() != want.Type() || got.String() != want.String()) {
				t.Fatalf("%s(%s): call %s %s; fast %s %s", src, args[0], want.Type(), want, got.Type(), got)
			}
		}
	}
	two := buildFn(t, ns, thread, "lambda x, y: x * 10 + y")
	got, err := fastOf(two).eval(new(fastEnv), starlark.Tuple{starlark.MakeInt(4), starlark.MakeInt(2)})
	if err != nil || got.String() != "42" {
		t.Fatalf("two parameters: %v, %v", got, err)
	}
}

// Functions with anything but parameters, constants and operators in
// their one expression have no fast form.
func TestFastExprDeclines(t *testing.T) {
	ns := NewNamespace(Modules())
	thread := &starlark.Thread{Name: "test"}
	if _, err := ns.Exec(thread, "<test>", "y = 3", false); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"lambda x: len(x)", "lambda x: x[0]", "lambda x: x.real", "lambda x: y", "lambda x, z=1: x + z",
		"lambda *a: a", "lambda **k: k", "lambda x: [x]", "lambda x: x in [1, 2]", "lambda x: (x, x)", "lambda x: None", "lambda x: True",
		"lambda x: [a for a in x]", "lambda: 1",
		"def f(x):\n    z = x\n    return z", "def f(x):\n    return", "def f(x):\n    print(x)\n    return x",
	} {
		if fn := buildFn(t, ns, thread, src); fastOf(fn) != nil && src != "lambda: 1" {
			t.Errorf("%s: has a fast form", src)
		}
	}
}

// A map chunk with a fast function keeps the thread's step limit and
// cancellation, and a failing element gives the error of the Starlark
// function it replaces.
func TestMapChunkFastLimits(t *testing.T) {
	ns := NewNamespace(Modules())
	thread := &starlark.Thread{Name: "test"}
	sq := buildFn(t, ns, thread, "lambda x: 100 // (x - 700)")
	xs := eval(t, "list(range(1000))")
	g, err := starlark.ExecFile(thread, "<pxsh map>", mapChunkSource, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, want := starlark.Call(thread, g["pxsh_map"], starlark.Tuple{sq, xs}, nil)
	_, got := starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{sq, xs}, nil)
	if want == nil || got == nil || !strings.Contains(got.Error(), "division by zero") {
		t.Fatalf("error: got %v, want %v", got, want)
	}
	if g, w := got.(*starlark.EvalError).Backtrace(), want.(*starlark.EvalError).Backtrace(); !strings.Contains(g, "<test>:1:") {
		t.Fatalf("backtrace\n%s\nwant the lambda's line as in\n%s", g, w)
	}

	sq = buildFn(t, ns, thread, "lambda x: x*x")
	limited := &starlark.Thread{Name: "limited"}
	limited.SetMaxExecutionSteps(5000)
	_, err = starlark.Call(limited, mapChunkBuiltin, starlark.Tuple{sq, eval(t, "list(range(100000))")}, nil)
	if err == nil || !strings.Contains(err.Error(), "too many steps") {
		t.Fatalf("step limit: %v", err)
	}
	if limited.Steps > 5000+64*3+100 {
		t.Fatalf("%d steps ran, limit 5000", limited.Steps)
	}
	cancelled := &starlark.Thread{Name: "cancelled"}
	cancelled.Cancel("stop")
	if _, err := starlark.Call(cancelled, mapChunkBuiltin, starlark.Tuple{sq, eval(t, "list(range(100000))")}, nil); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancelled: %v", err)
	}
	out, err := starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{sq, eval(t, "range(50000, 50100)")}, nil)
	if err != nil || out.(*starlark.List).Index(99).String() != "2509909801" {
		t.Fatalf("results: %v", err)
	}
}

// BenchmarkMapChunkFast50k is BenchmarkMapChunk50k with lambda x: x*x
// built as an engine builds a received function (so with its fast form),
// over the second chunk of range(100000), whose squares are beyond int32.
func BenchmarkMapChunkFast50k(b *testing.B) {
	ns := NewNamespace(Modules())
	thread := &starlark.Thread{Name: "bench"}
	sq, err := ns.BuildFunction(thread, &protocol.Function{Name: "lambda", Source: "lambda x: x * x", File: "<bench>", Line: 1, Col: 1})
	if err != nil {
		b.Fatal(err)
	}
	xs, err := starlark.Eval(thread, "<bench>", "range(50000, 100000)", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{sq, xs}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
