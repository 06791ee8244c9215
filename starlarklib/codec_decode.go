package starlarklib

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"unicode/utf8"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// decoder walks CBOR input held in memory. It never panics on any input:
// every length is checked against the remaining input before use. It is
// not safe for concurrent use.
type decoder struct {
	b        []byte
	off      int
	o        DecodeOptions
	maxDepth int
	maxElems int
	dm       cbor.DecMode // made on first use
	// kept are the arrays that point into a kept input (DecodeOptions.Keep)
	// and keptBytes their payloads' size.
	kept      []*numpy.Array
	keptBytes int
}

func newDecoder(b []byte, o *DecodeOptions) *decoder {
	d := &decoder{b: b}
	if o != nil {
		d.o = *o
	}
	if k := reflect.ValueOf(d.o.Keep); k.Kind() == reflect.Pointer && k.IsNil() {
		d.o.Keep = nil // a nil keeper in an interface keeps nothing: the input is not kept
	}
	d.maxDepth = d.o.Limits.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = defaultMaxDepth
	}
	d.maxElems = d.o.Limits.MaxElements
	if d.maxElems <= 0 {
		d.maxElems = defaultMaxElements
	}
	return d
}

// errorf reports malformed input at the current offset.
func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s: %w", d.off, fmt.Sprintf(format, args...), ErrMalformed)
}

// head reads an initial byte and its argument. Indefinite lengths and
// reserved additional information are errors.
func (d *decoder) head() (major byte, ai byte, arg uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, 0, d.errorf("unexpected end of input")
	}
	ib := d.b[d.off]
	major, ai = ib&0xe0, ib&0x1f
	d.off++
	var n int
	switch {
	case ai < 24:
		return major, ai, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return 0, 0, 0, d.errorf("indefinite length not allowed")
	default:
		return 0, 0, 0, d.errorf("reserved additional information %d", ai)
	}
	if len(d.b)-d.off < n {
		d.off--
		return 0, 0, 0, d.errorf("unexpected end of input")
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	switch n {
	case 1:
		arg = uint64(p[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(p))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(p))
	default:
		arg = binary.BigEndian.Uint64(p)
	}
	return major, ai, arg, nil
}

// count checks an announced number of items, each at least minSize bytes,
// against the limits and the remaining input.
func (d *decoder) count(n uint64, minSize uint64, what string) (int, error) {
	if n > uint64(d.maxElems) {
		return 0, d.errorf("%s of %d elements exceeds the limit of %d", what, n, d.maxElems)
	}
	if n > uint64(len(d.b)-d.off)/minSize {
		return 0, d.errorf("%s of %d elements is longer than the input", what, n)
	}
	return int(n), nil
}

// raw returns the next n bytes of input for a string of n bytes.
func (d *decoder) raw(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.off) {
		return nil, d.errorf("string of %d bytes is longer than the input", n)
	}
	p := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

func (d *decoder) text(n uint64) (string, error) {
	p, err := d.raw(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(p) {
		d.off -= len(p)
		return "", d.errorf("invalid UTF-8 in text string")
	}
	if d.aliases(p) {
		return unsafe.String(&p[0], len(p)), nil
	}
	return protocol.StringLarge(p), nil
}

// aliasMin is the smallest string that may point into an owned input.
// It must also be at least half the input, so a kept string holds at
// most twice its size in memory.
const aliasMin = 64 << 10

// aliases reports whether string bytes p of the input may be kept as they
// are instead of copied.
func (d *decoder) aliases(p []byte) bool {
	return d.o.Owned && d.o.Keep == nil && len(p) >= aliasMin && 2*len(p) >= len(d.b)
}

// keeps reports whether an array's payload p may point into a kept input
// (DecodeOptions.Keep): any large one, settled by settleKept.
func (d *decoder) keeps(p []byte) bool {
	return d.o.Owned && d.o.Keep != nil && len(p) >= aliasMin
}

// keep ties a, whose memory is payload p of a kept input, to the input's
// keeper.
func (d *decoder) keep(a *numpy.Array, p []byte) {
	a.SetKeep(d.o.Keep)
	d.kept = append(d.kept, a)
	d.keptBytes += len(p)
}

// settleKept copies the arrays that point into a kept input when they
// are less than half of it together, so that the input they pin is at
// most twice their size.
func (d *decoder) settleKept() {
	if 2*d.keptBytes >= len(d.b) {
		return
	}
	for _, a := range d.kept {
		a.Unshare()
	}
}

// textItem reads a whole text string item.
func (d *decoder) textItem(what string) (string, error) {
	start := d.off
	m, _, n, err := d.head()
	if err != nil {
		return "", err
	}
	if m != majorText {
		d.off = start
		return "", d.errorf("%s is not a text string", what)
	}
	return d.text(n)
}

// arrayHead reads the head of an array of at most max elements.
func (d *decoder) arrayHead(what string) (int, error) {
	start := d.off
	m, _, n, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != majorArray {
		d.off = start
		return 0, d.errorf("%s is not an array", what)
	}
	return d.count(n, 1, what)
}

// mapHead reads the head of a map.
func (d *decoder) mapHead(what string) (int, error) {
	start := d.off
	m, _, n, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != majorMap {
		d.off = start
		return 0, d.errorf("%s is not a map", what)
	}
	return d.count(n, 2, what)
}

func (d *decoder) value(depth int) (starlark.Value, error) {
	if depth > d.maxDepth {
		return nil, d.errorf("nested more than %d levels", d.maxDepth)
	}
	start := d.off
	m, ai, n, err := d.head()
	if err != nil {
		return nil, err
	}
	switch m {
	case majorUint:
		if n <= math.MaxInt64 {
			return starlark.MakeInt64(int64(n)), nil
		}
		return starlark.MakeUint64(n), nil
	case majorNeg:
		if n <= math.MaxInt64 {
			return starlark.MakeInt64(-1 - int64(n)), nil
		}
		b := new(big.Int).SetUint64(n)
		return starlark.MakeBigInt(b.Neg(b).Sub(b, big.NewInt(1))), nil
	case majorBytes:
		p, err := d.raw(n)
		if err != nil {
			return nil, err
		}
		if d.aliases(p) {
			return starlark.Bytes(unsafe.String(&p[0], len(p))), nil
		}
		return starlark.Bytes(protocol.StringLarge(p)), nil // the one copy
	case majorText:
		s, err := d.text(n)
		if err != nil {
			return nil, err
		}
		return starlark.String(s), nil
	case majorArray:
		cnt, err := d.count(n, 1, "array")
		if err != nil {
			return nil, err
		}
		elems, err := d.values(cnt, depth+1)
		if err != nil {
			return nil, err
		}
		return starlark.NewList(elems), nil
	case majorMap:
		cnt, err := d.count(n, 2, "map")
		if err != nil {
			return nil, err
		}
		return d.dictMap(cnt, depth+1)
	case majorTag:
		return d.tagged(n, start, depth)
	default: // majorSimple
		return d.simple(ai, n, start)
	}
}

// values decodes n consecutive values.
func (d *decoder) values(n int, depth int) ([]starlark.Value, error) {
	elems := make([]starlark.Value, n)
	var s slabs
	for i := 0; i < n; i++ {
		if depth <= d.maxDepth {
			if i = d.scalars(elems, i, &s); i == n {
				break
			}
		}
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		elems[i] = v
	}
	return elems, nil
}

// floatSlab is how many decoded floats share one allocation: 512 bytes,
// the largest objects the garbage collector marks by span rather than
// one pointer at a time, and little memory kept alive by a kept float.
const floatSlab = 64

// slabs are the shared allocations of a list's decoded floats and ints.
type slabs struct {
	floats []starlark.Float
	ints   intSlab
}

// scalars decodes the run of float64s and ints of at most 64 bits that
// starts at elems[i], and returns where the run ends. A float is not
// boxed on its own: its value points into a slab (floatValue); nor is
// an int beyond the int32 range (intSlab).
func (d *decoder) scalars(elems []starlark.Value, i int, s *slabs) int {
	b, off := d.b, d.off
	// The slab in a local: storing it into *s per float would pass each
	// store through the write barrier while the collector marks.
	floats := s.floats
	for ; i < len(elems) && off < len(b); i++ {
		start, ib := off, b[off]
		if ib == cborFloat64 {
			if len(b)-off < 9 {
				break
			}
			if len(floats) == 0 {
				floats = make([]starlark.Float, min(len(elems)-i, floatSlab))
			}
			f := &floats[0]
			floats = floats[1:]
			*f = starlark.Float(math.Float64frombits(binary.BigEndian.Uint64(b[off+1:])))
			elems[i] = floatValue(f)
			off += 9
			continue
		}
		m, ai := ib&0xe0, ib&0x1f
		if (m != majorUint && m != majorNeg) || ai > 27 {
			break
		}
		var x uint64
		switch {
		case ai < 24:
			x, off = uint64(ai), off+1
		case len(b)-off <= 1<<(ai-24):
			d.off, s.floats = start, floats
			return i // short input: value reports it
		case ai == 24:
			x, off = uint64(b[off+1]), off+2
		case ai == 25:
			x, off = uint64(binary.BigEndian.Uint16(b[off+1:])), off+3
		case ai == 26:
			x, off = uint64(binary.BigEndian.Uint32(b[off+1:])), off+5
		default:
			x, off = binary.BigEndian.Uint64(b[off+1:]), off+9
		}
		v, ok := s.ints.int(m == majorNeg, x, len(elems)-i)
		if !ok { // -2^64: value makes the big int
			d.off, s.floats = start, floats
			return i
		}
		elems[i] = v
	}
	d.off, s.floats = off, floats
	return i
}

func (d *decoder) simple(ai byte, arg uint64, start int) (starlark.Value, error) {
	switch ai {
	case 20:
		return starlark.False, nil
	case 21:
		return starlark.True, nil
	case 22:
		return starlark.None, nil
	case 25:
		return starlark.Float(halfToFloat(uint16(arg))), nil
	case 26:
		return starlark.Float(math.Float32frombits(uint32(arg))), nil
	case 27:
		return starlark.Float(math.Float64frombits(arg)), nil
	}
	d.off = start
	return nil, d.errorf("unsupported simple value %d", arg)
}

// halfToFloat converts an IEEE 754 half-precision float.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 31:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1024+frac, exp-25)
}

// insertUnique inserts k into d, refusing unhashable and duplicate keys.
func (d *decoder) insertUnique(dict *starlark.Dict, k, v starlark.Value) error {
	if _, err := k.Hash(); err != nil {
		return d.errorf("dict key: %v", err)
	}
	if _, found, _ := dict.Get(k); found {
		return d.errorf("duplicate dict key %s", k)
	}
	if err := dict.SetKey(k, v); err != nil {
		return d.errorf("dict key: %v", err)
	}
	return nil
}

// dictMap decodes the n entries of a plain CBOR map.
func (d *decoder) dictMap(n int, depth int) (starlark.Value, error) {
	dict := starlark.NewDict(n)
	for range n {
		k, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		if err := d.insertUnique(dict, k, v); err != nil {
			return nil, err
		}
	}
	return dict, nil
}

func (d *decoder) tagged(tag uint64, start int, depth int) (starlark.Value, error) {
	switch tag {
	case tagPosBignum, tagNegBignum:
		m, _, n, err := d.head()
		if err != nil {
			return nil, err
		}
		if m != majorBytes {
			d.off = start
			return nil, d.errorf("bignum content is not a byte string")
		}
		p, err := d.raw(n)
		if err != nil {
			return nil, err
		}
		b := new(big.Int).SetBytes(p)
		if tag == tagNegBignum {
			b.Neg(b).Sub(b, big.NewInt(1))
		}
		return starlark.MakeBigInt(b), nil
	case protocol.TagTuple:
		n, err := d.arrayHead("tuple")
		if err != nil {
			return nil, err
		}
		elems, err := d.values(n, depth+1)
		if err != nil {
			return nil, err
		}
		return starlark.Tuple(elems), nil
	case protocol.TagSet:
		n, err := d.arrayHead("set")
		if err != nil {
			return nil, err
		}
		set := starlark.NewSet(n)
		for range n {
			x, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, err := x.Hash(); err != nil {
				return nil, d.errorf("set element: %v", err)
			}
			if found, _ := set.Has(x); found {
				return nil, d.errorf("duplicate set element %s", x)
			}
			if err := set.Insert(x); err != nil {
				return nil, d.errorf("set element: %v", err)
			}
		}
		return set, nil
	case protocol.TagOrderedMap:
		n, err := d.arrayHead("ordered map")
		if err != nil {
			return nil, err
		}
		dict := starlark.NewDict(n)
		for range n {
			if err := d.pair(depth+1, "ordered map entry"); err != nil {
				return nil, err
			}
			k, err := d.value(depth + 2)
			if err != nil {
				return nil, err
			}
			v, err := d.value(depth + 2)
			if err != nil {
				return nil, err
			}
			if err := d.insertUnique(dict, k, v); err != nil {
				return nil, err
			}
		}
		return dict, nil
	case protocol.TagStruct:
		n, err := d.mapHead("struct")
		if err != nil {
			return nil, err
		}
		kwargs := make([]starlark.Tuple, 0, n)
		seen := make(map[string]bool, n)
		for range n {
			name, err := d.textItem("struct field name")
			if err != nil {
				return nil, err
			}
			if seen[name] {
				return nil, d.errorf("duplicate struct field %q", name)
			}
			seen[name] = true
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			kwargs = append(kwargs, starlark.Tuple{starlark.String(name), v})
		}
		return starlarkstruct.FromKeywords(starlarkstruct.Default, kwargs), nil
	case protocol.TagRange:
		return d.rangeValue(depth)
	case protocol.TagReference:
		expr, err := d.textItem("reference")
		if err != nil {
			return nil, err
		}
		if d.o.Reference == nil {
			return &Reference{Expr: expr}, nil
		}
		v, err := d.o.Reference(expr)
		if err != nil {
			return nil, fmt.Errorf("evaluate Reference(%q): %w", expr, err)
		}
		return v, nil
	case protocol.TagFunction:
		var f protocol.Function
		if err := d.goValue(depth+1, &f, "function"); err != nil {
			return nil, err
		}
		if d.o.BuildFunction == nil {
			return nil, fmt.Errorf("cannot receive function %s", f.Name)
		}
		v, err := d.o.BuildFunction(&f)
		if err != nil {
			return nil, fmt.Errorf("build function %s: %w", f.Name, err)
		}
		return v, nil
	case tagMultiDim, tagUint8, tagInt64LE, tagFloat64LE, protocol.TagComplexArray:
		return d.typedArray(tag, start)
	case protocol.TagError:
		ev := new(ErrorValue)
		if err := d.goValue(depth+1, &ev.Err, "error"); err != nil {
			return nil, err
		}
		return ev, nil
	}
	d.off = start
	return nil, d.errorf("unknown tag %d", tag)
}

// pair reads the head of a two-element array.
func (d *decoder) pair(depth int, what string) error {
	if depth > d.maxDepth {
		return d.errorf("nested more than %d levels", d.maxDepth)
	}
	start := d.off
	m, _, n, err := d.head()
	if err != nil {
		return err
	}
	if m != majorArray || n != 2 {
		d.off = start
		return d.errorf("%s is not a two-element array", what)
	}
	return nil
}

// goValue decodes the next item into the Go value x with the cbor
// library, within the decoder's limits.
func (d *decoder) goValue(depth int, x any, what string) error {
	start := d.off
	if err := d.skip(depth); err != nil {
		return err
	}
	if d.dm == nil {
		dm, err := protocol.DecMode(protocol.Limits{MaxDepth: d.maxDepth, MaxElements: d.maxElems})
		if err != nil {
			return err
		}
		d.dm = dm
	}
	if err := d.dm.Unmarshal(d.b[start:d.off], x); err != nil {
		d.off = start
		return d.errorf("%s: %v", what, err)
	}
	return nil
}

// skip passes over one well-formed item without decoding it.
func (d *decoder) skip(depth int) error {
	if depth > d.maxDepth {
		return d.errorf("nested more than %d levels", d.maxDepth)
	}
	m, _, n, err := d.head()
	if err != nil {
		return err
	}
	switch m {
	case majorBytes, majorText:
		_, err := d.raw(n)
		return err
	case majorArray, majorMap:
		per := uint64(1)
		if m == majorMap {
			per = 2
		}
		cnt, err := d.count(n, per, "container")
		if err != nil {
			return err
		}
		for range int(per) * cnt {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case majorTag:
		return d.skip(depth + 1)
	}
	return nil
}
