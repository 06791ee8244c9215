package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// EncodeCall encodes the body of an apply: the CBOR array
// [fn, [args...], {kwname: value, ...}]. Errors name the failing value as
// "function", "args[i]" or "kwargs[name]" followed by its inner path.
func EncodeCall(fn starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple, o *EncodeOptions) ([]byte, error) {
	e := encoder{o: o}
	e.buf = protocol.AppendHead(e.buf, majorArray, 3)
	if err := e.value(fn, 1); err != nil {
		return nil, err.withRoot("function")
	}
	e.buf = protocol.AppendHead(e.buf, majorArray, uint64(len(args)))
	for i, a := range args {
		if err := e.value(a, 2); err != nil {
			return nil, err.withRoot(fmt.Sprintf("args[%d]", i))
		}
	}
	e.buf = protocol.AppendHead(e.buf, majorMap, uint64(len(kwargs)))
	for _, kv := range kwargs {
		if len(kv) != 2 {
			return nil, fmt.Errorf("encode call: keyword argument is a %d-tuple, want 2", len(kv))
		}
		name, ok := kv[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("encode call: keyword name is %s, want string", kv[0].Type())
		}
		root := fmt.Sprintf("kwargs[%s]", string(name))
		if err := e.value(name, 1); err != nil {
			return nil, err.withRoot(root)
		}
		if err := e.value(kv[1], 2); err != nil {
			return nil, err.withRoot(root)
		}
	}
	return e.buf, nil
}

// DecodeCall decodes the body of an apply made by EncodeCall, with the same
// guarantees as Decode.
func DecodeCall(b []byte, o *DecodeOptions) (fn starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple, err error) {
	d := newDecoder(b, o)
	fn, args, kwargs, err = d.call()
	d.settleKept()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("decode call: %w", err)
	}
	return fn, args, kwargs, nil
}

func (d *decoder) call() (fn starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple, err error) {
	if err := d.callHead(); err != nil {
		return nil, nil, nil, err
	}
	if fn, err = d.value(1); err != nil {
		return nil, nil, nil, err
	}
	n, err := d.arrayHead("arguments")
	if err != nil {
		return nil, nil, nil, err
	}
	elems, err := d.values(n, 2)
	if err != nil {
		return nil, nil, nil, err
	}
	args = starlark.Tuple(elems)
	n, err = d.mapHead("keyword arguments")
	if err != nil {
		return nil, nil, nil, err
	}
	seen := make(map[string]bool, n)
	for range n {
		name, err := d.textItem("keyword name")
		if err != nil {
			return nil, nil, nil, err
		}
		if seen[name] {
			return nil, nil, nil, d.errorf("duplicate keyword argument %q", name)
		}
		seen[name] = true
		v, err := d.value(2)
		if err != nil {
			return nil, nil, nil, err
		}
		kwargs = append(kwargs, starlark.Tuple{starlark.String(name), v})
	}
	if d.off != len(d.b) {
		return nil, nil, nil, d.errorf("%d trailing bytes", len(d.b)-d.off)
	}
	return fn, args, kwargs, nil
}

// callHead reads the head of the three-element call array.
func (d *decoder) callHead() error {
	start := d.off
	m, _, n, err := d.head()
	if err != nil {
		return err
	}
	if m != majorArray || n != 3 {
		d.off = start
		return d.errorf("call is not a three-element array")
	}
	return nil
}
