package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"
)

// listRange is elements lo to hi of an indexable value, which Encode
// sends as a list without copying them (a chunk of a scattered list).
type listRange struct {
	x      starlark.Indexable
	lo, hi int
}

// ListRange returns elements lo to hi (0 <= lo <= hi <= x.Len()) of x as
// a value that Encode sends as a list, without copying them. It is for
// encoding only: not a value to give to Starlark code.
func ListRange(x starlark.Indexable, lo, hi int) starlark.Value {
	if lo < 0 || hi < lo || hi > x.Len() {
		panic(fmt.Sprintf("ListRange(%d, %d) of %d elements", lo, hi, x.Len()))
	}
	return listRange{x, lo, hi}
}

func (r listRange) Index(i int) starlark.Value { return r.x.Index(r.lo + i) }
func (r listRange) Len() int                   { return r.hi - r.lo }
func (r listRange) Type() string               { return "list" }
func (r listRange) Freeze()                    {}
func (r listRange) Truth() starlark.Bool       { return r.hi > r.lo }
func (r listRange) Hash() (uint32, error)      { return 0, fmt.Errorf("unhashable type: list") }
func (r listRange) String() string {
	elems := make([]starlark.Value, r.Len())
	for i := range elems {
		elems[i] = r.Index(i)
	}
	return starlark.NewList(elems).String()
}
