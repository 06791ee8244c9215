package clientlib

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// mapChunkWire is client.MapChunkFunction in its wire form (a tagged
// Function).
var mapChunkWire = mustMarshal(cbor.Tag{Number: protocol.TagFunction, Content: client.MapChunkFunction()})

func mustMarshal(v any) []byte {
	b, err := protocol.MarshalValue(v)
	if err != nil {
		panic(err) // a constant value: a programmer error
	}
	return b
}

// encodeWrappedCall encodes an apply body whose function is the encoded
// wire function fn and whose arguments are args.
func encodeWrappedCall(fn []byte, args starlark.Tuple, o *starlarklib.EncodeOptions) ([]byte, error) {
	b, err := starlarklib.EncodeCall(starlark.None, args, nil, o)
	if err != nil {
		return nil, err
	}
	// b is [0x83 (array of 3), 0xf6 (None), args..., kwargs]: swap None
	// for fn.
	if len(b) < 2 || b[0] != 0x83 || b[1] != 0xf6 {
		return nil, fmt.Errorf("encode call: unexpected layout")
	}
	out := make([]byte, 0, len(b)+len(fn))
	out = append(out, 0x83)
	out = append(out, fn...)
	return append(out, b[2:]...), nil
}

// seqValues returns the elements of any iterable (a string gives its
// characters).
func seqValues(v starlark.Value, what string) ([]starlark.Value, error) {
	switch x := v.(type) {
	case starlark.String:
		var out []starlark.Value
		for _, r := range string(x) {
			out = append(out, starlark.String(string(r)))
		}
		return out, nil
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = x.Index(i)
		}
		return out, nil
	case starlark.Tuple:
		return append([]starlark.Value(nil), x...), nil
	case starlark.Iterable:
		var out []starlark.Value
		if s, ok := v.(starlark.Sequence); ok {
			out = make([]starlark.Value, 0, s.Len())
		}
		it := x.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			out = append(out, e)
		}
		return out, nil
	}
	return nil, &namedError{"TypeError", fmt.Sprintf("%s: %s is not iterable", what, v.Type())}
}

// popKw removes keyword name from kwargs and returns its value (nil when
// absent).
func popKw(kwargs []starlark.Tuple, name string) (starlark.Value, []starlark.Tuple) {
	for i, kv := range kwargs {
		if string(kv[0].(starlark.String)) == name {
			rest := append(append([]starlark.Tuple(nil), kwargs[:i]...), kwargs[i+1:]...)
			return kv[1], rest
		}
	}
	return nil, kwargs
}

func boolKw(v starlark.Value, name string) (bool, error) {
	switch x := v.(type) {
	case nil, starlark.NoneType:
		return false, nil
	case starlark.Bool:
		return bool(x), nil
	}
	return false, &namedError{"TypeError", fmt.Sprintf("%s must be a bool, not %s", name, v.Type())}
}

// mapArgs checks map's arguments after its options (no keyword argument
// left, a function and at least one sequence) and returns the sequences
// and the shortest length.
func mapArgs(name string, args starlark.Tuple, kw []starlark.Tuple) ([][]starlark.Value, int, error) {
	if len(kw) > 0 {
		return nil, 0, &namedError{"TypeError", fmt.Sprintf("%s: unexpected keyword argument %s", name, kw[0][0])}
	}
	if len(args) < 2 {
		return nil, 0, &namedError{"TypeError", name + ": want a function and at least one sequence"}
	}
	return seqsOf(name, args[1:])
}

// seqsOf lists the elements of each sequence and the shortest length.
func seqsOf(name string, args starlark.Tuple) ([][]starlark.Value, int, error) {
	seqs := make([][]starlark.Value, len(args))
	n := -1
	for i, a := range args {
		var err error
		if seqs[i], err = seqValues(a, name); err != nil {
			return nil, 0, err
		}
		if n < 0 || len(seqs[i]) < n {
			n = len(seqs[i])
		}
	}
	return seqs, n, nil
}

// viewMap makes map (the view's block flag), map_sync and map_async:
// map(f, *seqs, block=None, return_exceptions=False).
func viewMap(fixed, block bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		v := recvView(b)
		if fixed {
			if bv, _ := popKw(kwargs, "block"); bv != nil {
				return nil, &namedError{"TypeError", b.Name() + ": unexpected keyword argument 'block'"}
			}
		}
		o, kw, err := v.opts(kwargs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if fixed {
			o.block = block
		}
		rex, kw := popKw(kw, "return_exceptions")
		exceptions, err := boolKw(rex, "return_exceptions")
		if err != nil {
			return nil, err
		}
		seqs, n, err := mapArgs(b.Name(), args, kw)
		if err != nil {
			return nil, err
		}
		ar, err := v.rc.mapSubmit(args[0], seqs, n, o.targets, o.label)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		ar.exceptions = exceptions
		if !o.block {
			return ar, nil
		}
		ar.progress(progressAfter)
		return ar.value(thread, -1, exceptions)
	}
}

// mapSubmit sends f and one contiguous chunk of the first n elements of
// seqs to each target (none to a target whose chunk is empty).
func (rc *Client) mapSubmit(f starlark.Value, seqs [][]starlark.Value, n int, targets []int, label string) (*AsyncResult, error) {
	req := protocol.Request{Kind: protocol.KindApply, Name: funcName(f), Label: label}
	if len(targets) == 0 {
		return nil, errNoEngines
	}
	var bodies [][]byte
	var engines, chunks []int
	eo := rc.env.NS.EncodeOptions()
	for i, c := range client.Chunks(n, len(targets)) {
		lo, hi := c[0], c[1]
		if lo == hi {
			continue
		}
		args := make(starlark.Tuple, 0, 1+len(seqs))
		args = append(args, f)
		for _, s := range seqs {
			args = append(args, starlark.NewList(s[lo:hi:hi]))
		}
		body, err := encodeWrappedCall(mapChunkWire, args, eo)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, body)
		engines = append(engines, targets[i])
		chunks = append(chunks, hi-lo)
	}
	ar, err := rc.submitEach(req, bodies, engines, false)
	if err != nil {
		return nil, err
	}
	ar.res.Combine, ar.res.Chunks = client.CombineChunks, chunks
	return ar, nil
}

// viewRun implements run(filename, targets=, block=): it runs a local
// file's code on the engines.
func viewRun(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	var filename string
	if err := starlark.UnpackArgs(b.Name(), args, kw, "filename", &filename); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ar, err := v.execute(string(src)+"\n", true, o)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ar.res.Name = "run"
	return result(thread, ar, o.block)
}

// viewGet implements dv.get(name): dv[name].
func viewGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name starlark.String
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &name); err != nil {
		return nil, err
	}
	v, _, err := recvView(b).Get(name)
	return v, err
}

// viewScatter implements scatter(key, seq, dist='b', flatten=False,
// targets=, block=): contiguous chunks of seq pushed as key, one per
// engine; with flatten a one-element chunk is pushed bare.
func viewScatter(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("scatter: %w", err)
	}
	var key string
	var seq starlark.Value
	dist := "b"
	var flatten bool
	if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "seq", &seq, "dist?", &dist, "flatten?", &flatten); err != nil {
		return nil, err
	}
	if dist != "b" {
		return nil, &namedError{"ValueError", fmt.Sprintf("scatter: dist %q is not supported (only 'b')", dist)}
	}
	var n int
	var part func(lo, hi int) starlark.Value
	switch x := seq.(type) {
	case starlark.String:
		rs := []rune(string(x))
		n, part = len(rs), func(lo, hi int) starlark.Value { return starlark.String(string(rs[lo:hi])) }
	case starlark.Bytes:
		n, part = len(x), func(lo, hi int) starlark.Value { return x[lo:hi] }
	case starlark.Tuple:
		n, part = len(x), func(lo, hi int) starlark.Value { return x[lo:hi:hi] }
	default:
		vals, err := seqValues(seq, "scatter")
		if err != nil {
			return nil, err
		}
		n, part = len(vals), func(lo, hi int) starlark.Value { return starlark.NewList(vals[lo:hi:hi]) }
	}
	bodies := make([][]byte, len(o.targets))
	eo := v.rc.env.NS.EncodeOptions()
	for i, r := range client.Chunks(n, len(o.targets)) {
		c := part(r[0], r[1])
		if flatten && r[1]-r[0] == 1 {
			if ix, ok := c.(starlark.Indexable); ok {
				c = ix.Index(0)
			}
		}
		d := starlark.NewDict(1)
		d.SetKey(starlark.String(key), c)
		if bodies[i], err = starlarklib.Encode(d, eo); err != nil {
			return nil, fmt.Errorf("scatter: %w", err)
		}
	}
	ar, err := v.rc.submitEach(protocol.Request{Kind: protocol.KindPush, Name: "scatter", Label: o.label}, bodies, o.targets, false)
	if err != nil {
		return nil, fmt.Errorf("scatter: %w", err)
	}
	ar.res.Combine = client.CombineNone
	return result(thread, ar, o.block)
}

// viewGather implements gather(key, dist='b', targets=, block=): pulls key
// from each engine and concatenates (lists and tuples are extended, other
// values appended), in engine order.
func viewGather(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	var key string
	dist := "b"
	if err := starlark.UnpackArgs(b.Name(), args, kw, "key", &key, "dist?", &dist); err != nil {
		return nil, err
	}
	if dist != "b" {
		return nil, &namedError{"ValueError", fmt.Sprintf("gather: dist %q is not supported (only 'b')", dist)}
	}
	body, err := starlarklib.Encode(starlark.String(key), nil)
	if err != nil {
		return nil, err
	}
	ar, err := v.rc.submit(protocol.Request{Kind: protocol.KindPull, Name: "gather", Label: o.label}, body, o.targets, false)
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	ar.res.Combine = client.CombineGather
	return result(thread, ar, o.block)
}

// viewClear implements clear(targets=, block=): resets the engines'
// namespaces and forgets their pushed modules.
func viewClear(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	if err := starlark.UnpackArgs(b.Name(), args, kw); err != nil {
		return nil, err
	}
	ar, err := v.rc.submit(protocol.Request{Kind: protocol.KindClear, Label: o.label}, nil, o.targets, o.single)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	ar.res.Combine = client.CombineNone
	return result(thread, ar, o.block)
}

// viewSyncImports implements sync_imports(*files, quiet=False): each local
// .star file is shipped to the engines as a module (so that load('f.star',
// ...) works there) and registered on the client too.
func viewSyncImports(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	qv, kw := popKw(kw, "quiet")
	quiet, err := boolKw(qv, "quiet")
	if err != nil {
		return nil, err
	}
	if len(kw) > 0 {
		return nil, &namedError{"TypeError", fmt.Sprintf("sync_imports: unexpected keyword argument %s", kw[0][0])}
	}
	mods := map[string]string{}
	var names []string
	for _, a := range args {
		path, ok := a.(starlark.String)
		if !ok {
			return nil, &namedError{"TypeError", "sync_imports: file names must be strings, not " + a.Type()}
		}
		src, err := os.ReadFile(string(path))
		if err != nil {
			return nil, fmt.Errorf("sync_imports: %w", err)
		}
		// Check it compiles before shipping it.
		if _, err := starlarklib.FileOptions().Parse(string(path), src, 0); err != nil {
			return nil, fmt.Errorf("sync_imports: %w", err)
		}
		mods[string(path)] = string(src)
		if base := filepath.Base(string(path)); base != string(path) {
			mods[base] = string(src)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(string(path)), ".star"))
	}
	body, err := protocol.MarshalValue(mods)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	ar, err := v.rc.submit(protocol.Request{Kind: protocol.KindModules, Name: "sync_imports", Label: o.label}, body, o.targets, o.single)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	for name, src := range mods {
		v.rc.env.NS.SetModule(name, src)
	}
	if !quiet {
		w := v.rc.env.stdout(thread)
		for _, n := range names {
			fmt.Fprintf(w, "importing %s on engine(s)\n", n)
		}
	}
	ar.res.Combine = client.CombineNone
	_, err = ar.value(thread, -1, false)
	return starlark.None, err
}
