package numpy

import (
	"fmt"
	"math"
	"slices"

	"go.starlark.net/starlark"
	"gonum.org/v1/gonum/floats"
)

// reductionFuncs is this file's part of the np module.
func reductionFuncs() map[string]impl {
	return map[string]impl{
		"sum":           reduction(rSum),
		"prod":          reduction(rProd),
		"mean":          reduction(rMean),
		"std":           reduction(rStd),
		"var":           reduction(rVar),
		"min":           reduction(rMin),
		"max":           reduction(rMax),
		"amin":          reduction(rMin),
		"amax":          reduction(rMax),
		"ptp":           reduction(rPtp),
		"median":        reduction(rMedian),
		"argmin":        reduction(rArgmin),
		"argmax":        reduction(rArgmax),
		"all":           reduction(rAll),
		"any":           reduction(rAny),
		"count_nonzero": reduction(rCount),
		"cumsum":        cumulative(false),
		"cumprod":       cumulative(true),
	}
}

// reducer reduces one lane of elements. Float lanes get f; int64 (and
// bool, as 0/1) lanes get i when set, to stay exact, giving an int.
type reducer struct {
	f       func(x []float64, ddof int) float64
	i       func(x []int64) int64
	b       func(x []bool) bool // boolean results (all, any)
	index   bool                // the float result is an index (argmin)
	keepInt bool                // int input gives an int result through i
	empty   string              // error for an empty lane, "" if allowed
}

var (
	rSum  = &reducer{f: func(x []float64, _ int) float64 { return floats.Sum(x) }, i: sumInt, keepInt: true}
	rProd = &reducer{f: func(x []float64, _ int) float64 { return floats.Prod(x) }, i: prodInt, keepInt: true}
	rMean = &reducer{f: func(x []float64, _ int) float64 {
		if len(x) == 0 {
			return math.NaN()
		}
		return floats.Sum(x) / float64(len(x))
	}}
	rVar    = &reducer{f: variance}
	rStd    = &reducer{f: func(x []float64, ddof int) float64 { return math.Sqrt(variance(x, ddof)) }}
	rMin    = &reducer{f: func(x []float64, _ int) float64 { return extreme(x, -1) }, i: func(x []int64) int64 { return slices.Min(x) }, keepInt: true, empty: "zero-size array to reduction operation minimum which has no identity"}
	rMax    = &reducer{f: func(x []float64, _ int) float64 { return extreme(x, 1) }, i: func(x []int64) int64 { return slices.Max(x) }, keepInt: true, empty: "zero-size array to reduction operation maximum which has no identity"}
	rPtp    = &reducer{f: func(x []float64, _ int) float64 { return extreme(x, 1) - extreme(x, -1) }, i: func(x []int64) int64 { return slices.Max(x) - slices.Min(x) }, keepInt: true, empty: "zero-size array to reduction operation maximum which has no identity"}
	rArgmin = &reducer{f: func(x []float64, _ int) float64 { return float64(argExtreme(x, -1)) }, index: true, empty: "attempt to get argmin of an empty sequence"}
	rArgmax = &reducer{f: func(x []float64, _ int) float64 { return float64(argExtreme(x, 1)) }, index: true, empty: "attempt to get argmax of an empty sequence"}
	rMedian = &reducer{f: median, empty: ""}
	rAll    = &reducer{b: func(x []bool) bool { return !slices.Contains(x, false) }}
	rAny    = &reducer{b: func(x []bool) bool { return slices.Contains(x, true) }}
	rCount  = &reducer{i: func(x []int64) int64 {
		n := int64(0)
		for _, v := range x {
			if v != 0 {
				n++
			}
		}
		return n
	}, keepInt: true}
)

// complexReduce is the sum, mean or product of complex elements.
func complexReduce(r *reducer, x []complex128) complex128 {
	acc := complex(0, 0)
	if r == rProd {
		acc = 1
	}
	for _, v := range x {
		if r == rProd {
			acc *= v
		} else {
			acc += v
		}
	}
	if r == rMean {
		acc /= complex(float64(len(x)), 0)
	}
	return acc
}

func sumInt(x []int64) int64 {
	s := int64(0)
	for _, v := range x {
		s += v
	}
	return s
}

func prodInt(x []int64) int64 {
	p := int64(1)
	for _, v := range x {
		p *= v
	}
	return p
}

// variance is NumPy's var: mean of squared deviations, divided by
// n - ddof.
func variance(x []float64, ddof int) float64 {
	if len(x)-ddof <= 0 {
		return math.NaN()
	}
	m := floats.Sum(x) / float64(len(x))
	ss := 0.0
	for _, v := range x {
		d := v - m
		ss += d * d
	}
	return ss / float64(len(x)-ddof)
}

// extreme is the minimum (dir -1) or maximum (dir 1), NaN if any is NaN.
func extreme(x []float64, dir float64) float64 {
	return x[argExtreme(x, dir)]
}

func argExtreme(x []float64, dir float64) int {
	best := 0
	for k, v := range x {
		if math.IsNaN(v) {
			return k
		}
		if (v-x[best])*dir > 0 {
			best = k
		}
	}
	return best
}

func median(x []float64, _ int) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if slices.ContainsFunc(s, math.IsNaN) {
		return math.NaN()
	}
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// lanes calls f for every lane along axis: the elements
// o*n*inner + j*inner + i for j in [0, n).
func lanes[T any](data []T, shape []int, axis int, f func(lane []T)) {
	n := shape[axis]
	inner := prod(shape[axis+1:])
	outer := prod(shape[:axis])
	if inner == 1 {
		for o := range outer {
			f(data[o*n : (o+1)*n])
		}
		return
	}
	buf := make([]T, n)
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			for j := range n {
				buf[j] = data[base+j*inner]
			}
			f(buf)
		}
	}
}

// reduceShape is the shape after reducing axis.
func reduceShape(shape []int, axis int, keep bool) []int {
	out := cloneShape(shape[:axis])
	if keep {
		out = append(out, 1)
	}
	return append(out, shape[axis+1:]...)
}

// reduce applies r over axis (all elements when !hasAxis).
func reduce(fn string, r *reducer, a *Array, axis int, hasAxis, keep bool, ddof int) (starlark.Value, error) {
	shape := a.shape
	if !hasAxis {
		shape = []int{a.Size()}
		axis = 0
	}
	if r.empty != "" && shape[axis] == 0 {
		return nil, fmt.Errorf("%s: %s", fn, r.empty)
	}
	if a.dtype == Complex128 && r != rSum && r != rMean && r != rProd {
		return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
	}
	if r == rCount {
		a = a.as(Bool)
	}
	if a.dtype == Bool && !hasAxis && !keep && (r == rSum || r == rCount) {
		n := 0
		for _, t := range a.b {
			if t {
				n++
			}
		}
		return starlark.MakeInt(n), nil
	}
	outShape := reduceShape(shape, axis, keep)
	var out *Array
	switch {
	case a.dtype == Complex128:
		out = &Array{dtype: Complex128, shape: outShape}
		lanes(a.c, shape, axis, func(l []complex128) { out.c = append(out.c, complexReduce(r, l)) })
	case r.b != nil:
		out = &Array{dtype: Bool, shape: outShape}
		lanes(a.bools(), shape, axis, func(l []bool) { out.b = append(out.b, r.b(l)) })
	case r.i != nil && (a.dtype != Float64 || r.f == nil):
		out = &Array{dtype: Int64, shape: outShape}
		lanes(a.ints(), shape, axis, func(l []int64) { out.i = append(out.i, r.i(l)) })
	default:
		out = &Array{dtype: Float64, shape: outShape}
		lanes(a.floats(), shape, axis, func(l []float64) { out.f = append(out.f, r.f(l, ddof)) })
		if r.index {
			out = out.as(Int64)
		}
	}
	if out.Size() == 0 {
		out = newArray(out.dtype, outShape)
	}
	if !hasAxis {
		if keep {
			ones := make([]int, len(a.shape))
			for k := range ones {
				ones[k] = 1
			}
			return out.reshaped(ones), nil
		}
		return out.elem(0), nil
	}
	if a.dtype == Bool && (r == rMin || r == rMax) {
		return out.as(Bool), nil
	}
	return out, nil
}

// reduction makes fn(a, axis=None, keepdims=False[, ddof=0]).
func reduction(r *reducer) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var av, axisV starlark.Value
		keep := false
		ddof := 0
		pairs := []any{"a", &av, "axis?", &axisV, "keepdims?", &keep}
		if r == rStd || r == rVar {
			pairs = append(pairs, "ddof?", &ddof)
		}
		if err := starlark.UnpackArgs(fn, args, kwargs, pairs...); err != nil {
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
		v, err := reduce(fn, r, a, axis, hasAxis, keep, ddof)
		if err == nil && !hasAxis && a.dtype == Bool && (r == rMin || r == rMax) {
			v = starlark.Bool(v.Truth())
		}
		return v, err
	}
}

// cumulative makes cumsum/cumprod(a, axis=None).
func cumulative(product bool) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var av, axisV starlark.Value
		if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "axis?", &axisV); err != nil {
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
		if a.dtype == Complex128 {
			return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
		}
		src := a
		if !hasAxis {
			src, axis = a.reshaped([]int{a.Size()}), 0
		}
		if src.dtype == Float64 {
			out := cumLanes(src.f, src.shape, axis, product)
			return NewFloat64(cloneShape(src.shape), out), nil
		}
		out := cumLanes(src.ints(), src.shape, axis, product)
		return NewInt64(cloneShape(src.shape), out), nil
	}
}

func cumLanes[T int64 | float64](data []T, shape []int, axis int, product bool) []T {
	out := make([]T, len(data))
	n := shape[axis]
	inner := prod(shape[axis+1:])
	outer := prod(shape[:axis])
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			var acc T
			if product {
				acc = 1
			}
			for j := range n {
				k := base + j*inner
				if product {
					acc *= data[k]
				} else {
					acc += data[k]
				}
				out[k] = acc
			}
		}
	}
	return out
}
