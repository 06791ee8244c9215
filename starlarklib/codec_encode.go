package starlarklib

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// CBOR major types, shifted into the high bits of the initial byte.
const (
	majorUint   = 0 << 5
	majorNeg    = 1 << 5
	majorBytes  = 2 << 5
	majorText   = 3 << 5
	majorArray  = 4 << 5
	majorMap    = 5 << 5
	majorTag    = 6 << 5
	majorSimple = 7 << 5
)

// Initial bytes of simple values.
const (
	cborFalse   = majorSimple | 20
	cborTrue    = majorSimple | 21
	cborNull    = majorSimple | 22
	cborFloat64 = majorSimple | 27
)

// Standard bignum tags.
const (
	tagPosBignum = 2
	tagNegBignum = 3
)

// encoder appends the CBOR form of Starlark values to buf. It is not safe
// for concurrent use.
type encoder struct {
	buf []byte
	o   *EncodeOptions
	// split, when set, makes each string or bytes value of split bytes
	// or more a part of its own in parts (EncodeParts).
	split int
	parts [][]byte
	// shareArrays, with split, makes large array payloads parts too
	// (EncodePartsShared); shared records that one was.
	shareArrays, shared bool
}

// unsendable returns the error of a value that cannot travel.
func unsendable(v starlark.Value, msg string) *encodeError {
	return &encodeError{typ: v.Type(), msg: msg}
}

// at adds a path segment to err, if any.
func at(err *encodeError, seg string) *encodeError {
	if err != nil {
		err.rpath = append(err.rpath, seg)
	}
	return err
}

// reserveItems makes room for n items of an indexable, guessing their size
// from the first one, so that a large list of floats is written into one
// buffer.
func (e *encoder) reserveItems(n int, x starlark.Indexable) {
	per := 1
	if n > 0 {
		if _, ok := x.Index(0).(starlark.Float); ok {
			per = 9
		}
	}
	e.reserve(9 + per*n)
}

// reserve makes room for at least k more bytes, doubling the buffer so
// that encoding a large list copies it few times.
func (e *encoder) reserve(k int) {
	if cap(e.buf)-len(e.buf) >= k {
		return
	}
	e.buf = protocol.AppendLarge(make([]byte, 0, 2*cap(e.buf)+k), e.buf)
}

func (e *encoder) value(v starlark.Value, depth int) *encodeError {
	if depth > maxEncodeDepth {
		return &encodeError{err: fmt.Errorf("nested more than %d levels (is it cyclic?)", maxEncodeDepth)}
	}
	switch v := v.(type) {
	case starlark.NoneType:
		e.buf = append(e.buf, cborNull)
	case starlark.Bool:
		if v {
			e.buf = append(e.buf, cborTrue)
		} else {
			e.buf = append(e.buf, cborFalse)
		}
	case starlark.Int:
		e.int(v)
	case starlark.Float:
		e.reserve(9)
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, cborFloat64), math.Float64bits(float64(v)))
	case starlark.String:
		if !utf8.ValidString(string(v)) {
			return unsendable(v, "invalid UTF-8")
		}
		e.str(majorText, string(v))
	case starlark.Bytes:
		e.str(majorBytes, string(v))
	case *starlark.List:
		n := v.Len()
		e.reserveItems(n, v)
		e.buf = protocol.AppendHead(e.buf, majorArray, uint64(n))
		return e.items(v, n, depth)
	case wireRange:
		e.rangeBounds(v)
	case listRange:
		n := v.Len()
		e.reserveItems(n, v)
		e.buf = protocol.AppendHead(e.buf, majorArray, uint64(n))
		return e.items(v, n, depth)
	case starlark.Tuple:
		e.reserveItems(len(v), v)
		e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagTuple)
		e.buf = protocol.AppendHead(e.buf, majorArray, uint64(len(v)))
		for i, x := range v {
			if err := e.value(x, depth+1); err != nil {
				return at(err, fmt.Sprintf("[%d]", i))
			}
		}
	case *starlark.Dict:
		return e.dict(v, depth)
	case *starlark.Set:
		e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagSet)
		e.buf = protocol.AppendHead(e.buf, majorArray, uint64(v.Len()))
		for x := range v.Elements() {
			if err := e.value(x, depth+1); err != nil {
				return at(err, "{"+x.String()+"}")
			}
		}
	case *starlarkstruct.Struct:
		if v.Constructor() != starlarkstruct.Default {
			return unsendable(v, "constructor "+v.Constructor().String()+" is not struct")
		}
		e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagStruct)
		e.buf = protocol.AppendHead(e.buf, majorMap, uint64(v.Len()))
		for name, x := range v.Entries() {
			e.buf = protocol.AppendHead(e.buf, majorText, uint64(len(name)))
			e.buf = append(e.buf, name...)
			if err := e.value(x, depth+1); err != nil {
				return at(err, "."+name)
			}
		}
	case *starlark.Function:
		if e.o == nil || e.o.ExportFunction == nil {
			return unsendable(v, "")
		}
		f, err := e.o.ExportFunction(v)
		if err != nil {
			return &encodeError{err: fmt.Errorf("export function %s: %w", v.Name(), err)}
		}
		return e.tagged(protocol.TagFunction, f)
	case *starlark.Builtin:
		if e.o == nil || e.o.ExportBuiltin == nil {
			return unsendable(v, "")
		}
		f, err := e.o.ExportBuiltin(v)
		if err != nil {
			return unsendable(v, "")
		}
		return e.tagged(protocol.TagFunction, f)
	case *Reference:
		e.reference(v.Expr)
	case Reference:
		e.reference(v.Expr)
	case *ErrorValue:
		return e.tagged(protocol.TagError, &v.Err)
	case ErrorValue:
		return e.tagged(protocol.TagError, &v.Err)
	case *numpy.Array:
		e.array(v)
	case numpy.Complex:
		e.array(numpy.NewComplex128(nil, []complex128{complex128(v)}))
	default:
		if r, ok := v.(starlark.Indexable); ok && v.Type() == "range" {
			return e.rangeList(r, depth)
		}
		return unsendable(v, "")
	}
	return nil
}

// rangeList sends a range as the list of its ints (the receiver gets a
// list). A range longer than a receiver's decoder accepts in one list
// (by default) is refused at once: expanding range(10**15) would only
// fill the sender's memory.
func (e *encoder) rangeList(r starlark.Indexable, depth int) *encodeError {
	n := r.Len()
	if n > defaultMaxElements {
		return unsendable(r, fmt.Sprintf("a range of %d elements travels as a list, and a list may have at most %d", n, defaultMaxElements))
	}
	e.reserve(9 * min(n, 1<<16))
	e.buf = protocol.AppendHead(e.buf, majorArray, uint64(n))
	return e.items(r, n, depth)
}

// items encodes the n elements of x.
func (e *encoder) items(x starlark.Indexable, n int, depth int) *encodeError {
	for i := 0; i < n; i++ {
		if i = e.scalars(x, i, n); i == n {
			break
		}
		if err := e.value(x.Index(i), depth+1); err != nil {
			return at(err, fmt.Sprintf("[%d]", i))
		}
	}
	return nil
}

// scalars encodes the run of floats and int64-sized ints of x from i on,
// and returns where the run ends. It appends to a local slice: storing to
// e.buf, a field of a heap object, costs a write barrier while the
// collector runs, which doubled the time of encoding a million floats.
func (e *encoder) scalars(x starlark.Indexable, i, n int) int {
	buf := e.buf
	for ; i < n; i++ {
		if cap(buf)-len(buf) < 9 {
			e.buf = buf
			e.reserve(9 * min(n-i, 1<<16))
			buf = e.buf
		}
		switch v := x.Index(i).(type) {
		case starlark.Float:
			buf = binary.BigEndian.AppendUint64(append(buf, cborFloat64), math.Float64bits(float64(v)))
			continue
		case starlark.Int:
			if k, ok := v.Int64(); ok {
				if k >= 0 {
					buf = protocol.AppendHead(buf, majorUint, uint64(k))
				} else {
					buf = protocol.AppendHead(buf, majorNeg, uint64(-1-k))
				}
				continue
			}
		}
		break
	}
	e.buf = buf
	return i
}

func (e *encoder) int(v starlark.Int) {
	if x, ok := v.Int64(); ok {
		if x >= 0 {
			e.buf = protocol.AppendHead(e.buf, majorUint, uint64(x))
		} else {
			e.buf = protocol.AppendHead(e.buf, majorNeg, uint64(-1-x))
		}
		return
	}
	if x, ok := v.Uint64(); ok {
		e.buf = protocol.AppendHead(e.buf, majorUint, x)
		return
	}
	b := v.BigInt()
	tag := uint64(tagPosBignum)
	if b.Sign() < 0 {
		// Tag 3 holds -1-n.
		tag = tagNegBignum
		b.Neg(b)
		b.Sub(b, big.NewInt(1))
		if b.IsUint64() {
			e.buf = protocol.AppendHead(e.buf, majorNeg, b.Uint64())
			return
		}
	}
	mag := b.Bytes()
	e.buf = protocol.AppendHead(e.buf, majorTag, tag)
	e.buf = protocol.AppendHead(e.buf, majorBytes, uint64(len(mag)))
	e.buf = append(e.buf, mag...)
}

func (e *encoder) text(s string) {
	e.buf = protocol.AppendHead(e.buf, majorText, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) reference(expr string) {
	e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagReference)
	e.text(expr)
}

// tagged appends tag and the CBOR form of the Go value x.
func (e *encoder) tagged(tag uint64, x any) *encodeError {
	b, err := protocol.MarshalValue(x)
	if err != nil {
		return &encodeError{err: err}
	}
	e.buf = protocol.AppendHead(e.buf, majorTag, tag)
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encoder) dict(d *starlark.Dict, depth int) *encodeError {
	allStrings := true
	for k := range d.Entries() {
		if _, ok := k.(starlark.String); !ok {
			allStrings = false
			break
		}
	}
	n := uint64(d.Len())
	if allStrings {
		e.buf = protocol.AppendHead(e.buf, majorMap, n)
		for k, v := range d.Entries() {
			if err := e.value(k, depth+1); err != nil {
				return at(err, keySeg(k))
			}
			if err := e.value(v, depth+1); err != nil {
				return at(err, keySeg(k))
			}
		}
		return nil
	}
	e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagOrderedMap)
	e.buf = protocol.AppendHead(e.buf, majorArray, n)
	for k, v := range d.Entries() {
		e.buf = protocol.AppendHead(e.buf, majorArray, 2)
		if err := e.value(k, depth+2); err != nil {
			return at(err, keySeg(k))
		}
		if err := e.value(v, depth+2); err != nil {
			return at(err, keySeg(k))
		}
	}
	return nil
}

// keySeg is the path segment of a dict entry.
func keySeg(k starlark.Value) string { return "[" + k.String() + "]" }
