package numpy

import (
	"fmt"
	"runtime/debug"
	"sort"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// TestNoPanics calls every function and method with assorted arguments:
// errors are fine, a panic would kill an engine.
func TestNoPanics(t *testing.T) {
	mod := New()
	pool := []starlark.Value{
		starlark.None,
		starlark.MakeInt(0),
		starlark.MakeInt(-3),
		starlark.MakeInt(2),
		starlark.Float(0.5),
		starlark.String("x"),
		starlark.String(":, 0"),
		starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.MakeInt(2)}),
		starlark.Tuple{starlark.MakeInt(2), starlark.MakeInt(2)},
		NewFloat64([]int{3}, []float64{1, -2, 3}),
		NewFloat64([]int{2, 2}, []float64{1, 2, 3, 4}),
		NewFloat64([]int{2, 3}, []float64{1, 2, 3, 4, 5, 6}),
		NewFloat64([]int{0}, []float64{}),
		NewFloat64([]int{0, 2}, []float64{}),
		NewInt64([]int{}, []int64{4}),
		NewInt64([]int{2, 1, 2}, []int64{1, 2, 3, 4}),
		NewBool([]int{3}, []bool{true, false, true}),
		NewComplex128([]int{2}, []complex128{1, complex(0, 1)}),
	}
	kwargSets := [][]starlark.Tuple{
		nil,
		{{starlark.String("axis"), starlark.MakeInt(0)}},
		{{starlark.String("axis"), starlark.MakeInt(-1)}},
		{{starlark.String("axis"), starlark.MakeInt(7)}},
		{{starlark.String("axis"), starlark.None}, {starlark.String("keepdims"), starlark.True}},
	}
	thread := &starlark.Thread{Name: "robust"}
	call := func(name string, fn starlark.Value, args starlark.Tuple, kw []starlark.Tuple) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s(%v, %v) panicked: %v\n%s", name, args, kw, r, debug.Stack())
			}
		}()
		starlark.Call(thread, fn, args, kw)
	}
	var names []string
	fns := map[string]starlark.Value{}
	for k, v := range mod.Members {
		switch m := v.(type) {
		case *starlark.Builtin:
			fns[k] = m
		case *starlarkstruct.Module:
			for k2, v2 := range m.Members {
				fns[k+"."+k2] = v2
			}
		case *randomModule:
			for k2, v2 := range m.members {
				{
					fns["random."+k2] = v2
				}
			}
		}
	}
	for k := range fns {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := fns[name]
		call(name, fn, nil, nil)
		for _, x := range pool {
			for _, kw := range kwargSets {
				call(name, fn, starlark.Tuple{x}, kw)
			}
			for _, y := range pool {
				call(name, fn, starlark.Tuple{x, y}, nil)
			}
		}
		for i, x := range pool {
			y, z := pool[(i*7+3)%len(pool)], pool[(i*5+1)%len(pool)]
			call(name, fn, starlark.Tuple{x, y, z}, nil)
		}
	}
	// Methods, indexing and operators of every array in the pool.
	for _, v := range pool {
		a, ok := v.(*Array)
		if !ok {
			continue
		}
		for _, m := range a.AttrNames() {
			attr, err := a.Attr(m)
			if err != nil {
				continue
			}
			if fn, ok := attr.(*starlark.Builtin); ok {
				name := fmt.Sprintf("%s.%s", a.String(), m)
				call(name, fn, nil, nil)
				for _, x := range pool {
					call(name, fn, starlark.Tuple{x}, nil)
					call(name, fn, starlark.Tuple{x, x}, nil)
				}
			}
		}
		for _, x := range pool {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s index or operator with %s panicked: %v\n%s", a, x, r, debug.Stack())
					}
				}()
				a.Get(x)
				a.copyArray().SetKey(x, starlark.MakeInt(1))
				a.copyArray().SetKey(x, x)
				a.Has(x)
				for _, op := range []string{"+", "-", "*", "/", "//", "%", "&", "|", "^", "<<", ">>"} {
					starlark.EvalOptions(&syntax.FileOptions{}, thread, "op", "a "+op+" x", starlark.StringDict{"a": a, "x": x})
					starlark.EvalOptions(&syntax.FileOptions{}, thread, "op", "x "+op+" a", starlark.StringDict{"a": a, "x": x})
				}
				starlark.EvalOptions(&syntax.FileOptions{}, thread, "op", "(-a, ~a, +a, a == x, len(a), [e for e in a], str(a))", starlark.StringDict{"a": a, "x": x})
			}()
		}
		a.Slice(0, a.Len(), 1)
	}
}
