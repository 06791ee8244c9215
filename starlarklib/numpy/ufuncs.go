package numpy

import (
	"fmt"
	"math"
	"math/cmplx"

	"go.starlark.net/starlark"
)

// elementwiseFuncs is this file's part of the np module.
func elementwiseFuncs() map[string]impl {
	t := map[string]impl{
		"abs":         npAbs,
		"absolute":    npAbs,
		"round":       npRound,
		"around":      npRound,
		"clip":        npClip,
		"where":       npWhere,
		"isnan":       predicate(math.IsNaN),
		"isinf":       predicate(func(x float64) bool { return math.IsInf(x, 0) }),
		"isfinite":    predicate(func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }),
		"logical_not": npLogicalNot,
		"array_equal": npArrayEqual,
		"allclose":    npClose,
		"isclose":     npClose,
		"conj":        npConj,
		"conjugate":   npConj,
		"real":        npPart,
		"imag":        npPart,
		"angle":       npAngle,
		"sign":        npSign,
		"square":      npSquare,
		"negative":    npNegative,
		"nonzero":     npNonzero,
		"argwhere":    npArgwhere,
	}
	for name, f := range map[string]struct {
		f func(float64) float64
		c func(complex128) complex128
	}{
		"sqrt": {math.Sqrt, cmplx.Sqrt}, "exp": {math.Exp, cmplx.Exp}, "log": {math.Log, cmplx.Log},
		"log10": {math.Log10, cmplx.Log10}, "log2": {math.Log2, nil}, "log1p": {math.Log1p, nil},
		"expm1": {math.Expm1, nil}, "sin": {math.Sin, cmplx.Sin}, "cos": {math.Cos, cmplx.Cos},
		"tan": {math.Tan, cmplx.Tan}, "arcsin": {math.Asin, nil}, "arccos": {math.Acos, nil},
		"arctan": {math.Atan, nil}, "sinh": {math.Sinh, nil}, "cosh": {math.Cosh, nil},
		"tanh": {math.Tanh, nil}, "floor": {math.Floor, nil}, "ceil": {math.Ceil, nil},
		"trunc": {math.Trunc, nil}, "rint": {math.RoundToEven, nil},
		"deg2rad": {func(x float64) float64 { return x * math.Pi / 180 }, nil},
		"rad2deg": {func(x float64) float64 { return x * 180 / math.Pi }, nil},
	} {
		t[name] = unaryMath(f.f, f.c)
	}
	for name, k := range map[string]*kernels{
		"add": addK, "subtract": subK, "multiply": mulK, "divide": divK, "true_divide": divK,
		"floor_divide": floorDivK, "mod": modK, "remainder": modK, "power": powK,
		"maximum": maxK, "minimum": minK, "logical_and": andK, "logical_or": orK,
		"logical_xor": xorK, "bitwise_and": andK, "bitwise_or": orK, "bitwise_xor": xorK,
		"hypot": hypotK, "arctan2": arctan2,
	} {
		t[name] = binaryFunc(k)
	}
	for _, k := range []*cmpKernel{lessK, lessEqK, greaterK, greatEqK, equalK, notEqK} {
		t[k.name] = compareFunc(k)
	}
	return t
}

// unaryMath applies f element-wise (as float64), or c to complex arrays.
func unaryMath(f func(float64) float64, c func(complex128) complex128) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		a, err := oneArray(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		if a.dtype == Complex128 {
			if c == nil {
				return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
			}
			return scalarOrArray(mapComplex(a, c)), nil
		}
		return scalarOrArray(mapFloat(a, f)), nil
	}
}

func binaryFunc(k *kernels) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		x, y, err := twoArrays(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		if (k == andK || k == orK || k == xorK) && fn[0] == 'l' {
			x, y = x.as(Bool), y.as(Bool)
		}
		r, err := binary(k, x, y)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return scalarOrArray(r), nil
	}
}

func compareFunc(k *cmpKernel) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		x, y, err := twoArrays(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		r, err := compare(k, x, y)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return scalarOrArray(r), nil
	}
}

func twoArrays(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Array, *Array, error) {
	var xv, yv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "x1", &xv, "x2", &yv); err != nil {
		return nil, nil, err
	}
	x, err := arrayArg(fn, xv)
	if err != nil {
		return nil, nil, err
	}
	y, err := arrayArg(fn, yv)
	return x, y, err
}

func predicate(p func(float64) bool) impl {
	return func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		a, err := oneArray(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		out := newArray(Bool, cloneShape(a.shape))
		if a.dtype == Complex128 {
			for k, c := range a.c {
				out.b[k] = p(real(c)) || p(imag(c))
			}
		} else {
			for k, x := range a.floats() {
				out.b[k] = p(x)
			}
		}
		return scalarOrArray(out), nil
	}
}

func npAbs(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	switch a.dtype {
	case Int64:
		out := newArray(Int64, cloneShape(a.shape))
		for k, x := range a.i {
			out.i[k] = max(x, -x)
		}
		return scalarOrArray(out), nil
	case Bool:
		return scalarOrArray(a.copyArray()), nil
	case Complex128:
		out := make([]float64, len(a.c))
		for k, c := range a.c {
			out[k] = cmplx.Abs(c)
		}
		return scalarOrArray(NewFloat64(cloneShape(a.shape), out)), nil
	}
	return scalarOrArray(mapFloat(a, math.Abs)), nil
}

func npSquare(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	r, err := binary(mulK, a, a)
	if err != nil {
		return nil, err
	}
	return scalarOrArray(r), nil
}

func npNegative(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	r, err := a.Unary(syntaxMinus)
	if err != nil {
		return nil, err
	}
	return scalarOrArray(r.(*Array)), nil
}

func npSign(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 {
		return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
	}
	sign := mapFloat(a, func(x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return x // 0 or NaN
	})
	if a.dtype != Float64 {
		return scalarOrArray(sign.as(Int64)), nil
	}
	return scalarOrArray(sign), nil
}

// npRound is np.round(a, decimals=0): half to even, as NumPy.
func npRound(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	decimals := 0
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "decimals?", &decimals); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	switch {
	case a.dtype == Complex128:
		return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
	case a.dtype == Int64 && decimals < 0:
		// NumPy rounds integers to tens, hundreds, ... in float64.
		return scalarOrArray(roundFloats(a.as(Float64), decimals).as(Int64)), nil
	case a.dtype != Float64:
		return scalarOrArray(a.copyArray()), nil
	}
	return scalarOrArray(roundFloats(a, decimals)), nil
}

// roundFloats rounds a float64 array to decimals, half to even.
func roundFloats(a *Array, decimals int) *Array {
	scale := math.Pow(10, float64(decimals))
	return mapFloat(a, func(x float64) float64 {
		if decimals == 0 {
			return math.RoundToEven(x)
		}
		if decimals > 0 {
			return math.RoundToEven(x*scale) / scale
		}
		return math.RoundToEven(x/(1/scale)) * (1 / scale)
	})
}

func npClip(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, lo, hi starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "a_min", &lo, "a_max", &hi); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	r := a
	if lo != starlark.None {
		l, err := arrayArg(fn, lo)
		if err != nil {
			return nil, err
		}
		if r, err = binary(maxK, r, l); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if hi != starlark.None {
		h, err := arrayArg(fn, hi)
		if err != nil {
			return nil, err
		}
		if r, err = binary(minK, r, h); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if r == a {
		r = a.copyArray()
	}
	return scalarOrArray(r), nil
}

// npWhere is np.where(condition, x, y), or np.nonzero(condition) when
// only the condition is given.
func npWhere(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cv, xv, yv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "condition", &cv, "x?", &xv, "y?", &yv); err != nil {
		return nil, err
	}
	if xv == nil && yv == nil {
		return npNonzero(thread, fn, starlark.Tuple{cv}, nil)
	}
	if xv == nil || yv == nil {
		return nil, fmt.Errorf("%s: either both or neither of x and y should be given", fn)
	}
	c, err := arrayArg(fn, cv)
	if err != nil {
		return nil, err
	}
	x, err := arrayArg(fn, xv)
	if err != nil {
		return nil, err
	}
	y, err := arrayArg(fn, yv)
	if err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(c.shape, x.shape)
	if err == nil {
		shape, err = broadcastShapes(shape, y.shape)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	dt := max(x.dtype, y.dtype)
	cb, _ := c.as(Bool).broadcastTo(shape)
	xb, _ := x.as(dt).broadcastTo(shape)
	yb, _ := y.as(dt).broadcastTo(shape)
	out := yb.copyArray()
	var idx []int
	for k, t := range cb.b {
		if t {
			idx = append(idx, k)
		}
	}
	out.scatter(idx, xb.gather(idx, []int{len(idx)}))
	return scalarOrArray(out), nil
}

func npNonzero(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	nd := max(len(a.shape), 1)
	shape := a.shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	strides := stridesOf(shape)
	cols := make([][]int64, nd)
	for k, t := range a.bools() {
		if t {
			for d := range nd {
				cols[d] = append(cols[d], int64(k/strides[d]%shape[d]))
			}
		}
	}
	out := make(starlark.Tuple, nd)
	for d := range nd {
		out[d] = NewInt64([]int{len(cols[d])}, append([]int64{}, cols[d]...))
	}
	return out, nil
}

func npArgwhere(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	nz, err := npNonzero(thread, fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	cols := nz.(starlark.Tuple)
	n := cols[0].(*Array).Size()
	out := newArray(Int64, []int{n, len(cols)})
	for d, c := range cols {
		for k, v := range c.(*Array).i {
			out.i[k*len(cols)+d] = v
		}
	}
	return out, nil
}

func npLogicalNot(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	r, err := a.as(Bool).Unary(syntaxTilde)
	if err != nil {
		return nil, err
	}
	return scalarOrArray(r.(*Array)), nil
}

func npArrayEqual(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	x, y, err := twoArrays(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(arrayEqual(x, y)), nil
}

// npClose is isclose/allclose(a, b, rtol=1e-05, atol=1e-08).
func npClose(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var xv, yv starlark.Value
	rtol, atol := floatParam(1e-5), floatParam(1e-8)
	equalNaN := false
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &xv, "b", &yv, "rtol?", &rtol, "atol?", &atol, "equal_nan?", &equalNaN); err != nil {
		return nil, err
	}
	x, err := arrayArg(fn, xv)
	if err != nil {
		return nil, err
	}
	y, err := arrayArg(fn, yv)
	if err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(x.shape, y.shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	xi, yi := broadcastIndex(x.shape, shape), broadcastIndex(y.shape, shape)
	close := zip2(x.complexes(), xi, y.complexes(), yi, prod(shape), func(a, b complex128) bool {
		if cmplx.IsNaN(a) || cmplx.IsNaN(b) {
			return equalNaN && cmplx.IsNaN(a) && cmplx.IsNaN(b)
		}
		if a == b {
			return true
		}
		return cmplx.Abs(a-b) <= float64(atol)+float64(rtol)*cmplx.Abs(b)
	})
	if fn == "allclose" {
		for _, t := range close {
			if !t {
				return starlark.False, nil
			}
		}
		return starlark.True, nil
	}
	return scalarOrArray(NewBool(shape, close)), nil
}

func npConj(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if a.dtype != Complex128 {
		return scalarOrArray(a.copyArray()), nil
	}
	return scalarOrArray(mapComplex(a, cmplx.Conj)), nil
}

func npPart(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return scalarOrArray(partOf(a, fn == "real")), nil
}

func npAngle(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	out := make([]float64, a.Size())
	for k, c := range a.complexes() {
		out[k] = cmplx.Phase(c)
	}
	return scalarOrArray(NewFloat64(cloneShape(a.shape), out)), nil
}
