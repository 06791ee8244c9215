package numpy

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// sliceValue is a slice of one axis, made by np.s_(start, stop, step) or
// parsed from a string index such as "1:3, 0"; a nil bound is omitted.
type sliceValue struct {
	start, stop, step starlark.Value
}

func (s *sliceValue) String() string {
	return fmt.Sprintf("slice(%s, %s, %s)", s.start, s.stop, s.step)
}
func (s *sliceValue) Type() string          { return "slice" }
func (s *sliceValue) Freeze()               {}
func (s *sliceValue) Truth() starlark.Bool  { return true }
func (s *sliceValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: slice") }

// ellipsisValue stands for as many full slices as needed ("..." in a
// string index).
type ellipsisValue struct{}

func (ellipsisValue) String() string        { return "Ellipsis" }
func (ellipsisValue) Type() string          { return "ellipsis" }
func (ellipsisValue) Freeze()               {}
func (ellipsisValue) Truth() starlark.Bool  { return true }
func (ellipsisValue) Hash() (uint32, error) { return 1, nil }

// resolve returns the indices a slice selects on an axis of length n, with
// Python's rules for negative and out-of-range bounds.
func (s *sliceValue) resolve(n int) ([]int, error) {
	step := 1
	if s.step != nil && s.step != starlark.None {
		v, err := starlark.AsInt32(s.step)
		if err != nil {
			return nil, fmt.Errorf("slice step: %w", err)
		}
		if v == 0 {
			return nil, fmt.Errorf("slice step cannot be zero")
		}
		step = v
	}
	lo, hi := 0, n
	if step < 0 {
		lo, hi = -1, n-1
	}
	bound := func(v starlark.Value, def int) (int, error) {
		if v == nil || v == starlark.None {
			return def, nil
		}
		i, err := starlark.AsInt32(v)
		if err != nil {
			return 0, fmt.Errorf("slice index: %w", err)
		}
		if i < 0 {
			i += n
		}
		return min(max(i, lo), hi), nil
	}
	startDef, stopDef := lo, hi
	if step < 0 {
		startDef, stopDef = hi, lo
	}
	start, err := bound(s.start, startDef)
	if err != nil {
		return nil, err
	}
	stop, err := bound(s.stop, stopDef)
	if err != nil {
		return nil, err
	}
	var out []int
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		out = append(out, i)
	}
	return out, nil
}

// parseIndex parses a string index: comma-separated ints, slices
// (start:stop:step, parts optional), "..." and None (or newaxis).
func parseIndex(s string) (starlark.Tuple, error) {
	var items starlark.Tuple
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "...":
			items = append(items, ellipsisValue{})
		case part == "None" || part == "np.newaxis" || part == "newaxis":
			items = append(items, starlark.None)
		case strings.Contains(part, ":"):
			bits := strings.Split(part, ":")
			if len(bits) > 3 {
				return nil, fmt.Errorf("index %q: bad slice %q", s, part)
			}
			vals := make([]starlark.Value, 3)
			for k, b := range bits {
				b = strings.TrimSpace(b)
				if b == "" {
					continue
				}
				n, err := strconv.Atoi(b)
				if err != nil {
					return nil, fmt.Errorf("index %q: bad slice bound %q", s, b)
				}
				vals[k] = starlark.MakeInt(n)
			}
			items = append(items, &sliceValue{vals[0], vals[1], vals[2]})
		default:
			n, err := strconv.Atoi(part)
			if err != nil {
				return nil, fmt.Errorf("index %q: bad item %q", s, part)
			}
			items = append(items, starlark.MakeInt(n))
		}
	}
	return items, nil
}

// selection is the flat indices an index selects, and the shape of the
// result.
type selection struct {
	shape  []int
	flat   []int
	scalar bool // every axis was picked by an int
}

// selectIndex resolves an index (int, slice, tuple, string, bool mask,
// int list or array) against a.
func (a *Array) selectIndex(key starlark.Value) (*selection, error) {
	switch k := key.(type) {
	case starlark.String:
		items, err := parseIndex(string(k))
		if err != nil {
			return nil, err
		}
		return a.selectItems(items)
	case starlark.Tuple:
		return a.selectItems(k)
	case *Array:
		if k.dtype == Bool && equalShape(k.shape, a.shape) {
			return a.selectMask(k), nil
		}
	}
	return a.selectItems(starlark.Tuple{key})
}

// selectMask selects the elements where mask (of a's shape) is true.
func (a *Array) selectMask(mask *Array) *selection {
	var flat []int
	for k, t := range mask.b {
		if t {
			flat = append(flat, k)
		}
	}
	return &selection{shape: []int{len(flat)}, flat: flat}
}

// axisIndices is what one index item selects on an axis of length n.
func axisIndices(item starlark.Value, n, axis int) (idx []int, keep bool, err error) {
	switch it := item.(type) {
	case starlark.Int:
		i, err := starlark.AsInt32(it)
		if err != nil {
			return nil, false, fmt.Errorf("index: %w", err)
		}
		if i < -n || i >= n {
			return nil, false, fmt.Errorf("index %d is out of bounds for axis %d with size %d", i, axis, n)
		}
		if i < 0 {
			i += n
		}
		return []int{i}, false, nil
	case *sliceValue:
		idx, err := it.resolve(n)
		return idx, true, err
	}
	arr, err := asArray(item)
	if err != nil || len(arr.shape) != 1 {
		return nil, false, fmt.Errorf("index: got %s, want int, np.s_ slice, string, bool mask or 1-d int array", item.Type())
	}
	switch arr.dtype {
	case Bool:
		if len(arr.b) != n {
			return nil, false, fmt.Errorf("boolean index did not match axis %d: size %d, index size %d", axis, n, len(arr.b))
		}
		for k, t := range arr.b {
			if t {
				idx = append(idx, k)
			}
		}
		return idx, true, nil
	case Int64:
		idx = make([]int, len(arr.i))
		for k, i := range arr.i {
			if i < int64(-n) || i >= int64(n) {
				return nil, false, fmt.Errorf("index %d is out of bounds for axis %d with size %d", i, axis, n)
			}
			if i < 0 {
				i += int64(n)
			}
			idx[k] = int(i)
		}
		return idx, true, nil
	}
	if arr.Size() == 0 {
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("index: arrays used as indices must be of integer or boolean type")
}

// selectItems resolves a tuple of per-axis items (outer indexing).
func (a *Array) selectItems(items starlark.Tuple) (*selection, error) {
	// Expand one ellipsis into full slices; None (np.newaxis) adds an
	// axis of length 1 and consumes none.
	nd := len(a.shape)
	nNone := 0
	for _, it := range items {
		if it == starlark.None {
			nNone++
		}
	}
	var expanded starlark.Tuple
	seenEllipsis := false
	for _, it := range items {
		if _, ok := it.(ellipsisValue); ok {
			if seenEllipsis {
				return nil, fmt.Errorf("index: an index can only have a single ellipsis")
			}
			seenEllipsis = true
			for range nd - (len(items) - 1 - nNone) {
				expanded = append(expanded, &sliceValue{})
			}
			continue
		}
		expanded = append(expanded, it)
	}
	if len(expanded)-nNone > nd {
		return nil, fmt.Errorf("too many indices for array: array is %d-dimensional, but %d were indexed", nd, len(expanded)-nNone)
	}
	sel := &selection{}
	lists := make([][]int, nd)
	fancy := 0
	axis := 0
	for _, it := range expanded {
		if it == starlark.None {
			sel.shape = append(sel.shape, 1)
			continue
		}
		idx, keep, err := axisIndices(it, a.shape[axis], axis)
		if err != nil {
			return nil, err
		}
		switch it.(type) {
		case starlark.Int, *sliceValue:
		default:
			fancy++
		}
		if fancy > 1 {
			return nil, fmt.Errorf("index: at most one array or list index is supported")
		}
		lists[axis] = idx
		if keep {
			sel.shape = append(sel.shape, len(idx))
		}
		axis++
	}
	for ; axis < nd; axis++ {
		lists[axis] = fullRange(a.shape[axis])
		sel.shape = append(sel.shape, a.shape[axis])
	}
	if len(sel.shape) > maxDims {
		return nil, fmt.Errorf("index: the result would have more than %d dimensions", maxDims)
	}
	sel.scalar = len(sel.shape) == 0
	sel.flat = outerIndices(lists, stridesOf(a.shape))
	return sel, nil
}

func fullRange(n int) []int {
	r := make([]int, n)
	for k := range r {
		r[k] = k
	}
	return r
}

// outerIndices returns the flat offsets of the cartesian product of the
// per-axis index lists.
func outerIndices(lists [][]int, strides []int) []int {
	n := 1
	for _, l := range lists {
		n *= len(l)
	}
	out := make([]int, 0, n)
	if n == 0 {
		return out
	}
	last := len(lists) - 1
	var rec func(axis, off int)
	rec = func(axis, off int) {
		if axis == last {
			s := strides[axis]
			for _, i := range lists[axis] {
				out = append(out, off+i*s)
			}
			return
		}
		for _, i := range lists[axis] {
			rec(axis+1, off+i*strides[axis])
		}
	}
	if last < 0 {
		return append(out, 0)
	}
	rec(0, 0)
	return out
}

// Get implements a[key] for every kind of index but a plain slice.
func (a *Array) Get(key starlark.Value) (starlark.Value, bool, error) {
	if len(a.shape) == 1 {
		if i, ok := key.(starlark.Int); ok {
			k, err := starlark.AsInt32(i)
			n := a.shape[0]
			if err != nil || k < -n || k >= n {
				return nil, false, fmt.Errorf("index %s is out of bounds for axis 0 with size %d", i, n)
			}
			if k < 0 {
				k += n
			}
			return a.elem(k), true, nil
		}
	}
	sel, err := a.selectIndex(key)
	if err != nil {
		return nil, false, err
	}
	if sel.scalar {
		return a.elem(sel.flat[0]), true, nil
	}
	return a.gather(sel.flat, sel.shape), true, nil
}

// SetKey implements a[key] = value, with value broadcast to the selection.
func (a *Array) SetKey(key, value starlark.Value) error {
	if a.frozen {
		return fmt.Errorf("cannot assign to a frozen array")
	}
	sel, err := a.selectIndex(key)
	if err != nil {
		return err
	}
	if f, ok := value.(starlark.Float); ok && a.dtype == Int64 {
		if err := fitsInt64(float64(f)); err != nil {
			return err
		}
	}
	v, err := asArray(value)
	if err != nil {
		return err
	}
	if v.dtype == Complex128 && a.dtype != Complex128 {
		return fmt.Errorf("cannot assign complex values to a %s array", a.dtype)
	}
	v, err = v.as(a.dtype).broadcastTo(sel.shape)
	if err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	a.scatter(sel.flat, v)
	return nil
}

// fitsInt64 refuses a float scalar with no int64 value, as NumPy does
// when one is assigned into an int array.
func fitsInt64(f float64) error {
	switch {
	case math.IsNaN(f):
		return fmt.Errorf("cannot convert float NaN to integer")
	case f >= 1<<63 || f < -(1<<63):
		return fmt.Errorf("float %g is out of range for an int64 array", f)
	}
	return nil
}

// Index returns row i (an element of a 1-d array).
func (a *Array) Index(i int) starlark.Value {
	if len(a.shape) == 1 {
		return a.elem(i)
	}
	row := prod(a.shape[1:])
	return a.gather(rangeFrom(i*row, row), cloneShape(a.shape[1:]))
}

func rangeFrom(start, n int) []int {
	r := make([]int, n)
	for k := range r {
		r[k] = start + k
	}
	return r
}

// Len is the length of the first axis.
func (a *Array) Len() int {
	if len(a.shape) == 0 {
		return 0
	}
	return a.shape[0]
}

// Slice implements a[start:end:step] along the first axis.
func (a *Array) Slice(start, end, step int) starlark.Value {
	if len(a.shape) == 0 {
		return a.copyArray() // Slice cannot fail; NumPy refuses this
	}
	var rows []int
	for i := start; (step > 0 && i < end) || (step < 0 && i > end); i += step {
		rows = append(rows, i)
	}
	lists := make([][]int, len(a.shape))
	lists[0] = rows
	for d := 1; d < len(a.shape); d++ {
		lists[d] = fullRange(a.shape[d])
	}
	shape := cloneShape(a.shape)
	shape[0] = len(rows)
	return a.gather(outerIndices(lists, stridesOf(a.shape)), shape)
}
