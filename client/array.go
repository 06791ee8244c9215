package client

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"

	"github.com/pxsh/pxsh/protocol"
)

// RFC 8746 tags used for arrays.
const (
	tagMultiDim  = 40
	tagUint8     = 64
	tagInt64LE   = 79
	tagFloat64LE = 86
)

// arrayWire returns the wire form of an Array.
func arrayWire(a Array, path string) (any, error) {
	n := 1
	for _, d := range a.Shape {
		if d < 0 {
			return nil, fmt.Errorf("cannot send Array at %s: negative dimension %d", path, d)
		}
		n *= d
	}
	var tag uint64
	var b []byte
	shape := append([]int{}, a.Shape...)
	complexArray := false
	switch data := a.Data.(type) {
	case []float64:
		if len(data) == n {
			tag, b = tagFloat64LE, make([]byte, 0, 8*n)
			for _, x := range data {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
			}
		}
	case []int64:
		if len(data) == n {
			tag, b = tagInt64LE, make([]byte, 0, 8*n)
			for _, x := range data {
				b = binary.LittleEndian.AppendUint64(b, uint64(x))
			}
		}
	case []bool:
		if len(data) == n {
			tag, b = tagUint8, make([]byte, n)
			for k, x := range data {
				if x {
					b[k] = 1
				}
			}
		}
	case []complex128:
		if len(data) == n {
			tag, b, complexArray = tagFloat64LE, make([]byte, 0, 16*n), true
			for _, x := range data {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(real(x)))
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(imag(x)))
			}
			shape = append(shape, 2)
		}
	default:
		return nil, fmt.Errorf("cannot send Array at %s: data %T is not []float64, []int64, []bool or []complex128", path, a.Data)
	}
	if b == nil {
		return nil, fmt.Errorf("cannot send Array at %s: data does not fill shape %v", path, a.Shape)
	}
	w := cbor.Tag{Number: tagMultiDim, Content: []any{shape, cbor.Tag{Number: tag, Content: b}}}
	if complexArray {
		return cbor.Tag{Number: protocol.TagComplexArray, Content: w}, nil
	}
	return w, nil
}

// arrayFromWire converts a received typed array to an Array.
func arrayFromWire(t cbor.Tag) (Array, bool) {
	complexArray := false
	if t.Number == protocol.TagComplexArray {
		inner, ok := t.Content.(cbor.Tag)
		if !ok {
			return Array{}, false
		}
		t, complexArray = inner, true
	}
	var shape []int
	switch t.Number {
	case tagUint8, tagInt64LE, tagFloat64LE:
	case tagMultiDim:
		parts, ok := t.Content.([]any)
		if !ok || len(parts) != 2 {
			return Array{}, false
		}
		dims, ok := parts[0].([]any)
		if !ok {
			return Array{}, false
		}
		for _, d := range dims {
			var u int64
			switch d := d.(type) {
			case uint64:
				u = int64(min(d, math.MaxInt32+1))
			case int64:
				u = d
			default:
				return Array{}, false
			}
			if u < 0 || u > math.MaxInt32 {
				return Array{}, false
			}
			shape = append(shape, int(u))
		}
		if t, ok = parts[1].(cbor.Tag); !ok {
			return Array{}, false
		}
	default:
		return Array{}, false
	}
	b, ok := t.Content.([]byte)
	if !ok {
		return Array{}, false
	}
	var data any
	switch t.Number {
	case tagUint8:
		s := make([]bool, len(b))
		for k, x := range b {
			s[k] = x != 0
		}
		data = s
	case tagInt64LE:
		s := make([]int64, len(b)/8)
		for k := range s {
			s[k] = int64(binary.LittleEndian.Uint64(b[8*k:]))
		}
		data = s
	case tagFloat64LE:
		s := make([]float64, len(b)/8)
		for k := range s {
			s[k] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*k:]))
		}
		data = s
	default:
		return Array{}, false
	}
	if shape == nil {
		shape = []int{len(b)}
		if t.Number != tagUint8 {
			shape[0] /= 8
		}
	}
	n, count := 1, len(b)
	for _, d := range shape {
		n *= d
	}
	if t.Number != tagUint8 {
		count /= 8
	}
	if n != count {
		return Array{}, false
	}
	if complexArray {
		f, ok := data.([]float64)
		if !ok || len(shape) == 0 || shape[len(shape)-1] != 2 {
			return Array{}, false
		}
		c := make([]complex128, len(f)/2)
		for k := range c {
			c[k] = complex(f[2*k], f[2*k+1])
		}
		data, shape = c, shape[:len(shape)-1]
	}
	return Array{Shape: shape, Data: data}, true
}
