package numpy

import (
	"fmt"

	"go.starlark.net/starlark"
)

// shapeFuncs is this file's part of the np module.
func shapeFuncs() map[string]impl {
	return map[string]impl{
		"reshape":     npReshape,
		"ravel":       npRavel,
		"transpose":   npTranspose,
		"concatenate": npConcatenate,
		"stack":       npStack,
		"vstack":      npVHStack,
		"hstack":      npVHStack,
		"split":       npSplit,
		"array_split": npSplit,
		"expand_dims": npExpandDims,
		"squeeze":     npSqueeze,
		"astype":      npAstype,
		"shape":       npShape,
		"ndim":        npNdim,
		"size":        npSize,
	}
}

func npReshape(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, sv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "newshape", &sv); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	shape, err := newShape(fn, a.Size(), sv)
	if err != nil {
		return nil, err
	}
	return a.copyArray().reshaped(shape), nil
}

// newShape resolves a target shape, with at most one -1, for size
// elements.
func newShape(fn string, size int, v starlark.Value) ([]int, error) {
	var items []starlark.Value
	if seq, ok := v.(starlark.Indexable); ok {
		for k := range seq.Len() {
			items = append(items, seq.Index(k))
		}
	} else {
		items = []starlark.Value{v}
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%s: more than %d dimensions", fn, maxDims)
	}
	shape := make([]int, len(items))
	unknown, known := -1, 1
	for k, it := range items {
		d, err := starlark.AsInt32(it)
		if err != nil {
			return nil, fmt.Errorf("%s: shape: %w", fn, err)
		}
		switch {
		case d == -1 && unknown < 0:
			unknown = k
		case d < 0:
			return nil, fmt.Errorf("%s: bad dimension %d", fn, d)
		default:
			known *= d
		}
		shape[k] = d
	}
	if unknown >= 0 && known > 0 && size%known == 0 {
		shape[unknown] = size / known
	}
	if prod(shape) != size || (unknown >= 0 && shape[unknown] < 0) {
		return nil, fmt.Errorf("%s: cannot reshape array of size %d into shape %s", fn, size, shapeString(shape))
	}
	return shape, nil
}

func oneArray(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Array, error) {
	var av starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av); err != nil {
		return nil, err
	}
	return arrayArg(fn, av)
}

func npRavel(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return a.copyArray().reshaped([]int{a.Size()}), nil
}

func npShape(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return a.Attr("shape")
}

func npNdim(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(len(a.shape)), nil
}

func npSize(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(a.Size()), nil
}

func npAstype(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, dv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "dtype", &dv); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	dt, err := parseDType(dv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return a.astype(dt), nil
}

// transpose permutes the axes (nil: reversed).
func transpose(a *Array, perm []int) (*Array, error) {
	nd := len(a.shape)
	if perm == nil {
		perm = make([]int, nd)
		for k := range perm {
			perm[k] = nd - 1 - k
		}
	}
	if len(perm) != nd {
		return nil, fmt.Errorf("transpose: axes don't match array")
	}
	seen := make([]bool, nd)
	strides := stridesOf(a.shape)
	shape := make([]int, nd)
	ps := make([]int, nd)
	lists := make([][]int, nd)
	for k, p := range perm {
		ax, err := normAxis("transpose", p, nd)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("transpose: repeated axis in transpose")
		}
		seen[ax] = true
		shape[k], ps[k] = a.shape[ax], strides[ax]
		lists[k] = fullRange(shape[k])
	}
	if nd < 2 {
		return a.copyArray(), nil
	}
	return a.gather(outerIndices(lists, ps), shape), nil
}

func npTranspose(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, axes starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "axes?", &axes); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	var perm []int
	if axes != nil && axes != starlark.None {
		seq, ok := axes.(starlark.Indexable)
		if !ok {
			return nil, fmt.Errorf("%s: axes must be a tuple of ints", fn)
		}
		for k := range seq.Len() {
			p, err := starlark.AsInt32(seq.Index(k))
			if err != nil {
				return nil, fmt.Errorf("%s: axes: %w", fn, err)
			}
			perm = append(perm, p)
		}
	}
	return transpose(a, perm)
}

// arrayList converts a sequence of array-likes.
func arrayList(fn string, v starlark.Value) ([]*Array, error) {
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want a sequence of arrays", fn, v.Type())
	}
	var out []*Array
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		a, err := arrayArg(fn, x)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: need at least one array", fn)
	}
	return out, nil
}

// concat joins arrays along an existing axis.
func concat(fn string, arrs []*Array, axis int) (*Array, error) {
	nd := len(arrs[0].shape)
	if nd == 0 {
		return nil, fmt.Errorf("%s: zero-dimensional arrays cannot be concatenated", fn)
	}
	axis, err := normAxis(fn, axis, nd)
	if err != nil {
		return nil, err
	}
	dt := arrs[0].dtype
	shape := cloneShape(arrs[0].shape)
	shape[axis] = 0
	for _, a := range arrs {
		if len(a.shape) != nd {
			return nil, fmt.Errorf("%s: all the input arrays must have the same number of dimensions", fn)
		}
		for d := range nd {
			if d != axis && a.shape[d] != shape[d] {
				return nil, fmt.Errorf("%s: the input array dimensions except for the concatenation axis must match exactly", fn)
			}
		}
		shape[axis] += a.shape[axis]
		dt = max(dt, a.dtype)
	}
	outer := prod(shape[:axis])
	out := newArray(dt, shape)
	idx := 0
	for o := range outer {
		for _, a := range arrs {
			block := prod(a.shape[axis:])
			src := a.as(dt)
			out.copyFrom(idx, src, o*block, block)
			idx += block
		}
	}
	return out, nil
}

// copyFrom copies n elements of src (same dtype) from offset so to a at
// offset do.
func (a *Array) copyFrom(do int, src *Array, so, n int) {
	switch a.dtype {
	case Bool:
		copy(a.b[do:do+n], src.b[so:so+n])
	case Int64:
		copy(a.i[do:do+n], src.i[so:so+n])
	case Float64:
		copy(a.f[do:do+n], src.f[so:so+n])
	default:
		copy(a.c[do:do+n], src.c[so:so+n])
	}
}

func npConcatenate(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Value
	axis := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "arrays", &seq, "axis?", &axis); err != nil {
		return nil, err
	}
	arrs, err := arrayList(fn, seq)
	if err != nil {
		return nil, err
	}
	return concat(fn, arrs, axis)
}

// expandDims inserts an axis of length 1.
func expandDims(fn string, a *Array, axis int) (*Array, error) {
	if len(a.shape) >= maxDims {
		return nil, fmt.Errorf("%s: the result would have more than %d dimensions", fn, maxDims)
	}
	axis, err := normAxis(fn, axis, len(a.shape)+1)
	if err != nil {
		return nil, err
	}
	shape := append(append(cloneShape(a.shape[:axis]), 1), a.shape[axis:]...)
	return a.reshaped(shape), nil
}

func npStack(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Value
	axis := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "arrays", &seq, "axis?", &axis); err != nil {
		return nil, err
	}
	arrs, err := arrayList(fn, seq)
	if err != nil {
		return nil, err
	}
	first := arrs[0].shape
	for k, a := range arrs {
		if !equalShape(a.shape, first) {
			return nil, fmt.Errorf("%s: all input arrays must have the same shape", fn)
		}
		if arrs[k], err = expandDims(fn, a, axis); err != nil {
			return nil, err
		}
	}
	return concat(fn, arrs, axis)
}

func npVHStack(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "tup", &seq); err != nil {
		return nil, err
	}
	arrs, err := arrayList(fn, seq)
	if err != nil {
		return nil, err
	}
	axis := 0
	for k, a := range arrs {
		switch {
		case fn == "vstack" && len(a.shape) < 2:
			arrs[k] = a.reshaped([]int{1, a.Size()})
		case fn == "hstack" && len(a.shape) == 0:
			arrs[k] = a.reshaped([]int{1})
		}
	}
	if fn == "hstack" && len(arrs[0].shape) > 1 {
		axis = 1
	}
	return concat(fn, arrs, axis)
}

func npExpandDims(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	var axis int
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "axis", &axis); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	e, err := expandDims(fn, a.copyArray(), axis)
	return e, err
}

func npSqueeze(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	var shape []int
	for _, d := range a.shape {
		if d != 1 {
			shape = append(shape, d)
		}
	}
	return a.copyArray().reshaped(shape), nil
}

// takeAxis selects the indices idx along axis.
func takeAxis(a *Array, axis int, idx []int) *Array {
	lists := make([][]int, len(a.shape))
	shape := cloneShape(a.shape)
	for d := range lists {
		lists[d] = fullRange(a.shape[d])
	}
	lists[axis] = idx
	shape[axis] = len(idx)
	return a.gather(outerIndices(lists, stridesOf(a.shape)), shape)
}

func npSplit(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, ind starlark.Value
	axis := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "ary", &av, "indices_or_sections", &ind, "axis?", &axis); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if axis, err = normAxis(fn, axis, len(a.shape)); err != nil {
		return nil, err
	}
	n := a.shape[axis]
	var bounds []int // section starts, then n
	if sec, ok := ind.(starlark.Int); ok {
		k, err := starlark.AsInt32(sec)
		if err != nil || k <= 0 {
			return nil, fmt.Errorf("%s: number sections must be larger than 0", fn)
		}
		if fn == "split" && n%k != 0 {
			return nil, fmt.Errorf("%s: array split does not result in an equal division", fn)
		}
		each, extra := n/k, n%k
		pos := 0
		for j := range k {
			bounds = append(bounds, pos)
			pos += each
			if j < extra {
				pos++
			}
		}
	} else {
		idx, err := asArray(ind)
		if err != nil || idx.dtype > Int64 || len(idx.shape) != 1 {
			return nil, fmt.Errorf("%s: indices_or_sections must be an int or a list of ints", fn)
		}
		bounds = append(bounds, 0)
		for _, i := range idx.ints() {
			bounds = append(bounds, min(max(int(i), 0), n))
		}
	}
	bounds = append(bounds, n)
	out := make([]starlark.Value, 0, len(bounds)-1)
	for j := 0; j+1 < len(bounds); j++ {
		lo, hi := bounds[j], max(bounds[j], bounds[j+1])
		out = append(out, takeAxis(a, axis, rangeFrom(lo, hi-lo)))
	}
	return starlark.NewList(out), nil
}

// Concatenate joins arrays along axis (as np.concatenate).
func Concatenate(arrs []*Array, axis int) (*Array, error) {
	if len(arrs) == 0 {
		return nil, fmt.Errorf("concatenate: need at least one array")
	}
	return concat("concatenate", arrs, axis)
}
