package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// mapChunkSource is the source of the function a map task runs on an
// engine (client.MapChunkFunction). BuildFunction recognises it and
// returns mapChunk, the same in Go: calling f from a Go loop costs about
// 60% of a Starlark comprehension per element (50,000 calls of
// lambda x: x*x: 12 against 20 ms), and the engines' calls are the floor
// of a map.
const mapChunkSource = `def pxsh_map(f, *seqs):
    if len(seqs) == 1:
        return [f(x) for x in seqs[0]]
    return [f(*a) for a in zip(*seqs)]`

// IsMapChunk reports whether f is the map chunk function that
// BuildFunction runs in Go.
func IsMapChunk(f *protocol.Function) bool {
	return f.Name == "pxsh_map" && f.File == "<pxsh map>" && f.Source == mapChunkSource &&
		len(f.Free) == 0 && len(f.Defaults) == 0
}

var mapChunkBuiltin = starlark.NewBuiltin("pxsh_map", mapChunk)

// mapChunk is pxsh_map(f, *seqs): [f(x) for x in seqs[0]] for one
// sequence, [f(*a) for a in zip(*seqs)] for several.
func mapChunk(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 || len(args) < 2 {
		return nil, fmt.Errorf("%s: want a function and at least one sequence, no keyword arguments", b.Name())
	}
	f, seqs := args[0], args[1:]
	iters := make([]starlark.Iterator, len(seqs))
	for i, s := range seqs {
		it := starlark.Iterate(s)
		if it == nil {
			return nil, fmt.Errorf("%s: %s value is not iterable", b.Name(), s.Type())
		}
		defer it.Done()
		iters[i] = it
	}
	var out []starlark.Value
	if l, ok := seqs[0].(starlark.Sequence); ok {
		out = make([]starlark.Value, 0, l.Len())
	}
	// A Starlark function copies its arguments into its frame and never
	// keeps the tuple (a *args parameter gets a new tuple), so one tuple
	// serves every call; other callables (a builtin may keep its
	// arguments) get a tuple each.
	fn, reuse := f.(*starlark.Function)
	var fast *fastExpr
	if reuse {
		if fast = fastOf(fn); fast != nil && fast.nparams != len(iters) {
			fast = nil
		}
	}
	a := make(starlark.Tuple, len(iters))
	env := new(fastEnv)
	for k := 0; ; k++ {
		if !reuse {
			a = make(starlark.Tuple, len(iters))
		}
		for i, it := range iters {
			if !it.Next(&a[i]) {
				return starlark.NewList(out), nil
			}
		}
		v, err := callOne(thread, f, fast, env, a, k)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// fastCheckEvery is how often a map chunk with a fast function calls it
// through Starlark anyway: that call checks the thread's cancellation
// and step limit (the fast calls add their steps to thread.Steps).
const fastCheckEvery = 64

// callOne calls f on a, the chunk's k-th element: through its fast form
// when it has one, except every fastCheckEvery-th element and when the
// fast form fails (the Starlark call then gives the error with its
// traceback; the expression is pure, so evaluating it again is safe).
func callOne(thread *starlark.Thread, f starlark.Value, fast *fastExpr, env *fastEnv, a starlark.Tuple, k int) (starlark.Value, error) {
	if fast != nil && k%fastCheckEvery != 0 {
		thread.Steps += fast.steps
		if v, err := fast.eval(env, a); err == nil {
			return v, nil
		}
	}
	return starlark.Call(thread, f, a, nil)
}
