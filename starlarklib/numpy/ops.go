package numpy

import (
	"fmt"
	"math"
	"math/cmplx"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// broadcastShapes returns the shape two operands broadcast to.
func broadcastShapes(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for k := range n {
		da, db := 1, 1
		if j := len(a) - n + k; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + k; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[k] = da
		case da == 1:
			out[k] = db
		default:
			return nil, fmt.Errorf("operands could not be broadcast together with shapes %s %s", shapeString(a), shapeString(b))
		}
	}
	total := 1.0
	for _, d := range out {
		total *= float64(d)
	}
	if total > maxElements {
		return nil, fmt.Errorf("broadcast result of %.0f elements is too big (the limit is %d)", total, maxElements)
	}
	return out, nil
}

// broadcastIndex maps each flat index of shape out to a flat index of an
// array of shape in that broadcasts to it. It returns nil when no mapping
// is needed: the same size, or a single element.
func broadcastIndex(in, out []int) []int {
	if m := prod(in); m == prod(out) || m == 1 {
		return nil
	}
	strides := stridesOf(in)
	bs := make([]int, len(out)) // strides of in, aligned to out, 0 where broadcast
	for k := range in {
		j := len(out) - len(in) + k
		if in[k] != 1 {
			bs[j] = strides[k]
		}
	}
	n := prod(out)
	idx := make([]int, n)
	ctr := make([]int, len(out))
	off := 0
	for k := range n {
		idx[k] = off
		for d := len(out) - 1; d >= 0; d-- {
			ctr[d]++
			off += bs[d]
			if ctr[d] < out[d] {
				break
			}
			off -= bs[d] * ctr[d]
			ctr[d] = 0
		}
	}
	return idx
}

// broadcastTo returns a with shape, copying the data when it grows.
func (a *Array) broadcastTo(shape []int) (*Array, error) {
	bs, err := broadcastShapes(a.shape, shape)
	if err != nil || !equalShape(bs, shape) {
		return nil, fmt.Errorf("could not broadcast input array from shape %s into shape %s", shapeString(a.shape), shapeString(shape))
	}
	idx := broadcastIndex(a.shape, shape)
	if idx == nil && a.Size() == prod(shape) {
		return a.reshaped(shape), nil
	}
	if idx == nil {
		idx = make([]int, prod(shape))
	}
	return a.gather(idx, shape), nil
}

// zip2 applies f element-wise to x and y broadcast to n elements; xi and
// yi map output indices to input indices (nil: identity).
func zip2[T, U any](x []T, xi []int, y []T, yi []int, n int, f func(T, T) U) []U {
	out := make([]U, n)
	switch {
	case xi == nil && yi == nil && len(x) == n && len(y) == n:
		for k := range x {
			out[k] = f(x[k], y[k])
		}
	case xi == nil && len(x) == n && len(y) == 1:
		c := y[0]
		for k := range x {
			out[k] = f(x[k], c)
		}
	case yi == nil && len(y) == n && len(x) == 1:
		c := x[0]
		for k := range y {
			out[k] = f(c, y[k])
		}
	default:
		for k := range out {
			i, j := k, k
			if xi != nil {
				i = xi[k]
			} else if len(x) == 1 {
				i = 0
			}
			if yi != nil {
				j = yi[k]
			} else if len(y) == 1 {
				j = 0
			}
			out[k] = f(x[i], y[j])
		}
	}
	return out
}

// kernels holds an element-wise binary operation per operand type; nil
// entries are unsupported for that type.
type kernels struct {
	name string
	b    func(x, y bool) bool
	i    func(x, y int64) int64
	f    func(x, y float64) float64
	c    func(x, y complex128) complex128
	// result dtype when it is not the operands' common dtype
	floatResult bool // int and bool operands give float (true division)
}

// binary applies k to x and y with broadcasting and type promotion.
func binary(k *kernels, x, y *Array) (*Array, error) {
	shape, err := broadcastShapes(x.shape, y.shape)
	if err != nil {
		return nil, err
	}
	n := prod(shape)
	xi, yi := broadcastIndex(x.shape, shape), broadcastIndex(y.shape, shape)
	dt := max(x.dtype, y.dtype)
	if dt == Bool && k == subK {
		return nil, fmt.Errorf("numpy boolean subtract, the - operator, is not supported, use the bitwise_xor, the ^ operator, or the logical_xor function instead")
	}
	if dt == Bool && k.b == nil {
		dt = Int64
	}
	if dt == Int64 && (k.i == nil || k.floatResult) {
		dt = Float64
	}
	if dt == Int64 && k == powK && anyNegative(y.ints()) {
		return nil, fmt.Errorf("integers to negative integer powers are not allowed")
	}
	out := &Array{dtype: dt, shape: shape}
	switch dt {
	case Bool:
		out.b = zip2(x.b, xi, y.b, yi, n, k.b)
	case Int64:
		out.i = zip2(x.ints(), xi, y.ints(), yi, n, k.i)
	case Float64:
		if k.f == nil {
			return nil, fmt.Errorf("unsupported operand types for %s: %s and %s", k.name, x.dtype, y.dtype)
		}
		xf, yf := x.floats(), y.floats()
		if f := fastFloat(k, xf, xi, yf, yi, n); f != nil {
			out.f = f
		} else {
			out.f = zip2(xf, xi, yf, yi, n, k.f)
		}
	default:
		if k.c == nil {
			return nil, fmt.Errorf("unsupported operand types for %s: %s and %s", k.name, x.dtype, y.dtype)
		}
		out.c = zip2(x.complexes(), xi, y.complexes(), yi, n, k.c)
	}
	return out, nil
}

var (
	addK = &kernels{name: "+", b: func(x, y bool) bool { return x || y }, i: func(x, y int64) int64 { return x + y },
		f: func(x, y float64) float64 { return x + y }, c: func(x, y complex128) complex128 { return x + y }}
	subK = &kernels{name: "-", i: func(x, y int64) int64 { return x - y },
		f: func(x, y float64) float64 { return x - y }, c: func(x, y complex128) complex128 { return x - y }}
	mulK = &kernels{name: "*", b: func(x, y bool) bool { return x && y }, i: func(x, y int64) int64 { return x * y },
		f: func(x, y float64) float64 { return x * y }, c: func(x, y complex128) complex128 { return x * y }}
	divK = &kernels{name: "/", floatResult: true,
		f: func(x, y float64) float64 { return x / y }, c: func(x, y complex128) complex128 { return x / y }}
	floorDivK = &kernels{name: "//", i: floorDivInt, f: func(x, y float64) float64 { return math.Floor(x / y) }}
	modK      = &kernels{name: "%", i: modInt, f: modFloat}
	powK      = &kernels{name: "power", i: powInt, f: math.Pow, c: cmplx.Pow}
	andK      = &kernels{name: "&", b: func(x, y bool) bool { return x && y }, i: func(x, y int64) int64 { return x & y }}
	orK       = &kernels{name: "|", b: func(x, y bool) bool { return x || y }, i: func(x, y int64) int64 { return x | y }}
	xorK      = &kernels{name: "^", b: func(x, y bool) bool { return x != y }, i: func(x, y int64) int64 { return x ^ y }}
	// Shift counts are unsigned as in NumPy: 64 or more (or negative)
	// shifts every bit out.
	lshK = &kernels{name: "<<", i: func(x, y int64) int64 { return x << uint64(y) }}
	rshK = &kernels{name: ">>", i: func(x, y int64) int64 { return x >> uint64(y) }}
	maxK = &kernels{name: "maximum", b: func(x, y bool) bool { return x || y },
		i: func(x, y int64) int64 { return max(x, y) }, f: nanMax}
	minK = &kernels{name: "minimum", b: func(x, y bool) bool { return x && y },
		i: func(x, y int64) int64 { return min(x, y) }, f: nanMin}
	hypotK  = &kernels{name: "hypot", floatResult: true, f: math.Hypot}
	arctan2 = &kernels{name: "arctan2", floatResult: true, f: math.Atan2}
)

func nanMax(x, y float64) float64 {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.NaN()
	}
	return max(x, y)
}

func nanMin(x, y float64) float64 {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.NaN()
	}
	return min(x, y)
}

// floorDivInt is Python's floor division; division by zero gives 0 as in
// NumPy.
func floorDivInt(x, y int64) int64 {
	if y == 0 {
		return 0
	}
	q := x / y
	if (x%y != 0) && ((x < 0) != (y < 0)) {
		q--
	}
	return q
}

func modInt(x, y int64) int64 {
	if y == 0 {
		return 0
	}
	m := x % y
	if m != 0 && ((m < 0) != (y < 0)) {
		m += y
	}
	return m
}

func modFloat(x, y float64) float64 {
	m := math.Mod(x, y)
	if m != 0 && ((m < 0) != (y < 0)) {
		m += y
	}
	return m
}

// anyNegative reports whether some element of xs is negative.
func anyNegative(xs []int64) bool {
	for _, x := range xs {
		if x < 0 {
			return true
		}
	}
	return false
}

func powInt(x, y int64) int64 {
	if y < 0 {
		return 0
	}
	r := int64(1)
	for y > 0 {
		if y&1 == 1 {
			r *= x
		}
		x *= x
		y >>= 1
	}
	return r
}

// comparisons, element-wise, giving bool arrays.
type cmpKernel struct {
	name string
	i    func(x, y int64) bool
	f    func(x, y float64) bool
}

var (
	lessK    = &cmpKernel{"less", func(x, y int64) bool { return x < y }, func(x, y float64) bool { return x < y }}
	lessEqK  = &cmpKernel{"less_equal", func(x, y int64) bool { return x <= y }, func(x, y float64) bool { return x <= y }}
	greaterK = &cmpKernel{"greater", func(x, y int64) bool { return x > y }, func(x, y float64) bool { return x > y }}
	greatEqK = &cmpKernel{"greater_equal", func(x, y int64) bool { return x >= y }, func(x, y float64) bool { return x >= y }}
	equalK   = &cmpKernel{"equal", func(x, y int64) bool { return x == y }, func(x, y float64) bool { return x == y }}
	notEqK   = &cmpKernel{"not_equal", func(x, y int64) bool { return x != y }, func(x, y float64) bool { return x != y }}
)

func compare(k *cmpKernel, x, y *Array) (*Array, error) {
	shape, err := broadcastShapes(x.shape, y.shape)
	if err != nil {
		return nil, err
	}
	n := prod(shape)
	xi, yi := broadcastIndex(x.shape, shape), broadcastIndex(y.shape, shape)
	out := &Array{dtype: Bool, shape: shape}
	switch max(x.dtype, y.dtype) {
	case Bool, Int64:
		out.b = zip2(x.ints(), xi, y.ints(), yi, n, k.i)
	case Float64:
		xf, yf := x.floats(), y.floats()
		if b := fastCompare(k, xf, xi, yf, yi, n); b != nil {
			out.b = b
		} else {
			out.b = zip2(xf, xi, yf, yi, n, k.f)
		}
	default:
		if k != equalK && k != notEqK {
			return nil, fmt.Errorf("%s: complex numbers are not ordered", k.name)
		}
		eq := k == equalK
		out.b = zip2(x.complexes(), xi, y.complexes(), yi, n, func(a, b complex128) bool { return (a == b) == eq })
	}
	return out, nil
}

// Binary implements the arithmetic and bitwise operators, element-wise
// with broadcasting.
func (a *Array) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	var k *kernels
	switch op {
	case syntax.PLUS:
		k = addK
	case syntax.MINUS:
		k = subK
	case syntax.STAR:
		k = mulK
	case syntax.SLASH:
		k = divK
	case syntax.SLASHSLASH:
		k = floorDivK
	case syntax.PERCENT:
		k = modK
	case syntax.AMP:
		k = andK
	case syntax.PIPE:
		k = orK
	case syntax.CIRCUMFLEX:
		k = xorK
	case syntax.LTLT:
		k = lshK
	case syntax.GTGT:
		k = rshK
	default:
		return nil, nil
	}
	b, err := asArray(y)
	if err != nil {
		return nil, nil // not an operand we know: let Starlark report it
	}
	x := a
	if side == starlark.Right {
		x, b = b, a
	}
	r, err := binary(k, x, b)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Unary implements -a, +a and ~a.
func (a *Array) Unary(op syntax.Token) (starlark.Value, error) {
	switch op {
	case syntax.PLUS:
		return a.copyArray(), nil
	case syntax.MINUS:
		if a.dtype == Bool {
			return nil, fmt.Errorf("the - operator is not supported for bool arrays, use ~ instead")
		}
		return binary(subK, zeroOf(a.dtype), a)
	case syntax.TILDE:
		switch a.dtype {
		case Bool:
			out := newArray(Bool, cloneShape(a.shape))
			for k, x := range a.b {
				out.b[k] = !x
			}
			return out, nil
		case Int64:
			out := newArray(Int64, cloneShape(a.shape))
			for k, x := range a.i {
				out.i[k] = ^x
			}
			return out, nil
		}
		return nil, fmt.Errorf("the ~ operator is not supported for %s arrays", a.dtype)
	}
	return nil, nil
}

func zeroOf(dt DType) *Array { return newArray(dt, nil) }

func cloneShape(s []int) []int { return append([]int{}, s...) }

// mapFloat applies f to each element as float64 (complex arrays use fc
// when given).
func mapFloat(a *Array, f func(float64) float64) *Array {
	src := a.floats()
	out := make([]float64, len(src))
	for k, x := range src {
		out[k] = f(x)
	}
	return NewFloat64(cloneShape(a.shape), out)
}

func mapComplex(a *Array, f func(complex128) complex128) *Array {
	out := make([]complex128, len(a.c))
	for k, x := range a.c {
		out[k] = f(x)
	}
	return NewComplex128(cloneShape(a.shape), out)
}

const (
	syntaxMinus = syntax.MINUS
	syntaxTilde = syntax.TILDE
)

// fastFloat computes +, -, * and / of float64 operands of the same size
// or with a scalar in plain loops (no call per element); nil means no
// fast path applies.
func fastFloat(k *kernels, x []float64, xi []int, y []float64, yi []int, n int) []float64 {
	if xi != nil || yi != nil || (len(x) != n && len(x) != 1) || (len(y) != n && len(y) != 1) {
		return nil
	}
	if k != addK && k != subK && k != mulK && k != divK {
		return nil
	}
	out := make([]float64, n)
	switch {
	case len(x) == n && len(y) == n:
		y = y[:n]
		x = x[:n]
		switch k {
		case addK:
			for i := range out {
				out[i] = x[i] + y[i]
			}
		case subK:
			for i := range out {
				out[i] = x[i] - y[i]
			}
		case mulK:
			for i := range out {
				out[i] = x[i] * y[i]
			}
		default:
			for i := range out {
				out[i] = x[i] / y[i]
			}
		}
	case len(y) == 1 && len(x) == n:
		c := y[0]
		x = x[:n]
		switch k {
		case addK:
			for i := range out {
				out[i] = x[i] + c
			}
		case subK:
			for i := range out {
				out[i] = x[i] - c
			}
		case mulK:
			for i := range out {
				out[i] = x[i] * c
			}
		default:
			for i := range out {
				out[i] = x[i] / c
			}
		}
	default:
		return nil
	}
	return out
}

// fastCompare compares float64 operands of the same size, or an array
// with a scalar, in plain loops; nil means no fast path applies.
func fastCompare(k *cmpKernel, x []float64, xi []int, y []float64, yi []int, n int) []bool {
	if xi != nil || yi != nil || len(x) != n || (len(y) != n && len(y) != 1) || k != lessK && k != greaterK {
		return nil
	}
	out := make([]bool, n)
	if len(y) == 1 {
		c := y[0]
		if k == lessK {
			for i, v := range x {
				out[i] = v < c
			}
		} else {
			for i, v := range x {
				out[i] = v > c
			}
		}
		return out
	}
	y = y[:n]
	if k == lessK {
		for i, v := range x {
			out[i] = v < y[i]
		}
	} else {
		for i, v := range x {
			out[i] = v > y[i]
		}
	}
	return out
}
