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
		e.buf = appendHead(e.buf, majorTag, protocol.TagComplexArray)
		width = 16
		c := a.Complex128s()
		if len(c) > 0 {
			data = unsafe.Slice((*float64)(unsafe.Pointer(&c[0])), 2*len(c))
		}
		shape = append(append([]int{}, shape...), 2)
	}
	e.reserve(16 + 9*len(shape) + width*n)
	e.buf = appendHead(e.buf, majorTag, tagMultiDim)
	e.buf = appendHead(e.buf, majorArray, 2)
	e.buf = appendHead(e.buf, majorArray, uint64(len(shape)))
	for _, d := range shape {
		e.buf = appendHead(e.buf, majorUint, uint64(d))
	}
	e.buf = appendHead(e.buf, majorTag, tag)
	e.buf = appendHead(e.buf, majorBytes, uint64(width*n))
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
		e.buf = appendInt64s(e.buf, a.Int64s())
	default:
		e.buf = appendFloat64s(e.buf, data)
	}
}

func appendFloat64s(b []byte, f []float64) []byte {
	if len(f) == 0 {
		return b
	}
	if littleEndian {
		return appendLarge(b, unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 8*len(f)))
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
		return appendLarge(b, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s)))
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
		s := make([]int64, count)
		if littleEndian && count > 0 {
			copyChunked(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), n), p)
		} else {
			for k := range s {
				s[k] = int64(binary.LittleEndian.Uint64(p[8*k:]))
			}
		}
		return numpy.NewInt64(shape, s), nil
	case complexPairs:
		c := make([]complex128, count/2)
		if littleEndian && count > 0 {
			copyChunked(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), n), p)
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
	f := make([]float64, count)
	if littleEndian && count > 0 {
		copyChunked(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), n), p)
	} else {
		for k := range f {
			f[k] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*k:]))
		}
	}
	return numpy.NewFloat64(shape, f), nil
}
