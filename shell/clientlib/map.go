package clientlib

// This file holds map, scatter and gather on direct views: their Starlark
// arguments and the wire bodies of each chunk (client.Chunks cuts them).

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"github.com/pxsh/pxsh/starlarklib/numpy"
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

// mapArgs checks map's arguments after its options (no keyword argument
// left, a function and at least one sequence) and returns the sequences
// and the shortest length.
func mapArgs(name string, args starlark.Tuple, kw []starlark.Tuple) ([][]starlark.Value, int, error) {
	if err := checkMapArgs(name, args, kw); err != nil {
		return nil, 0, err
	}
	return seqsOf(name, args[1:])
}

// checkMapArgs checks that no keyword argument is left and that args are
// a function and at least one sequence.
func checkMapArgs(name string, args starlark.Tuple, kw []starlark.Tuple) error {
	if len(kw) > 0 {
		return &namedError{"TypeError", fmt.Sprintf("%s: unexpected keyword argument %s", name, kw[0][0])}
	}
	if len(args) < 2 {
		return &namedError{"TypeError", name + ": want a function and at least one sequence"}
	}
	return nil
}

// directSeqs is seqsOf for a direct map, except that a range is not
// listed: its entry is nil, and mapSubmit sends each chunk of it as a
// range (its bounds, as ipyparallel sends a range's slice), not as the
// list of its ints.
func directSeqs(name string, args starlark.Tuple) ([][]starlark.Value, int, error) {
	seqs := make([][]starlark.Value, len(args))
	n := -1
	for i, a := range args {
		l := 0
		if _, ok := starlarklib.RangeSlice(a, 0, 0); ok {
			l = a.(starlark.Sequence).Len()
		} else {
			var err error
			if seqs[i], err = seqValues(a, name); err != nil {
				return nil, 0, err
			}
			l = len(seqs[i])
		}
		if n < 0 || l < n {
			n = l
		}
	}
	return seqs, n, nil
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
		if err := checkMapArgs(b.Name(), args, kw); err != nil {
			return nil, err
		}
		seqs, n, err := directSeqs(b.Name(), args[1:])
		if err != nil {
			return nil, err
		}
		ar, err := v.rc.mapSubmit(args[0], args[1:], seqs, n, o.targets, o.label)
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
// seqs to each target (none to a target whose chunk is empty). A nil
// entry of seqs is the range srcs[i], sent chunk by chunk as ranges.
func (rc *Client) mapSubmit(f starlark.Value, srcs starlark.Tuple, seqs [][]starlark.Value, n int, targets []int, label string) (*AsyncResult, error) {
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
		for k, s := range seqs {
			if s == nil {
				r, _ := starlarklib.RangeSlice(srcs[k], lo, hi)
				args = append(args, r)
				continue
			}
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
	case *numpy.Array:
		// Arrays are split along their first axis into arrays.
		n, part = x.Len(), func(lo, hi int) starlark.Value { return x.Slice(lo, hi, 1) }
	case *starlark.List:
		// Each chunk is encoded straight from the list, not copied first.
		n, part = x.Len(), func(lo, hi int) starlark.Value { return starlarklib.ListRange(x, lo, hi) }
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
