package numpy

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"
)

// creationFuncs is this file's part of the np module.
func creationFuncs() map[string]impl {
	return map[string]impl{
		"array":      npArray,
		"asarray":    npArray,
		"copy":       npArray,
		"zeros":      filled(0),
		"ones":       filled(1),
		"empty":      filled(0),
		"full":       npFull,
		"zeros_like": filledLike(0),
		"ones_like":  filledLike(1),
		"empty_like": filledLike(0),
		"full_like":  npFullLike,
		"arange":     npArange,
		"linspace":   npLinspace,
		"eye":        npEye,
		"identity":   npIdentity,
		"s_":         npSlice,
	}
}

// arrayAndDType converts an array argument and its optional dtype
// argument, which defaults to the array's own.
func arrayAndDType(fn string, v, dtype starlark.Value) (*Array, DType, error) {
	a, err := arrayArg(fn, v)
	if err != nil {
		return nil, 0, err
	}
	dt, ok, err := optDType(fn, dtype)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		dt = a.dtype
	}
	return a, dt, nil
}

// npArray is np.array(object, dtype=None) (also asarray and copy; asarray
// returns an array argument itself when no conversion is needed).
func npArray(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var obj, dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "object", &obj, "dtype?", &dtype); err != nil {
		return nil, err
	}
	a, dt, err := arrayAndDType(fn, obj, dtype)
	if err != nil {
		return nil, err
	}
	if fn == "asarray" {
		return a.as(dt), nil
	}
	if a == obj {
		return a.astype(dt), nil
	}
	return a.as(dt), nil
}

// filledArray returns an array of shape filled with v.
func filledArray(dt DType, shape []int, v complex128) *Array {
	a := newArray(dt, shape)
	if v == 0 {
		return a
	}
	switch dt {
	case Bool:
		for k := range a.b {
			a.b[k] = true
		}
	case Int64:
		for k := range a.i {
			a.i[k] = int64(real(v))
		}
	case Float64:
		for k := range a.f {
			a.f[k] = real(v)
		}
	default:
		for k := range a.c {
			a.c[k] = v
		}
	}
	return a
}

func filled(v complex128) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var shapeV, dtype starlark.Value
		if err := starlark.UnpackArgs(fn, args, kwargs, "shape", &shapeV, "dtype?", &dtype); err != nil {
			return nil, err
		}
		shape, err := asShape(shapeV)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		dt, ok, err := optDType(fn, dtype)
		if err != nil {
			return nil, err
		}
		if !ok {
			dt = Float64
		}
		return filledArray(dt, shape, v), nil
	}
}

func filledLike(v complex128) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var proto, dtype starlark.Value
		if err := starlark.UnpackArgs(fn, args, kwargs, "a", &proto, "dtype?", &dtype); err != nil {
			return nil, err
		}
		a, dt, err := arrayAndDType(fn, proto, dtype)
		if err != nil {
			return nil, err
		}
		return filledArray(dt, cloneShape(a.shape), v), nil
	}
}

// fillValue converts a fill value to a complex and its natural dtype.
func fillValue(fn string, v starlark.Value) (complex128, DType, error) {
	a, err := arrayArg(fn, v)
	if err != nil {
		return 0, 0, err
	}
	if a.Size() != 1 {
		return 0, 0, fmt.Errorf("%s: fill_value must be a scalar", fn)
	}
	return a.complexes()[0], a.dtype, nil
}

func npFull(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var shapeV, fill, dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "shape", &shapeV, "fill_value", &fill, "dtype?", &dtype); err != nil {
		return nil, err
	}
	shape, err := asShape(shapeV)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	v, dt, err := fillValue(fn, fill)
	if err != nil {
		return nil, err
	}
	if d, ok, err := optDType(fn, dtype); err != nil {
		return nil, err
	} else if ok {
		dt = d
	}
	return filledArray(dt, shape, v), nil
}

func npFullLike(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var proto, fill, dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &proto, "fill_value", &fill, "dtype?", &dtype); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, proto)
	if err != nil {
		return nil, err
	}
	v, _, err := fillValue(fn, fill)
	if err != nil {
		return nil, err
	}
	dt := a.dtype
	if d, ok, err := optDType(fn, dtype); err != nil {
		return nil, err
	} else if ok {
		dt = d
	}
	return filledArray(dt, cloneShape(a.shape), v), nil
}

// errTooBig is the refusal of a result of n elements, naming the limit.
func errTooBig(fn string, n float64) error {
	return fmt.Errorf("%s: array of %.0f elements is too big (the limit is %d)", fn, n, maxElements)
}

// maxElements bounds the elements of an array that np makes (2 GiB of
// float64), so that a typo cannot exhaust an engine's memory at once.
const maxElements = 1 << 28

func npArange(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var start, stop, step, dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "start", &start, "stop?", &stop, "step?", &step, "dtype?", &dtype); err != nil {
		return nil, err
	}
	if stop == nil || stop == starlark.None {
		start, stop = starlark.MakeInt(0), start
	}
	if step == nil || step == starlark.None {
		step = starlark.MakeInt(1)
	}
	allInt := isInt(start) && isInt(stop) && isInt(step)
	s0, err := asFloat(start, fn)
	if err != nil {
		return nil, err
	}
	s1, err := asFloat(stop, fn)
	if err != nil {
		return nil, err
	}
	st, err := asFloat(step, fn)
	if err != nil {
		return nil, err
	}
	if st == 0 {
		return nil, fmt.Errorf("%s: step must not be zero", fn)
	}
	n := max(0, math.Ceil((s1-s0)/st))
	if math.IsNaN(n) {
		return nil, fmt.Errorf("%s: the number of elements is not a number", fn)
	}
	if n > maxElements {
		return nil, errTooBig(fn, n)
	}
	dt := Float64
	if allInt {
		dt = Int64
	}
	if d, ok, err := optDType(fn, dtype); err != nil {
		return nil, err
	} else if ok {
		dt = d
	}
	a := newArray(Float64, []int{int(n)})
	for k := range a.f {
		a.f[k] = s0 + float64(k)*st
	}
	var i0, is int64
	if dt == Int64 && allInt && starlark.AsInt(start, &i0) == nil && starlark.AsInt(step, &is) == nil {
		out := newArray(Int64, []int{int(n)})
		for k := range out.i {
			out.i[k] = i0 + int64(k)*is
		}
		return out, nil
	}
	return a.as(dt), nil
}

func npLinspace(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var start, stop starlark.Value
	num := 50
	endpoint := true
	var dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "start", &start, "stop", &stop, "num?", &num, "endpoint?", &endpoint, "dtype?", &dtype); err != nil {
		return nil, err
	}
	if num < 0 {
		return nil, fmt.Errorf("%s: number of samples, %d, must be non-negative", fn, num)
	}
	if num > maxElements {
		return nil, errTooBig(fn, float64(num))
	}
	s0, err := asFloat(start, fn)
	if err != nil {
		return nil, err
	}
	s1, err := asFloat(stop, fn)
	if err != nil {
		return nil, err
	}
	div := float64(num)
	if endpoint {
		div = float64(num - 1)
	}
	step := (s1 - s0) / div
	a := newArray(Float64, []int{num})
	for k := range a.f {
		switch {
		case div <= 0:
			a.f[k] = float64(k)*(s1-s0) + s0
		case step == 0:
			a.f[k] = float64(k)/div*(s1-s0) + s0
		default:
			a.f[k] = float64(k)*step + s0
		}
	}
	if endpoint && num > 1 {
		a.f[num-1] = s1
	}
	if d, ok, err := optDType(fn, dtype); err != nil {
		return nil, err
	} else if ok {
		return a.as(d), nil
	}
	return a, nil
}

func npEye(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int
	var mV, dtype starlark.Value
	k := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "N", &n, "M?", &mV, "k?", &k, "dtype?", &dtype); err != nil {
		return nil, err
	}
	m := n
	if mV != nil && mV != starlark.None {
		v, err := starlark.AsInt32(mV)
		if err != nil {
			return nil, fmt.Errorf("%s: M: %w", fn, err)
		}
		m = v
	}
	if n < 0 || m < 0 {
		return nil, fmt.Errorf("%s: negative dimensions are not allowed: %d, %d", fn, n, m)
	}
	if float64(n)*float64(m) > maxElements {
		return nil, errTooBig(fn, float64(n)*float64(m))
	}
	dt := Float64
	if d, ok, err := optDType(fn, dtype); err != nil {
		return nil, err
	} else if ok {
		dt = d
	}
	a := newArray(Float64, []int{n, m})
	for i := range n {
		if j := i + k; j >= 0 && j < m {
			a.f[i*m+j] = 1
		}
	}
	return a.as(dt), nil
}

func npIdentity(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n starlark.Value
	var dtype starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "n", &n, "dtype?", &dtype); err != nil {
		return nil, err
	}
	kw := []starlark.Tuple{}
	if dtype != nil {
		kw = append(kw, starlark.Tuple{starlark.String("dtype"), dtype})
	}
	return npEye(nil, "identity", starlark.Tuple{n}, kw)
}

// npSlice is np.s_(stop) or np.s_(start, stop[, step]), a slice for use
// in a tuple index: a[np.s_(1, 3), 0] is NumPy's a[1:3, 0].
func npSlice(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var a, b, c starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackPositionalArgs(fn, args, kwargs, 0, &a, &b, &c); err != nil {
		return nil, err
	}
	for _, v := range []starlark.Value{a, b, c} {
		if v != starlark.None && !isInt(v) {
			return nil, fmt.Errorf("%s: slice bounds must be int or None, got %s", fn, v.Type())
		}
	}
	if len(args) == 1 {
		return &sliceValue{starlark.None, a, starlark.None}, nil
	}
	return &sliceValue{a, b, c}, nil
}
