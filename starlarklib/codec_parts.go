package starlarklib

import (
	"unsafe"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// PartMin is the smallest string or bytes value that EncodeParts leaves
// where it is, as a part of its own.
const PartMin = 1 << 20

// str appends a text or bytes string: its head, then its bytes copied
// or, when splitting, as a part that points at s (Go strings do not
// change).
func (e *encoder) str(major byte, s string) {
	if e.split > 0 && len(s) >= e.split {
		e.buf = protocol.AppendHead(e.buf, major, uint64(len(s)))
		e.parts = append(e.parts, e.buf, unsafe.Slice(unsafe.StringData(s), len(s)))
		e.buf = nil
		return
	}
	e.reserve(9 + len(s))
	e.buf = protocol.AppendHead(e.buf, major, uint64(len(s)))
	e.buf = protocol.AppendLarge(e.buf, s)
}

// EncodeParts is Encode as parts whose concatenation is Encode's bytes:
// each string or bytes value of PartMin bytes or more is a part of its
// own that points at the value's memory instead of a copy, so that a
// large value is copied once, where the parts are written. The parts
// must not be modified.
func EncodeParts(v starlark.Value, o *EncodeOptions) ([][]byte, error) {
	e := encoder{o: o, split: PartMin}
	if err := e.value(v, 0); err != nil {
		return nil, err.withRoot("value")
	}
	if len(e.buf) > 0 || len(e.parts) == 0 {
		e.parts = append(e.parts, e.buf)
	}
	return e.parts, nil
}

// EncodePartsShared is EncodeParts that also leaves the payload of each
// int64, float64 or complex128 array of PartMin bytes or more where it
// is, as a part of its own; shared reports whether it did. An array can
// change, so such parts must be read before control returns to Starlark
// (quic.NewBodyPartsVolatile copies them unless they go into a memfd,
// which is written before the write returns).
func EncodePartsShared(v starlark.Value, o *EncodeOptions) (parts [][]byte, shared bool, err error) {
	e := encoder{o: o, split: PartMin, shareArrays: true}
	if err := e.value(v, 0); err != nil {
		return nil, false, err.withRoot("value")
	}
	if len(e.buf) > 0 || len(e.parts) == 0 {
		e.parts = append(e.parts, e.buf)
	}
	return e.parts, e.shared, nil
}

// sharedPart makes p, an array's payload, a part of its own when
// sharing arrays, and reports whether it did.
func (e *encoder) sharedPart(p []byte) bool {
	if !e.shareArrays || len(p) < e.split || !littleEndian {
		return false
	}
	e.parts = append(e.parts, e.buf, p)
	e.buf = nil
	e.shared = true
	return true
}
