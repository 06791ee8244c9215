package starlarklib

import (
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// A function shipped again reuses its wrapper function, and still sees
// the namespace as it is when it runs, and its own free variables.
func TestBuiltFunctionsSeeNamespaceLate(t *testing.T) {
	ns := NewNamespace(Modules())
	thread := &starlark.Thread{Name: "test"}
	call := func(f *protocol.Function) starlark.Value {
		t.Helper()
		fn, err := ns.BuildFunction(thread, f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := starlark.Call(thread, fn, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	g := &protocol.Function{Name: "lambda", Source: "lambda: x", File: "<test>", Line: 1, Col: 1}
	for i := range 3 {
		ns.Set("x", starlark.MakeInt(i))
		if v := call(g); !same(v, starlark.MakeInt(i)) {
			t.Errorf("call %d: x = %v, want %d", i, v, i)
		}
	}
	if len(ns.wraps) != 1 {
		t.Errorf("%d wrapper functions made, want 1", len(ns.wraps))
	}
	for i := range 3 {
		f := &protocol.Function{Name: "lambda", Source: "lambda: y", File: "<test>", Line: 1, Col: 1,
			Free: []protocol.Binding{{Name: "y", Value: enc(t, starlark.MakeInt(10+i))}}}
		if v := call(f); !same(v, starlark.MakeInt(10+i)) {
			t.Errorf("free y = %v, want %d", v, 10+i)
		}
	}
}

func enc(t *testing.T, v starlark.Value) []byte {
	t.Helper()
	b, err := Encode(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
