package starlarklib

import (
	"unsafe"

	"go.starlark.net/starlark"
)

// eface is the layout of an interface value holding a non-pointer type: a
// type word and a pointer to the value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// floatType is the type word of a starlark.Value holding a starlark.Float.
var floatType = func() unsafe.Pointer {
	var v starlark.Value = starlark.Float(0)
	return (*eface)(unsafe.Pointer(&v)).typ
}()

// floatValue returns the starlark.Value holding *f without allocating: the
// interface points at *f, which must never change afterwards. Decoding a
// list of floats then makes one allocation per floatSlab floats instead
// of one each, which halves the time of decoding. (An interface's data
// word may point into the middle of an object: the collector keeps the
// whole slab alive while any of its floats is.)
func floatValue(f *starlark.Float) starlark.Value {
	var v starlark.Value
	e := (*eface)(unsafe.Pointer(&v))
	e.typ = floatType
	e.data = unsafe.Pointer(f)
	return v
}
