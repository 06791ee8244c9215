package engine

import (
	"context"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
)

func cborBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := protocol.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run runs one task and fails the test on a transport-level surprise.
func run(t *testing.T, in *Interp, ctx context.Context, kind protocol.Kind, silent bool, body []byte) (protocol.Result, starlark.Value) {
	t.Helper()
	res, out := in.Run(ctx, &protocol.Request{MsgID: "m", Kind: kind, Silent: silent}, body)
	if res.Engine != 3 || res.Kind != kind || res.MsgID != "m" || res.Started == 0 || res.Completed < res.Started {
		t.Errorf("bad header %+v", res)
	}
	if !res.HasValue {
		return res, nil
	}
	v, err := starlarklib.Decode(out, nil)
	if err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return res, v
}

func exec(t *testing.T, in *Interp, code string) (protocol.Result, starlark.Value) {
	t.Helper()
	return run(t, in, context.Background(), protocol.KindExecute, false, cborBody(t, code))
}

func mustOK(t *testing.T, res protocol.Result) {
	t.Helper()
	if res.Status != protocol.StatusOK || res.Error != nil {
		t.Fatalf("task failed: %+v %+v", res, res.Error)
	}
}

func newInterp(maxSteps uint64) *Interp {
	return NewInterp(InterpConfig{ID: 3, Host: "h", PID: 42, MaxSteps: maxSteps})
}

func TestInterpPersistence(t *testing.T) {
	in := newInterp(0)
	res, _ := exec(t, in, "a = [1]")
	mustOK(t, res)
	res, _ = exec(t, in, "a.append(2)\nx = 1\ndef f():\n    return x\n")
	mustOK(t, res)
	res, _ = exec(t, in, "x = 2\nprint('a is', a)\nprint(engine.id, engine.pid, engine.host)")
	mustOK(t, res)
	if res.Stdout != "a is [1, 2]\n3 42 h\n" {
		t.Errorf("stdout %q", res.Stdout)
	}
	res, v := exec(t, in, "f() * 10")
	mustOK(t, res)
	if !res.HasValue || v.String() != "20" || res.ExecCount != 4 {
		t.Errorf("value %v count %d (late binding wants 20)", v, res.ExecCount)
	}
	res, _ = run(t, in, context.Background(), protocol.KindExecute, true, cborBody(t, "f()"))
	mustOK(t, res)
	if res.HasValue {
		t.Error("silent execute returned a value")
	}
	res, v = run(t, in, context.Background(), protocol.KindPull, false, cborBody(t, []string{"a", "a[0]"}))
	mustOK(t, res)
	if v.String() != "[[1, 2], 1]" {
		t.Errorf("pull = %v", v)
	}
}

func TestInterpErrors(t *testing.T) {
	in := newInterp(0)
	cases := []struct{ code, name, msg string }{
		{"1 // 0", "ZeroDivisionError", "floored division by zero"},
		{"print(zz)", "NameError", "name 'zz' is not defined"},
		{"{}['k']", "KeyError", `key "k" not in dict`},
		{"[][1]", "IndexError", "index 1 out of range: empty list"},
		{"1 + 'a'", "TypeError", "int + string"},
		{"int('x')", "ValueError", ""},
		{"fail('boom')", "Error", "boom"},
		{"x = (", "SyntaxError", "<px-in"},
		{`load("os", "getenv")`, "Error", `module "os" not available on this engine`},
	}
	for _, c := range cases {
		res, _ := exec(t, in, c.code)
		if res.Status != protocol.StatusError || res.Error == nil {
			t.Errorf("%s: no error", c.code)
			continue
		}
		e := res.Error
		if e.Name != c.name || !strings.Contains(e.Message, c.msg) || e.Engine != 3 || e.Method != "execute" {
			t.Errorf("%s: got %+v, want %s: %s", c.code, e, c.name, c.msg)
		}
	}
	res, _ := exec(t, in, "def g():\n    return 1 // 0\ng()")
	if res.Error == nil || !strings.Contains(res.Error.Traceback, "in g") {
		t.Errorf("traceback: %+v", res.Error)
	}
	res, _ = run(t, in, context.Background(), protocol.KindPull, false, cborBody(t, "zz"))
	if res.Error == nil || res.Error.Name != "NameError" || res.Error.Message != "name 'zz' is not defined" || res.Error.Method != "pull" {
		t.Errorf("pull of a missing name: %+v", res.Error)
	}
}

func TestInterpStepBudget(t *testing.T) {
	in := newInterp(10000)
	res, _ := exec(t, in, "n = 0\nwhile True:\n    n += 1\n")
	if res.Error == nil || res.Error.Message != "execution step budget of 10000 steps exceeded" {
		t.Fatalf("got %+v", res.Error)
	}
	res, v := exec(t, in, "n > 0")
	mustOK(t, res)
	if v != starlark.True {
		t.Errorf("partial state lost: %v", v)
	}
}

func TestInterpCancel(t *testing.T) {
	in := newInterp(0)
	for _, code := range []string{"while True:\n    pass\n", "time.sleep(30)"} {
		ctx, cancel := context.WithCancelCause(context.Background())
		timer := time.AfterFunc(20*time.Millisecond, func() { cancel(&CancelError{Name: "TaskAborted", Message: "aborted by client"}) })
		start := time.Now()
		res, _ := run(t, in, ctx, protocol.KindExecute, true, cborBody(t, code))
		timer.Stop()
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q: cancel took %v", code, d)
		}
		if res.Error == nil || res.Error.Name != "TaskAborted" || res.Status != protocol.StatusAborted {
			t.Errorf("%q: got %+v", code, res.Error)
		}
		res, v := exec(t, in, "1 + 1")
		mustOK(t, res)
		if v.String() != "2" {
			t.Errorf("next task: %v", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, _ := run(t, in, ctx, protocol.KindExecute, true, cborBody(t, "1"))
	if res.Error == nil || res.Error.Name != "TaskCancelled" {
		t.Errorf("plain cancel: %+v", res.Error)
	}
}

func TestInterpApplyPushModules(t *testing.T) {
	in := newInterp(0)
	res, _ := run(t, in, context.Background(), protocol.KindModules, false,
		cborBody(t, map[string]string{"util.star": "def sq(x):\n    return x * x\n"}))
	mustOK(t, res)
	push, err := starlarklib.Encode(starlark.NewDict(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := starlark.NewDict(1)
	_ = d.SetKey(starlark.String("b"), starlark.MakeInt(5))
	if push, err = starlarklib.Encode(d, nil); err != nil {
		t.Fatal(err)
	}
	res, _ = run(t, in, context.Background(), protocol.KindPush, false, push)
	mustOK(t, res)
	res, v := exec(t, in, "load('util.star', 'sq')\nsq(b)")
	mustOK(t, res)
	if v.String() != "25" {
		t.Errorf("sq(b) = %v", v)
	}

	// apply a client function that uses the engine's b.
	client := starlarklib.NewNamespace(starlarklib.Modules())
	th := &starlark.Thread{}
	if _, err := client.Exec(th, "<in1>", "f = lambda x, y=2: x * y + b\n", false); err != nil {
		t.Fatal(err)
	}
	f, _ := client.Get("f")
	call, err := starlarklib.EncodeCall(f, starlark.Tuple{starlark.MakeInt(10)}, nil, client.EncodeOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, v = run(t, in, context.Background(), protocol.KindApply, false, call)
	mustOK(t, res)
	if v.String() != "25" || res.ExecCount != 2 {
		t.Errorf("apply = %v, count %d", v, res.ExecCount)
	}

	res, _ = run(t, in, context.Background(), protocol.KindClear, false, nil)
	mustOK(t, res)
	res, _ = exec(t, in, "load('util.star', 'sq')")
	if res.Error == nil || !strings.Contains(res.Error.Message, "not available") {
		t.Errorf("load after clear: %+v", res.Error)
	}
	res, _ = exec(t, in, "b")
	if res.Error == nil || res.Error.Name != "NameError" {
		t.Errorf("b after clear: %+v", res.Error)
	}
}

func TestShippedFunctionMissingGlobalIsNameError(t *testing.T) {
	client := starlarklib.NewNamespace(nil)
	th := &starlark.Thread{}
	if _, err := client.Exec(th, "<client>", "f = lambda: zz", false); err != nil {
		t.Fatal(err)
	}
	f, _ := client.Get("f")
	body, err := starlarklib.EncodeCall(f, nil, nil, client.EncodeOptions())
	if err != nil {
		t.Fatal(err)
	}
	in := NewInterp(InterpConfig{ID: 3})
	res, _ := in.Run(context.Background(), &protocol.Request{Kind: protocol.KindApply}, body)
	if res.Error == nil || res.Error.Name != "NameError" || res.Error.Message != "name 'zz' is not defined" {
		t.Fatalf("error = %+v, want NameError: name 'zz' is not defined", res.Error)
	}
}

func TestInterpCatch(t *testing.T) {
	in := newInterp(0)
	res, v := exec(t, in, "e = catch(lambda: 1 // 0)\nok = catch(lambda x: x + 1, 1)\n[bool(e), e.ename, e.engine_id, ok]")
	mustOK(t, res)
	if v.String() != `[False, "ZeroDivisionError", 3, 2]` {
		t.Errorf("catch on the engine: %v", v)
	}
}

// TestRunPartsLargeValue: a pulled or returned large bytes value is a
// part of the result that points at the engine's value, not a copy, and
// the parts join to the value's encoding (Run joins them).
func TestRunPartsLargeValue(t *testing.T) {
	in := newInterp(0)
	ctx := context.Background()
	big := strings.Repeat("xy", starlarklib.PartMin)
	d := starlark.NewDict(1)
	d.SetKey(starlark.String("big"), starlark.Bytes(big))
	push, err := starlarklib.Encode(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, in, ctx, protocol.KindPush, false, push); res.Status != protocol.StatusOK {
		t.Fatalf("push: %+v", res.Error)
	}
	held, _ := in.ns.Get("big")
	for _, kind := range []protocol.Kind{protocol.KindPull, protocol.KindExecute} {
		body := cborBody(t, "big")
		res, parts := in.RunParts(ctx, &protocol.Request{MsgID: "m", Kind: kind}, body)
		if res.Status != protocol.StatusOK || len(parts) != 2 {
			t.Fatalf("%s: status %s, %d parts, want 2", kind, res.Status, len(parts))
		}
		if unsafe.SliceData(parts[1]) != unsafe.StringData(string(held.(starlark.Bytes))) {
			t.Errorf("%s: the value's part is a copy", kind)
		}
		_, joined := run(t, in, ctx, kind, false, body)
		if joined != starlark.Bytes(big) {
			t.Errorf("%s: Run's value differs", kind)
		}
	}
}
