package clientlib

import (
	"fmt"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// RemoteFunction is a function bound to a view: calling it runs apply on
// the view's engines (view.remote), or, for a parallel function
// (view.parallel), splits its sequence arguments into one contiguous chunk
// per engine, calls the function on each chunk and concatenates the
// results. It keeps the wrapped function's name and doc.
type RemoteFunction struct {
	view     *DirectView
	fn       starlark.Callable
	block    starlark.Value // None: the view's flag at call time
	parallel bool
}

var (
	_ starlark.Callable = (*RemoteFunction)(nil)
	_ starlark.HasAttrs = (*RemoteFunction)(nil)
)

// Name returns the wrapped function's name.
func (rf *RemoteFunction) Name() string { return rf.fn.Name() }

// String returns "<RemoteFunction name>" or "<ParallelFunction name>".
func (rf *RemoteFunction) String() string { return fmt.Sprintf("<%s %s>", rf.Type(), rf.fn.Name()) }

// Type returns "RemoteFunction" or "ParallelFunction".
func (rf *RemoteFunction) Type() string {
	if rf.parallel {
		return "ParallelFunction"
	}
	return "RemoteFunction"
}

// Freeze does nothing.
func (rf *RemoteFunction) Freeze() {}

// Truth is True.
func (rf *RemoteFunction) Truth() starlark.Bool { return true }

// Hash fails: a RemoteFunction is unhashable.
func (rf *RemoteFunction) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", rf.Type()) }

// doc is ipyparallel's docstring of a remote function: the kind, then the
// wrapped function's docstring.
func (rf *RemoteFunction) doc() string {
	d := rf.Type() + " wrapping " + rf.fn.Name()
	if f, ok := rf.fn.(*starlark.Function); ok && f.Doc() != "" {
		d += ":\n\n" + f.Doc()
	}
	return d
}

// Attr returns __name__, __doc__, func, view, block and (parallel) map.
func (rf *RemoteFunction) Attr(name string) (starlark.Value, error) {
	switch name {
	case "__name__", "name":
		return starlark.String(rf.fn.Name()), nil
	case "__doc__", "doc":
		return starlark.String(rf.doc()), nil
	case "func":
		return rf.fn, nil
	case "view":
		return rf.view, nil
	case "block":
		return rf.block, nil
	case "map":
		if rf.parallel {
			return starlark.NewBuiltin("map", rf.mapBuiltin), nil
		}
	}
	return nil, nil
}

// AttrNames lists the attributes.
func (rf *RemoteFunction) AttrNames() []string {
	names := []string{"__doc__", "__name__", "block", "doc", "func", "name", "view"}
	if rf.parallel {
		names = append(names, "map")
	}
	return names
}

func (rf *RemoteFunction) blocking() bool {
	if b, ok := rf.block.(starlark.Bool); ok {
		return bool(b)
	}
	return rf.view.block
}

// CallInternal runs the function on the view's engines.
func (rf *RemoteFunction) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := rf.view
	targets := v.Targets()
	if len(targets) == 0 {
		return nil, errNoEngines
	}
	eo := v.rc.env.NS.EncodeOptions()
	req := protocol.Request{Kind: protocol.KindApply, Name: rf.fn.Name(), Label: rf.view.label}
	if !rf.parallel {
		body, err := starlarklib.EncodeCall(rf.fn, args, kwargs, eo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rf.fn.Name(), err)
		}
		ar, err := v.rc.submit(req, body, targets, v.single)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rf.fn.Name(), err)
		}
		return result(thread, ar, rf.blocking())
	}
	if len(args) == 0 {
		return nil, &namedError{"TypeError", rf.fn.Name() + ": a parallel function needs at least one sequence argument"}
	}
	parts := make([]func(lo, hi int) starlark.Value, len(args))
	n := -1
	var lens []int
	for i, a := range args {
		var l int
		switch x := a.(type) {
		case starlark.String:
			rs := []rune(string(x))
			l, parts[i] = len(rs), func(lo, hi int) starlark.Value { return starlark.String(string(rs[lo:hi])) }
		case starlark.Tuple:
			l, parts[i] = len(x), func(lo, hi int) starlark.Value { return x[lo:hi:hi] }
		default:
			vals, err := seqValues(a, rf.fn.Name())
			if err != nil {
				return nil, err
			}
			l, parts[i] = len(vals), func(lo, hi int) starlark.Value { return starlark.NewList(vals[lo:hi:hi]) }
		}
		lens = append(lens, l)
		if n >= 0 && l != n {
			return nil, &namedError{"ValueError", fmt.Sprintf("all sequences must have equal length, but have %v", lens)}
		}
		n = l
	}
	var bodies [][]byte
	var engines []int
	for i, c := range client.Chunks(n, len(targets)) {
		if c[0] == c[1] {
			continue
		}
		cargs := make(starlark.Tuple, len(args))
		for j, p := range parts {
			cargs[j] = p(c[0], c[1])
		}
		body, err := starlarklib.EncodeCall(rf.fn, cargs, kwargs, eo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rf.fn.Name(), err)
		}
		bodies = append(bodies, body)
		engines = append(engines, targets[i])
	}
	ar, err := v.rc.submitEach(req, bodies, engines, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rf.fn.Name(), err)
	}
	ar.res.Combine = client.CombineGather
	return result(thread, ar, rf.blocking())
}

// mapBuiltin implements pf.map(*seqs): an element-wise map on the view.
func (rf *RemoteFunction) mapBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, &namedError{"TypeError", "map: unexpected keyword arguments"}
	}
	if len(args) == 0 {
		return nil, &namedError{"TypeError", "map: want at least one sequence"}
	}
	seqs, n, err := directSeqs("map", args)
	if err != nil {
		return nil, err
	}
	ar, err := rf.view.rc.mapSubmit(rf.fn, args, seqs, n, rf.view.Targets(), rf.view.label)
	if err != nil {
		return nil, fmt.Errorf("%s.map: %w", rf.fn.Name(), err)
	}
	return result(thread, ar, rf.blocking())
}

// viewRemote implements view.remote(block=None): a decorator that makes a
// RemoteFunction.
func viewRemote(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return makeDecorator(b, args, kwargs, false)
}

// viewParallel implements view.parallel(dist='b', block=None).
func viewParallel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return makeDecorator(b, args, kwargs, true)
}

func makeDecorator(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, parallel bool) (starlark.Value, error) {
	v := recvView(b)
	var block starlark.Value = starlark.None
	var f starlark.Value = starlark.None
	dist := "b"
	var err error
	if parallel {
		err = starlark.UnpackArgs(b.Name(), args, kwargs, "f?", &f, "dist?", &dist, "block?", &block)
	} else {
		err = starlark.UnpackArgs(b.Name(), args, kwargs, "f?", &f, "block?", &block)
	}
	if err != nil {
		return nil, err
	}
	if dist != "b" {
		return nil, &namedError{"ValueError", fmt.Sprintf("%s: dist %q is not supported (only 'b')", b.Name(), dist)}
	}
	if _, ok := block.(starlark.Bool); !ok && block != starlark.None {
		return nil, &namedError{"TypeError", fmt.Sprintf("%s: block must be a bool or None, not %s", b.Name(), block.Type())}
	}
	wrap := func(f starlark.Value) (starlark.Value, error) {
		c, ok := f.(starlark.Callable)
		if !ok {
			return nil, &namedError{"TypeError", fmt.Sprintf("%s: %s is not callable", b.Name(), f.Type())}
		}
		return &RemoteFunction{view: v, fn: c, block: block, parallel: parallel}, nil
	}
	if f != starlark.None {
		return wrap(f)
	}
	return starlark.NewBuiltin(b.Name(), func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 1 || len(kwargs) != 0 {
			return nil, &namedError{"TypeError", b.Name() + ": the decorator takes one function"}
		}
		return wrap(args[0])
	}), nil
}
