package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// wireRange is a range of ints that Encode sends as a range
// (protocol.TagRange), not as the list of its elements.
type wireRange struct{ start, stop, step int }

// RangeSlice returns elements lo to hi (0 <= lo <= hi <= len(r)) of the
// range r as a value that Encode sends as a range and Decode gives back
// as a range: a map chunk of range(...) travels as three ints, as
// ipyparallel sends it. ok is false when r is not a range. The value is
// for encoding only: not a value to give to Starlark code.
func RangeSlice(r starlark.Value, lo, hi int) (v starlark.Value, ok bool) {
	x, ok := r.(starlark.Indexable)
	if !ok || r.Type() != "range" {
		return nil, false
	}
	if lo < 0 || hi < lo || hi > x.Len() {
		panic(fmt.Sprintf("RangeSlice(%d, %d) of %d elements", lo, hi, x.Len()))
	}
	step := 1
	if x.Len() > 1 {
		step = rangeInt(x.Index(1)) - rangeInt(x.Index(0))
	}
	if lo == hi {
		return wireRange{0, 0, 1}, true
	}
	// stop is one past the last element, towards step: within Go's int
	// as the range's own stop is.
	start, last := rangeInt(x.Index(lo)), rangeInt(x.Index(hi-1))
	stop := last + 1
	if step < 0 {
		stop = last - 1
	}
	return wireRange{start, stop, step}, true
}

// rangeInt is the Go int of a range's element.
func rangeInt(v starlark.Value) int {
	var i int
	_ = starlark.AsInt(v, &i) // a range's elements are Go ints
	return i
}

func (r wireRange) Type() string          { return "range" }
func (r wireRange) Freeze()               {}
func (r wireRange) Truth() starlark.Bool  { return r.stop != r.start }
func (r wireRange) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: range") }
func (r wireRange) String() string {
	return fmt.Sprintf("range(%d, %d, %d)", r.start, r.stop, r.step)
}

// rangeBounds appends the range as TagRange [start, stop, step].
func (e *encoder) rangeBounds(r wireRange) {
	e.buf = protocol.AppendHead(e.buf, majorTag, protocol.TagRange)
	e.buf = protocol.AppendHead(e.buf, majorArray, 3)
	for _, v := range []int{r.start, r.stop, r.step} {
		e.int(starlark.MakeInt(v))
	}
}

// rangeValue decodes TagRange's content as a Starlark range.
func (d *decoder) rangeValue(depth int) (starlark.Value, error) {
	start := d.off
	n, err := d.arrayHead("range")
	if err != nil {
		return nil, err
	}
	if n != 3 {
		d.off = start
		return nil, d.errorf("range is not [start, stop, step]")
	}
	var args starlark.Tuple
	for range 3 {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(starlark.Int); !ok {
			d.off = start
			return nil, d.errorf("range bound is %s, want int", v.Type())
		}
		args = append(args, v)
	}
	r, err := starlark.Call(&starlark.Thread{Name: "decode"}, starlark.Universe["range"], args, nil)
	if err != nil {
		d.off = start
		return nil, d.errorf("%v", err)
	}
	return r, nil
}
