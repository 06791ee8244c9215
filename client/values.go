package client

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/pxsh/pxsh/protocol"
)

// Func is Starlark function source to run on engines: a lambda expression
// or a def statement. Its global names resolve in each engine's namespace.
type Func string

// Tuple is a Starlark tuple.
type Tuple []any

// Set is a Starlark set, in insertion order.
type Set []any

// Pair is one entry of a Dict.
type Pair struct{ Key, Value any }

// Dict is a Starlark dict whose keys are not all strings (dicts with
// string keys decode as map[string]any), in insertion order: {1: "a",
// "1": "b"} is Dict{{int64(1), "a"}, {"1", "b"}}.
type Dict []Pair

// Struct is a Starlark struct (struct(a=1)): its fields by name.
type Struct map[string]any

// Reference is Reference(expr): an expression the engine evaluates in its
// namespace when it receives the value.
type Reference string

// Function is a function received from an engine (or from the client's
// Starlark side), kept whole so that it can be sent back.
type Function struct{ protocol.Function }

// ErrorValue is a failure held as a value (a RemoteError inside a list
// returned with return_exceptions, say).
type ErrorValue struct{ protocol.RemoteError }

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

// Encode converts a Go value to the wire form of a Starlark value (the
// starlarklib codec's form): nil, bool, integers, *big.Int, floats,
// string, []byte, slices and arrays (lists), map[string]V (dicts, keys
// sorted), Tuple, Set, Dict, Struct, Reference, Func, Function,
// ErrorValue and Array (an np array).
func Encode(v any) ([]byte, error) {
	var e encoder
	if err := e.value(v, "value", 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// CBOR major types, shifted into the high bits of the initial byte.
const (
	majorUint  = 0 << 5
	majorNeg   = 1 << 5
	majorBytes = 2 << 5
	majorText  = 3 << 5
	majorArray = 4 << 5
	majorMap   = 5 << 5
	majorTag   = 6 << 5
)

// maxEncodeDepth bounds nesting, so that a cyclic value fails.
const maxEncodeDepth = 1000

type encoder struct{ buf []byte }

func (e *encoder) head(m byte, n uint64) {
	switch {
	case n < 24:
		e.buf = append(e.buf, m|byte(n))
	case n <= math.MaxUint8:
		e.buf = append(e.buf, m|24, byte(n))
	case n <= math.MaxUint16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, m|25), uint16(n))
	case n <= math.MaxUint32:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, m|26), uint32(n))
	default:
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, m|27), n)
	}
}

func (e *encoder) int(x int64) {
	if x >= 0 {
		e.head(majorUint, uint64(x))
	} else {
		e.head(majorNeg, uint64(-1-x))
	}
}

func (e *encoder) bigInt(x *big.Int) {
	if x.IsInt64() {
		e.int(x.Int64())
		return
	}
	if x.IsUint64() {
		e.head(majorUint, x.Uint64())
		return
	}
	tag, mag := uint64(2), new(big.Int).Set(x)
	if x.Sign() < 0 {
		tag = 3
		mag.Neg(mag).Sub(mag, big.NewInt(1)) // tag 3 holds -1-n
		if mag.IsUint64() {
			e.head(majorNeg, mag.Uint64())
			return
		}
	}
	b := mag.Bytes()
	e.head(majorTag, tag)
	e.head(majorBytes, uint64(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) text(s string) {
	e.head(majorText, uint64(len(s)))
	e.buf = protocol.AppendLarge(e.buf, s)
}

// goValue appends a tag and the CBOR form of a protocol struct.
func (e *encoder) goValue(tag uint64, x any) error {
	b, err := protocol.MarshalValue(x)
	if err != nil {
		return err
	}
	e.head(majorTag, tag)
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encoder) list(tag uint64, xs []any, path string, depth int) error {
	if tag != 0 {
		e.head(majorTag, tag)
	}
	e.head(majorArray, uint64(len(xs)))
	for i, x := range xs {
		if err := e.value(x, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) strMap(m map[string]any, path string, depth int) error {
	e.head(majorMap, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.text(k)
		if err := e.value(m[k], fmt.Sprintf("%s[%q]", path, k), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) dict(d Dict, path string, depth int) error {
	allStr := true
	for _, p := range d {
		if _, ok := p.Key.(string); !ok {
			allStr = false
		}
	}
	if allStr {
		e.head(majorMap, uint64(len(d)))
	} else {
		e.head(majorTag, protocol.TagOrderedMap)
		e.head(majorArray, uint64(len(d)))
	}
	for _, p := range d {
		if !allStr {
			e.head(majorArray, 2)
		}
		seg := fmt.Sprintf("%s[%v]", path, p.Key)
		if err := e.value(p.Key, seg, depth+1); err != nil {
			return err
		}
		if err := e.value(p.Value, seg, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) value(v any, path string, depth int) error {
	if depth > maxEncodeDepth {
		return fmt.Errorf("cannot send the value at %s: nested more than %d levels", path, maxEncodeDepth)
	}
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xf6)
	case bool:
		if x {
			e.buf = append(e.buf, 0xf5)
		} else {
			e.buf = append(e.buf, 0xf4)
		}
	case int:
		e.int(int64(x))
	case int8:
		e.int(int64(x))
	case int16:
		e.int(int64(x))
	case int32:
		e.int(int64(x))
	case int64:
		e.int(x)
	case uint:
		e.head(majorUint, uint64(x))
	case uint8:
		e.head(majorUint, uint64(x))
	case uint16:
		e.head(majorUint, uint64(x))
	case uint32:
		e.head(majorUint, uint64(x))
	case uint64:
		e.head(majorUint, x)
	case *big.Int:
		e.bigInt(x)
	case float32:
		e.float(float64(x))
	case float64:
		e.float(x)
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("cannot send the string at %s: invalid UTF-8", path)
		}
		e.text(x)
	case []byte:
		e.head(majorBytes, uint64(len(x)))
		e.buf = protocol.AppendLarge(e.buf, x)
	case []any:
		return e.list(0, x, path, depth)
	case Tuple:
		return e.list(protocol.TagTuple, x, path, depth)
	case Set:
		return e.list(protocol.TagSet, x, path, depth)
	case map[string]any:
		return e.strMap(x, path, depth)
	case Dict:
		return e.dict(x, path, depth)
	case Struct:
		e.head(majorTag, protocol.TagStruct)
		return e.strMap(x, path, depth)
	case Reference:
		e.head(majorTag, protocol.TagReference)
		e.text(string(x))
	case Func:
		return e.goValue(protocol.TagFunction, funcWire(string(x)))
	case Function:
		return e.goValue(protocol.TagFunction, &x.Function)
	case *Function:
		return e.goValue(protocol.TagFunction, &x.Function)
	case Array:
		return e.array(x, path)
	case *Array:
		return e.array(*x, path)
	case ErrorValue:
		return e.goValue(protocol.TagError, &x.RemoteError)
	case *RemoteError:
		return e.goValue(protocol.TagError, &x.RemoteError)
	default:
		return e.reflectValue(v, path, depth)
	}
	return nil
}

// array appends an Array's RFC 8746 form.
func (e *encoder) array(a Array, path string) error {
	w, err := arrayWire(a, path)
	if err != nil {
		return err
	}
	b, err := encMode.Marshal(w)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encoder) float(f float64) {
	e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xfb), math.Float64bits(f))
}

// reflectValue encodes other slices ([]int, []string, ...) as lists and
// maps with string keys as dicts.
func (e *encoder) reflectValue(v any, path string, depth int) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		xs := make([]any, rv.Len())
		for i := range xs {
			xs[i] = rv.Index(i).Interface()
		}
		return e.list(0, xs, path, depth)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return e.strMap(m, path, depth)
		}
	}
	return fmt.Errorf("cannot send %T at %s", v, path)
}

// encodeCall encodes an apply body: [function, args, kwargs].
func encodeCall(fn any, args []any, kwargs map[string]any) ([]byte, error) {
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	var e encoder
	e.head(majorArray, 3)
	if err := e.value(fn, "function", 0); err != nil {
		return nil, err
	}
	if err := e.list(0, args, "args", 0); err != nil {
		return nil, err
	}
	if err := e.strMap(kwargs, "kwargs", 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

func funcWire(src string) *protocol.Function {
	src = strings.TrimSpace(src)
	name := "lambda"
	if rest, ok := strings.CutPrefix(src, "def "); ok {
		if i := strings.IndexByte(rest, '('); i > 0 {
			name = strings.TrimSpace(rest[:i])
		}
	}
	return &protocol.Function{Name: name, Source: src, File: "<go>", Line: 1, Col: 1}
}

// Decode converts an encoded Starlark value to Go, losing nothing: None →
// nil, int → int64 or *big.Int, float → float64, str → string, bytes →
// []byte, list → []any, tuple → Tuple, set → Set, dict → map[string]any
// when every key is a string, else Dict, struct → Struct, a function →
// Function, Reference → Reference, an error value → ErrorValue, an np
// array → Array, a complex element → complex128.
func Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if v, ok, err := decodeLarge(b); ok {
		return v, err
	}
	var v any
	if err := decMode.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return fromWire(v)
}

func fromWire(v any) (any, error) {
	switch x := v.(type) {
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return new(big.Int).SetUint64(x), nil
	case big.Int:
		return &x, nil
	case float32:
		return float64(x), nil
	case []any:
		return listFromWire(x)
	case map[any]any:
		return mapFromWire(x, "dict")
	case cbor.Tag:
		if a, ok := arrayFromWire(x); ok {
			if c, ok := a.Data.([]complex128); ok && len(a.Shape) == 0 {
				return c[0], nil // a complex scalar (an element of a complex array)
			}
			return a, nil
		}
		return tagFromWire(x)
	}
	return v, nil
}

func listFromWire(x []any) ([]any, error) {
	for i, e := range x {
		var err error
		if x[i], err = fromWire(e); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func mapFromWire(x map[any]any, what string) (map[string]any, error) {
	m := make(map[string]any, len(x))
	for k, e := range x {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("decode value: %s key %v is not a string", what, k)
		}
		v, err := fromWire(e)
		if err != nil {
			return nil, err
		}
		m[s] = v
	}
	return m, nil
}

func tagFromWire(t cbor.Tag) (any, error) {
	switch t.Number {
	case protocol.TagTuple, protocol.TagSet:
		l, ok := t.Content.([]any)
		if !ok {
			return nil, fmt.Errorf("decode value: tag %d content is not an array", t.Number)
		}
		l, err := listFromWire(l)
		if t.Number == protocol.TagTuple {
			return Tuple(l), err
		}
		return Set(l), err
	case protocol.TagStruct:
		m, ok := t.Content.(map[any]any)
		if !ok {
			return nil, fmt.Errorf("decode value: struct content is not a map")
		}
		s, err := mapFromWire(m, "struct")
		return Struct(s), err
	case protocol.TagOrderedMap:
		return dictFromWire(t.Content)
	case protocol.TagRange:
		return rangeFromWire(t.Content)
	case protocol.TagReference:
		s, ok := t.Content.(string)
		if !ok {
			return nil, fmt.Errorf("decode value: reference content is not a string")
		}
		return Reference(s), nil
	case protocol.TagFunction:
		var f Function
		return f, regoValue(t.Content, &f.Function)
	case protocol.TagError:
		var ev ErrorValue
		return ev, regoValue(t.Content, &ev.RemoteError)
	}
	return nil, fmt.Errorf("decode value: unknown tag %d", t.Number)
}

// maxRangeList bounds the list a received range expands to (the default
// protocol.Limits.MaxElements).
const maxRangeList = 1 << 26

// rangeFromWire expands a range, [start, stop, step], to the list of its
// ints.
func rangeFromWire(content any) ([]any, error) {
	a, ok := content.([]any)
	if !ok || len(a) != 3 {
		return nil, fmt.Errorf("decode value: range content is not [start, stop, step]")
	}
	var b [3]int64
	for i, x := range a {
		switch v := x.(type) {
		case uint64:
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("decode value: range bound %d out of range", v)
			}
			b[i] = int64(v)
		case int64:
			b[i] = v
		default:
			return nil, fmt.Errorf("decode value: range bound is %T, want int", x)
		}
	}
	start, stop, step := b[0], b[1], b[2]
	if step == 0 {
		return nil, fmt.Errorf("decode value: range step is zero")
	}
	// The count in unsigned arithmetic: stop - start may overflow int64.
	var n uint64
	if step > 0 && stop > start {
		d, s := uint64(stop)-uint64(start), uint64(step)
		n = d / s
		if d%s != 0 {
			n++
		}
	} else if step < 0 && stop < start {
		d, s := uint64(start)-uint64(stop), -uint64(step)
		n = d / s
		if d%s != 0 {
			n++
		}
	}
	if n > maxRangeList {
		return nil, fmt.Errorf("decode value: range of %d elements, limit %d", n, maxRangeList)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out, nil
}

func dictFromWire(content any) (Dict, error) {
	pairs, ok := content.([]any)
	if !ok {
		return nil, fmt.Errorf("decode value: ordered map content is not an array")
	}
	d := make(Dict, len(pairs))
	for i, p := range pairs {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			return nil, fmt.Errorf("decode value: ordered map entry %d is not a pair", i)
		}
		k, err := fromWire(kv[0])
		if err != nil {
			return nil, err
		}
		v, err := fromWire(kv[1])
		if err != nil {
			return nil, err
		}
		d[i] = Pair{k, v}
	}
	return d, nil
}

// regoValue decodes the generic content of a tag into a protocol struct.
func regoValue(content any, out any) error {
	b, err := protocol.MarshalValue(content)
	if err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	if err := protocol.UnmarshalValue(b, out); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	return nil
}

// Get returns the value of key k (compared with ==; ints and floats as
// Go values) and whether it is present.
func (d Dict) Get(k any) (any, bool) {
	for _, p := range d {
		if reflect.DeepEqual(p.Key, k) {
			return p.Value, true
		}
	}
	return nil, false
}
