package numpy

import (
	"fmt"
	"math"
	"slices"

	"go.starlark.net/starlark"
)

// extraFuncs is this file's part of the np module.
func extraFuncs() map[string]impl {
	return map[string]impl{
		"diff":       npDiff,
		"flip":       npFlip,
		"repeat":     npRepeat,
		"tile":       npTile,
		"meshgrid":   npMeshgrid,
		"percentile": npQuantile,
		"quantile":   npQuantile,
	}
}

// npDiff is diff(a, n=1, axis=-1).
func npDiff(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	n, axis := 1, -1
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "n?", &n, "axis?", &axis); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%s: order must be non-negative but got %d", fn, n)
	}
	if len(a.shape) == 0 {
		return nil, fmt.Errorf("%s requires input that is at least one dimensional", fn)
	}
	if axis, err = normAxis(fn, axis, len(a.shape)); err != nil {
		return nil, err
	}
	for range n {
		m := a.shape[axis]
		if m == 0 {
			break
		}
		hi := takeAxis(a, axis, rangeFrom(1, m-1))
		lo := takeAxis(a, axis, rangeFrom(0, m-1))
		k := subK
		if a.dtype == Bool {
			k = xorK
		}
		if a, err = binary(k, hi, lo); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// npFlip is flip(a, axis=None): reverses the order along axis (every axis
// for None).
func npFlip(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, axisV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "m", &av, "axis?", &axisV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	axis, hasAxis, err := optAxis(fn, axisV, len(a.shape))
	if err != nil {
		return nil, err
	}
	out := a.copyArray()
	for d := range a.shape {
		if hasAxis && d != axis {
			continue
		}
		idx := fullRange(a.shape[d])
		slices.Reverse(idx)
		out = takeAxis(out, d, idx)
	}
	return out, nil
}

// npRepeat is repeat(a, repeats, axis=None) with an int repeats.
func npRepeat(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, axisV starlark.Value
	var reps int
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "repeats", &reps, "axis?", &axisV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if reps < 0 {
		return nil, fmt.Errorf("%s: negative dimensions are not allowed", fn)
	}
	axis, hasAxis, err := optAxis(fn, axisV, len(a.shape))
	if err != nil {
		return nil, err
	}
	if !hasAxis {
		a, axis = a.reshaped([]int{a.Size()}), 0
	}
	if float64(a.Size())*float64(reps) > maxElements {
		return nil, errTooBig(fn, float64(a.Size())*float64(reps))
	}
	idx := make([]int, 0, a.shape[axis]*reps)
	for i := range a.shape[axis] {
		for range reps {
			idx = append(idx, i)
		}
	}
	return takeAxis(a, axis, idx), nil
}

// npTile is tile(a, reps) with an int or a tuple of ints.
func npTile(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, rv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "A", &av, "reps", &rv); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	reps, err := asShape(rv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	nd := max(len(reps), len(a.shape))
	shape := append(ones(nd-len(a.shape)), a.shape...)
	reps = append(ones(nd-len(reps)), reps...)
	total := float64(a.Size())
	for _, r := range reps {
		total *= float64(r)
	}
	if total > maxElements {
		return nil, errTooBig(fn, total)
	}
	out := a.reshaped(shape)
	for d := range nd {
		idx := make([]int, 0, shape[d]*reps[d])
		for range reps[d] {
			idx = append(idx, fullRange(shape[d])...)
		}
		out = takeAxis(out, d, idx)
	}
	return out, nil
}

func ones(n int) []int {
	s := make([]int, n)
	for k := range s {
		s[k] = 1
	}
	return s
}

// npMeshgrid is meshgrid(x, y, ...) with NumPy's default "xy" indexing.
func npMeshgrid(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword arguments", fn)
	}
	vecs := make([]*Array, len(args))
	shape := make([]int, len(args))
	total := 1.0
	for k, v := range args {
		a, err := arrayArg(fn, v)
		if err != nil {
			return nil, err
		}
		vecs[k] = a.reshaped([]int{a.Size()})
		shape[k] = a.Size()
		total *= float64(a.Size())
	}
	if total > maxElements {
		return nil, errTooBig(fn, total)
	}
	if len(shape) >= 2 {
		shape[0], shape[1] = shape[1], shape[0]
	}
	out := make(starlark.Tuple, len(vecs))
	for k, v := range vecs {
		axis := k
		if len(vecs) >= 2 && k < 2 {
			axis = 1 - k
		}
		vs := make([]int, len(shape))
		for d := range vs {
			vs[d] = 1
		}
		vs[axis] = v.Size()
		b, err := v.reshaped(vs).broadcastTo(shape)
		if err != nil {
			return nil, err
		}
		out[k] = b.copyArray()
	}
	return starlark.NewList(out), nil
}

// npQuantile is quantile(a, q, axis=None) and percentile(a, q, axis=None)
// with NumPy's default linear interpolation; q may be a number or an
// array.
func npQuantile(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, qv, axisV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "q", &qv, "axis?", &axisV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	q, err := arrayArg(fn, qv)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 || q.dtype == Complex128 {
		return nil, fmt.Errorf("%s: complex arrays are not supported", fn)
	}
	qs := slices.Clone(q.floats())
	for k := range qs {
		if fn == "percentile" {
			qs[k] /= 100
		}
		if !(qs[k] >= 0 && qs[k] <= 1) {
			return nil, fmt.Errorf("%s: q must be in the range [0, %s]", fn, map[bool]string{true: "100", false: "1"}[fn == "percentile"])
		}
	}
	axis, hasAxis, err := optAxis(fn, axisV, len(a.shape))
	if err != nil {
		return nil, err
	}
	shape := a.shape
	if !hasAxis {
		shape, axis = []int{a.Size()}, 0
	}
	if shape[axis] == 0 {
		return nil, fmt.Errorf("%s: cannot take a quantile of an empty array", fn)
	}
	rest := reduceShape(shape, axis, false)
	per := prod(rest)
	out := make([]float64, len(qs)*per)
	lane := 0
	lanes(a.floats(), shape, axis, func(l []float64) {
		s := slices.Clone(l)
		slices.SortFunc(s, floatCmp)
		for j, p := range qs {
			out[j*per+lane] = linearQuantile(s, p)
		}
		lane++
	})
	outShape := append(cloneShape(q.shape), rest...)
	return scalarOrArray(NewFloat64(outShape, out)), nil
}

// linearQuantile interpolates the q quantile of sorted s at (n-1)q.
func linearQuantile(s []float64, q float64) float64 {
	if math.IsNaN(s[len(s)-1]) {
		return math.NaN()
	}
	h := float64(len(s)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}
