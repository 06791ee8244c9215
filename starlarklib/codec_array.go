package starlarklib

import (
	"encoding/binary"
	"math"
	"unsafe"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// RFC 8746 tags of ndarrays: tag 40 wraps [shape, typed array]; the typed
// array is a byte string tagged with its element type. The payload is
// copied once each way, never encoded per element.
const (
	tagMultiDim  = 40
	tagUint8     = 64 // bool elements, as 0 and 1
	tagInt64LE   = 79
	tagFloat64LE = 86
	// maxArrayDims bounds the dimensions of a received array.
	maxArrayDims = 32
)

// littleEndian reports whether the host is little-endian, so that typed
// array payloads are the memory of the slice.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// array appends the RFC 8746 form of an ndarray.
func (e *encoder) array(a *numpy.Array) {
	shape := a.Shape()
	n := a.Size()
	tag, width := uint64(tagFloat64LE), 8
	var data []float64
	switch a.DType() {
	case numpy.Bool:
		tag, width = tagUint8, 1
	case numpy.Int64:
		tag = tagInt64LE
	case numpy.Float64:
		data = a.Float64s()
	case numpy.Complex128:
		e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagComplexArray)
		width = 16
		c := a.Complex128s()
		if len(c) > 0 {
			data = unsafe.Slice((*float64)(unsafe.Pointer(&c[0])), 2*len(c))
		}
		shape = append(append([]int{}, shape...), 2)
	}
	size := 32 + 9*len(shape)
	if !e.shareArrays || width*n < e.split || a.DType() == numpy.Bool {
		size += width * n
	}
	e.reserve(size)
	w := e.alignedWidths(shape, tag, width*n)
	e.buf = appendHeadWidth(e.buf, majorTag, tagMultiDim, w[0])
	e.buf = protocol.AppendHead(e.buf, majorArray, 2)
	e.buf = protocol.AppendHead(e.buf, majorArray, uint64(len(shape)))
	for _, d := range shape {
		e.buf = protocol.AppendHead(e.buf, majorUint, uint64(d))
	}
	e.buf = appendHeadWidth(e.buf, majorTag, tag, w[1])
	e.buf = appendHeadWidth(e.buf, majorBytes, uint64(width*n), w[2])
	switch {
	case a.DType() == numpy.Bool:
		for _, b := range a.Bools() {
			if b {
				e.buf = append(e.buf, 1)
			} else {
				e.buf = append(e.buf, 0)
			}
		}
	case a.DType() == numpy.Int64:
		if s := a.Int64s(); len(s) == 0 || !e.sharedPart(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s))) {
			e.buf = appendInt64s(e.buf, s)
		}
	default:
		if len(data) == 0 || !e.sharedPart(unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 8*len(data))) {
			e.buf = appendFloat64s(e.buf, data)
		}
	}
}

// alignedWidths returns the head widths (in bytes, 0: the shortest) of
// an array's tag 40, its typed array tag and its byte string, chosen so
// that a payload of aliasMin bytes or more starts at a multiple of 8 from
// the start of the encoding: a receiver whose buffer is 8-aligned can
// then use the payload as the array's memory (typedPayload). CBOR allows
// these longer heads; the value is the same.
func (e *encoder) alignedWidths(shape []int, tag uint64, size int) [3]int {
	if size < aliasMin {
		return [3]int{}
	}
	off := len(e.buf)
	for _, p := range e.parts {
		off += len(p)
	}
	off += 1 + headLen(uint64(len(shape))) // the [shape, typed array] pair's head, the shape's
	for _, d := range shape {
		off += headLen(uint64(d))
	}
	for _, w0 := range []int{headLen(tagMultiDim), 3, 5, 9} {
		for _, w1 := range []int{headLen(tag), 3, 5, 9} {
			for _, w2 := range []int{headLen(uint64(size)), 9} {
				if (off+w0+w1+w2)%8 == 0 {
					return [3]int{w0, w1, w2}
				}
			}
		}
	}
	return [3]int{}
}

// headLen returns the length of the shortest head of argument n.
func headLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	case n <= math.MaxUint32:
		return 5
	}
	return 9
}

// appendHeadWidth is appendHead with a head of width bytes (0, or one
// too short for n: the shortest).
func appendHeadWidth(b []byte, m byte, n uint64, width int) []byte {
	if width <= headLen(n) {
		return protocol.AppendHead(b, m, n)
	}
	switch width {
	case 2:
		return append(b, m|24, byte(n))
	case 3:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case 5:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendFloat64s(b []byte, f []float64) []byte {
	if len(f) == 0 {
		return b
	}
	if littleEndian {
		return protocol.AppendLarge(b, unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 8*len(f)))
	}
	for _, x := range f {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func appendInt64s(b []byte, s []int64) []byte {
	if len(s) == 0 {
		return b
	}
	if littleEndian {
		return protocol.AppendLarge(b, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s)))
	}
	for _, x := range s {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// typedArray decodes an ndarray: tag 40 [shape, typed array], a bare
// typed array (1-d), or a complex array (TagComplexArray).
func (d *decoder) typedArray(tag uint64, start int) (starlark.Value, error) {
	switch tag {
	case tagUint8, tagInt64LE, tagFloat64LE:
		return d.typedPayload(tag, nil, false)
	case protocol.TagComplexArray:
		m, _, t, err := d.head()
		if err != nil {
			return nil, err
		}
		if m != majorTag || t != tagMultiDim {
			d.off = start
			return nil, d.errorf("complex array content is not a multi-dimensional array")
		}
		return d.multiDim(true)
	}
	return d.multiDim(false)
}

// multiDim decodes the [shape, typed array] content of tag 40.
func (d *decoder) multiDim(complexPairs bool) (starlark.Value, error) {
	if err := d.pair(0, "multi-dimensional array"); err != nil {
		return nil, err
	}
	n, err := d.arrayHead("array shape")
	if err != nil {
		return nil, err
	}
	if n > maxArrayDims {
		return nil, d.errorf("array of %d dimensions exceeds the limit of %d", n, maxArrayDims)
	}
	shape := make([]int, n)
	total := uint64(1)
	for k := range shape {
		m, _, v, err := d.head()
		if err != nil {
			return nil, err
		}
		if m != majorUint || v > uint64(d.maxElems) {
			return nil, d.errorf("array dimension is not a size within the limit of %d", d.maxElems)
		}
		shape[k] = int(v)
		total *= v
		if total > uint64(d.maxElems) {
			return nil, d.errorf("array of more than %d elements", d.maxElems)
		}
	}
	m, _, tag, err := d.head()
	if err != nil {
		return nil, err
	}
	if m != majorTag || (tag != tagUint8 && tag != tagInt64LE && tag != tagFloat64LE) {
		return nil, d.errorf("multi-dimensional array content is not a supported typed array")
	}
	if complexPairs && (tag != tagFloat64LE || n == 0 || shape[n-1] != 2) {
		return nil, d.errorf("complex array is not float64 pairs")
	}
	return d.typedPayload(tag, shape, complexPairs)
}

// typedPayload reads the byte string of a typed array and copies it into
// an ndarray of shape (nil: 1-d); complexPairs makes the last dimension
// (2) the real and imaginary parts.
func (d *decoder) typedPayload(tag uint64, shape []int, complexPairs bool) (starlark.Value, error) {
	m, _, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if m != majorBytes {
		return nil, d.errorf("typed array content is not a byte string")
	}
	width := uint64(8)
	if tag == tagUint8 {
		width = 1
	}
	if n%width != 0 {
		return nil, d.errorf("typed array of %d bytes is not a whole number of %d-byte elements", n, width)
	}
	count := n / width
	if count > uint64(d.maxElems) {
		return nil, d.errorf("typed array of %d elements exceeds the limit of %d", count, d.maxElems)
	}
	p, err := d.raw(n)
	if err != nil {
		return nil, err
	}
	if shape == nil {
		shape = []int{int(count)}
	}
	want := uint64(1)
	for _, s := range shape {
		want *= uint64(s)
	}
	if want != count {
		d.off -= int(n)
		return nil, d.errorf("typed array of %d elements does not fill shape %v", count, shape)
	}
	switch {
	case tag == tagUint8:
		b := make([]bool, count)
		for k, x := range p {
			b[k] = x != 0
		}
		return numpy.NewBool(shape, b), nil
	case tag == tagInt64LE:
		if d.aliasesArray(p) {
			return d.aliased(numpy.NewInt64(shape, unsafe.Slice((*int64)(unsafe.Pointer(&p[0])), count)), p), nil
		}
		s := make([]int64, count)
		if littleEndian && count > 0 {
			protocol.CopyLarge(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), n), p)
		} else {
			for k := range s {
				s[k] = int64(binary.LittleEndian.Uint64(p[8*k:]))
			}
		}
		return numpy.NewInt64(shape, s), nil
	case complexPairs:
		var c []complex128
		if d.aliasesArray(p) {
			c = unsafe.Slice((*complex128)(unsafe.Pointer(&p[0])), count/2)
			if len(shape) == 1 {
				return numpy.Complex(c[0]), nil
			}
			return d.aliased(numpy.NewComplex128(shape[:len(shape)-1], c), p), nil
		}
		c = make([]complex128, count/2)
		if littleEndian && count > 0 {
			protocol.CopyLarge(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), n), p)
		} else {
			for k := range c {
				c[k] = complex(math.Float64frombits(binary.LittleEndian.Uint64(p[16*k:])),
					math.Float64frombits(binary.LittleEndian.Uint64(p[16*k+8:])))
			}
		}
		if len(shape) == 1 {
			return numpy.Complex(c[0]), nil // a complex scalar
		}
		return numpy.NewComplex128(shape[:len(shape)-1], c), nil
	}
	if d.aliasesArray(p) {
		return d.aliased(numpy.NewFloat64(shape, unsafe.Slice((*float64)(unsafe.Pointer(&p[0])), count)), p), nil
	}
	f := make([]float64, count)
	if littleEndian && count > 0 {
		protocol.CopyLarge(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), n), p)
	} else {
		for k := range f {
			f[k] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*k:]))
		}
	}
	return numpy.NewFloat64(shape, f), nil
}

// aliasesArray reports whether the payload p of an int64, float64 or
// complex128 array may be the array's memory instead of copied: an owned
// input (nothing else reads it afterwards, so writes to the array change
// nobody else's bytes), a payload large enough to alias (aliases), in
// host order and 8-aligned (the encoder aligns large payloads,
// alignedWidths); or a large payload of a kept input (keeps).
func (d *decoder) aliasesArray(p []byte) bool {
	return littleEndian && len(p) > 0 && !d.o.Shared && (d.aliases(p) || d.keeps(p)) && uintptr(unsafe.Pointer(&p[0]))%8 == 0
}

// aliased returns a, whose memory is payload p of the input, tied to the
// input's keeper when the input is kept.
func (d *decoder) aliased(a *numpy.Array, p []byte) *numpy.Array {
	if d.o.Keep != nil {
		d.keep(a, p)
	}
	return a
}
