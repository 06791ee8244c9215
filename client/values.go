package client

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/pxsh/pxsh/protocol"
)

// Func is Starlark function source to run on engines: a lambda expression
// or a def statement. Its global names resolve in each engine's namespace.
type Func string

// Tuple is a Starlark tuple; decoded results use []any for tuples too.
type Tuple []any

// Array is a Starlark ndarray (np.array) in row-major order: Data is a
// []float64, []int64, []bool or []complex128 of prod(Shape) elements. It
// travels as an RFC 8746 typed array (tag 40 over tags 86, 79 or 64; the
// complex form is wrapped in protocol.TagComplexArray). A complex element
// (Starlark's complex) decodes as a complex128.
type Array struct {
	Shape []int
	Data  any
}

var (
	encMode, _ = cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	decMode, _ = protocol.DecMode(protocol.Limits{})
)

// Encode converts a Go value to the wire form of a Starlark value: nil,
// bool, integers, floats, string, []byte, slices, maps with string keys,
// Tuple, Func, *big.Int and Array (an np array).
func Encode(v any) ([]byte, error) {
	w, err := toWire(v, "value")
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(w)
}

func toWire(v any, path string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, []byte, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x, nil
	case *big.Int:
		return x, nil
	case Func:
		return cbor.Tag{Number: protocol.TagFunction, Content: funcWire(string(x))}, nil
	case Tuple:
		a, err := listWire([]any(x), path)
		return cbor.Tag{Number: protocol.TagTuple, Content: a}, err
	case []any:
		return listWire(x, path)
	case []int, []float64, []string:
		return x, nil
	case Array:
		return arrayWire(x, path)
	case *Array:
		return arrayWire(*x, path)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			w, err := toWire(e, fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			m[k] = w
		}
		return m, nil
	}
	return nil, fmt.Errorf("cannot send %T at %s", v, path)
}

func listWire(x []any, path string) ([]any, error) {
	out := make([]any, len(x))
	for i, e := range x {
		w, err := toWire(e, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func funcWire(src string) protocol.Function {
	src = strings.TrimSpace(src)
	name := "lambda"
	if rest, ok := strings.CutPrefix(src, "def "); ok {
		if i := strings.IndexByte(rest, '('); i > 0 {
			name = strings.TrimSpace(rest[:i])
		}
	}
	return protocol.Function{Name: name, Source: src, File: "<go>", Line: 1, Col: 1}
}

// Decode converts an encoded Starlark value to Go: None → nil, int →
// int64 or *big.Int, float → float64, str → string, bytes → []byte,
// list, tuple and set → []any, dict → map[any]any (or map[string]any when
// every key is a string), struct → map[string]any, a function → Func, an
// np array → Array, a complex element → complex128.
func Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v any
	if err := decMode.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return fromWire(v), nil
}

func fromWire(v any) any {
	switch x := v.(type) {
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return new(big.Int).SetUint64(x)
	case big.Int:
		return &x
	case []any:
		for i, e := range x {
			x[i] = fromWire(e)
		}
		return x
	case map[any]any:
		allStr := true
		for k, e := range x {
			x[k] = fromWire(e)
			if _, ok := k.(string); !ok {
				allStr = false
			}
		}
		if allStr {
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[k.(string)] = e
			}
			return m
		}
		return x
	case cbor.Tag:
		if a, ok := arrayFromWire(x); ok {
			if c, ok := a.Data.([]complex128); ok && len(a.Shape) == 0 {
				return c[0] // a complex scalar (an element of a complex array)
			}
			return a
		}
		return tagFromWire(x)
	}
	return v
}

func tagFromWire(t cbor.Tag) any {
	switch t.Number {
	case protocol.TagTuple, protocol.TagSet, protocol.TagStruct:
		return fromWire(t.Content)
	case protocol.TagOrderedMap:
		pairs, _ := t.Content.([]any)
		m := make(map[any]any, len(pairs))
		for _, p := range pairs {
			if kv, ok := p.([]any); ok && len(kv) == 2 {
				m[fmt.Sprint(fromWire(kv[0]))] = fromWire(kv[1])
			}
		}
		return m
	case protocol.TagFunction:
		if m, ok := t.Content.(map[any]any); ok {
			if s, ok := m[uint64(2)].(string); ok {
				return Func(s)
			}
		}
	case protocol.TagReference:
		return fmt.Sprintf("Reference(%v)", t.Content)
	case protocol.TagError:
		return fmt.Sprintf("RemoteError(%v)", t.Content)
	}
	return fromWire(t.Content)
}
