package numpy

import (
	"errors"
	"fmt"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// productFuncs is this file's part of the np module.
func productFuncs() map[string]impl {
	return map[string]impl{
		"dot":    npDot,
		"matmul": npDot,
		"vdot":   npDot,
		"outer":  npOuter,
		"inner":  npDot,
		"trace":  npTrace,
		"diag":   npDiag,
	}
}

func linalgModule() *starlarkstruct.Module {
	return subModule("linalg", map[string]impl{
		"inv":         laInv,
		"solve":       laSolve,
		"det":         laDet,
		"eig":         laEig,
		"eigvals":     laEig,
		"svd":         laSVD,
		"norm":        laNorm,
		"lstsq":       laLstsq,
		"pinv":        laPinv,
		"matrix_rank": laRank,
		"qr":          laQR,
		"cholesky":    laCholesky,
	})
}

// matrixArg converts a 2-d real array argument to a gonum matrix (a copy).
func matrixArg(fn string, v starlark.Value) (*mat.Dense, error) {
	a, err := arrayArg(fn, v)
	if err != nil {
		return nil, err
	}
	return matrix(fn, a)
}

// matrix converts a 2-d real array to a gonum matrix (a copy).
func matrix(fn string, a *Array) (*mat.Dense, error) {
	if len(a.shape) != 2 {
		return nil, fmt.Errorf("%s: %d-dimensional array given, array must be two-dimensional", fn, len(a.shape))
	}
	if a.dtype == Complex128 {
		return nil, fmt.Errorf("%s: complex matrices are not supported", fn)
	}
	if a.shape[0] == 0 || a.shape[1] == 0 {
		return nil, fmt.Errorf("%s: empty matrix", fn)
	}
	data := a.floats()
	if a.dtype == Float64 {
		data = append([]float64(nil), data...)
	}
	return mat.NewDense(a.shape[0], a.shape[1], data), nil
}

func squareMatrix(fn string, a *Array) (*mat.Dense, error) {
	m, err := matrix(fn, a)
	if err == nil && a.shape[0] != a.shape[1] {
		err = fmt.Errorf("%s: last 2 dimensions of the array must be square", fn)
	}
	return m, err
}

// fromMatrix converts a gonum matrix to an array.
func fromMatrix(m mat.Matrix) *Array {
	r, c := m.Dims()
	return NewFloat64([]int{r, c}, mat.DenseCopyOf(m).RawMatrix().Data)
}

// linalgError maps gonum's errors: a condition-number warning is not an
// error in NumPy unless the matrix is exactly singular.
func linalgError(fn string, err error) error {
	var cond mat.Condition
	if errors.As(err, &cond) && !math.IsInf(float64(cond), 1) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: singular matrix: %w", fn, err)
	}
	return nil
}

func laInv(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := squareMatrix(fn, a)
	if err != nil {
		return nil, err
	}
	var inv mat.Dense
	if err := linalgError(fn, inv.Inverse(m)); err != nil {
		return nil, err
	}
	return fromMatrix(&inv), nil
}

func laSolve(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, b, err := twoArrays(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := squareMatrix(fn, a)
	if err != nil {
		return nil, err
	}
	vec := len(b.shape) == 1
	if vec {
		b = b.reshaped([]int{b.Size(), 1})
	}
	rhs, err := matrix(fn, b)
	if err != nil {
		return nil, err
	}
	if b.shape[0] != a.shape[0] {
		return nil, fmt.Errorf("%s: b has %d rows, a has %d", fn, b.shape[0], a.shape[0])
	}
	var x mat.Dense
	if err := linalgError(fn, x.Solve(m, rhs)); err != nil {
		return nil, err
	}
	out := fromMatrix(&x)
	if vec {
		return out.reshaped([]int{out.Size()}), nil
	}
	return out, nil
}

func laDet(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := squareMatrix(fn, a)
	if err != nil {
		return nil, err
	}
	return starlark.Float(mat.Det(m)), nil
}

// realIfPossible returns complex data as a float array when every
// imaginary part is zero, as NumPy's eig does.
func realIfPossible(shape []int, c []complex128) *Array {
	for _, v := range c {
		if imag(v) != 0 {
			return NewComplex128(shape, c)
		}
	}
	f := make([]float64, len(c))
	for k, v := range c {
		f[k] = real(v)
	}
	return NewFloat64(shape, f)
}

// laEig is eig(a) → (w, v) and eigvals(a) → w.
func laEig(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := squareMatrix(fn, a)
	if err != nil {
		return nil, err
	}
	kind := mat.EigenNone
	if fn == "eig" {
		kind = mat.EigenRight
	}
	var e mat.Eigen
	if !e.Factorize(m, kind) {
		return nil, fmt.Errorf("%s: eigenvalues did not converge", fn)
	}
	n := a.shape[0]
	w := e.Values(nil)
	if fn == "eigvals" {
		return realIfPossible([]int{n}, w), nil
	}
	var v mat.CDense
	e.VectorsTo(&v)
	vc := make([]complex128, 0, n*n)
	for i := range n {
		for j := range n {
			vc = append(vc, v.At(i, j))
		}
	}
	wa := realIfPossible([]int{n}, w)
	va := NewComplex128([]int{n, n}, vc)
	if wa.dtype == Float64 {
		va = realIfPossible([]int{n, n}, vc)
	}
	return starlark.Tuple{wa, va}, nil
}

// laSVD is svd(a, full_matrices=True, compute_uv=True) → (u, s, vh) or s.
func laSVD(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	full, uv := true, true
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "full_matrices?", &full, "compute_uv?", &uv); err != nil {
		return nil, err
	}
	m, err := matrixArg(fn, av)
	if err != nil {
		return nil, err
	}
	kind := mat.SVDNone
	if uv {
		kind = mat.SVDThin
		if full {
			kind = mat.SVDFull
		}
	}
	var svd mat.SVD
	if !svd.Factorize(m, kind) {
		return nil, fmt.Errorf("%s: SVD did not converge", fn)
	}
	s := svd.Values(nil)
	sa := NewFloat64([]int{len(s)}, s)
	if !uv {
		return sa, nil
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	return starlark.Tuple{fromMatrix(&u), sa, fromMatrix(v.T())}, nil
}

// laNorm is norm(x, ord=None, axis=None).
func laNorm(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, ordV, axisV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "x", &av, "ord?", &ordV, "axis?", &axisV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 {
		a = mustAbs(a)
	}
	axis, hasAxis, err := optAxis(fn, axisV, len(a.shape))
	if err != nil {
		return nil, err
	}
	hasOrd := ordV != nil && ordV != starlark.None
	if hasAxis {
		p, err := vectorOrd(fn, ordV, hasOrd)
		if err != nil {
			return nil, err
		}
		out := &Array{dtype: Float64, shape: reduceShape(a.shape, axis, false)}
		lanes(a.floats(), a.shape, axis, func(l []float64) { out.f = append(out.f, floats.Norm(l, p)) })
		return scalarOrArray(out), nil
	}
	if !hasOrd || len(a.shape) != 2 {
		if hasOrd && len(a.shape) != 1 {
			return nil, fmt.Errorf("%s: improper number of dimensions to norm", fn)
		}
		p, err := vectorOrd(fn, ordV, hasOrd)
		if err != nil {
			return nil, err
		}
		return starlark.Float(floats.Norm(a.floats(), p)), nil
	}
	return matrixNorm(fn, a, ordV)
}

func mustAbs(a *Array) *Array {
	v, _ := npAbs(nil, "abs", starlark.Tuple{a}, nil)
	if r, ok := v.(*Array); ok {
		return r
	}
	return NewFloat64(nil, []float64{float64(v.(starlark.Float))})
}

// vectorOrd parses a vector norm order (None: 2).
func vectorOrd(fn string, v starlark.Value, has bool) (float64, error) {
	if !has {
		return 2, nil
	}
	p, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("%s: invalid norm order %s for vectors", fn, v)
	}
	return p, nil
}

func matrixNorm(fn string, a *Array, ordV starlark.Value) (starlark.Value, error) {
	m, err := matrix(fn, a)
	if err != nil {
		return nil, err
	}
	if s, ok := ordV.(starlark.String); ok {
		switch s {
		case "fro":
			return starlark.Float(mat.Norm(m, 2)), nil
		case "nuc":
			var svd mat.SVD
			svd.Factorize(m, mat.SVDNone)
			return starlark.Float(floats.Sum(svd.Values(nil))), nil
		}
		return nil, fmt.Errorf("%s: invalid norm order %s for matrices", fn, s)
	}
	p, ok := starlark.AsFloat(ordV)
	if !ok {
		return nil, fmt.Errorf("%s: invalid norm order %s for matrices", fn, ordV)
	}
	switch {
	case p == 2 || p == -2:
		var svd mat.SVD
		svd.Factorize(m, mat.SVDNone)
		s := svd.Values(nil)
		if p == 2 {
			return starlark.Float(floats.Max(s)), nil
		}
		return starlark.Float(floats.Min(s)), nil
	case p == 1 || p == -1 || math.IsInf(p, 0):
		abs := mustAbs(a)
		axis := 0 // column sums for ord 1
		if math.IsInf(p, 0) {
			axis = 1
		}
		sums, err := reduce(fn, rSum, abs, axis, true, false, 0)
		if err != nil {
			return nil, err
		}
		s := sums.(*Array).floats()
		if p > 0 {
			return starlark.Float(floats.Max(s)), nil
		}
		return starlark.Float(floats.Min(s)), nil
	}
	return nil, fmt.Errorf("%s: invalid norm order %s for matrices", fn, ordV)
}

// pseudoSolve solves a x = b in the least-squares sense through the SVD,
// ignoring singular values below rcond times the largest; it returns x,
// the rank and the singular values.
func pseudoSolve(a, b *mat.Dense, rcond float64) (*mat.Dense, int, []float64, error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, 0, nil, fmt.Errorf("SVD did not converge")
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	cut := rcond * floats.Max(s)
	rank := 0
	var utb mat.Dense
	utb.Mul(u.T(), b)
	r, c := utb.Dims()
	for i := range r {
		inv := 0.0
		if s[i] > cut {
			inv = 1 / s[i]
			rank++
		}
		for j := range c {
			utb.Set(i, j, utb.At(i, j)*inv)
		}
	}
	var x mat.Dense
	x.Mul(&v, &utb)
	return &x, rank, s, nil
}

// laLstsq is lstsq(a, b, rcond=None) → (x, residuals, rank, s).
func laLstsq(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, bv, rcondV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "b", &bv, "rcond?", &rcondV); err != nil {
		return nil, err
	}
	b, err := arrayArg(fn, bv)
	if err != nil {
		return nil, err
	}
	m, err := matrixArg(fn, av)
	if err != nil {
		return nil, err
	}
	rows, cols := m.Dims()
	rcond := 2.220446049250313e-16 * float64(max(rows, cols))
	if rcondV != nil && rcondV != starlark.None {
		if rcond, err = asFloat(rcondV, fn); err != nil {
			return nil, err
		}
	}
	vec := len(b.shape) == 1
	if vec {
		b = b.reshaped([]int{b.Size(), 1})
	}
	rhs, err := matrix(fn, b)
	if err != nil {
		return nil, err
	}
	if b.shape[0] != rows {
		return nil, fmt.Errorf("%s: incompatible dimensions", fn)
	}
	x, rank, s, err := pseudoSolve(m, rhs, rcond)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	resid := NewFloat64([]int{0}, []float64{})
	if rank == cols && rows > cols {
		var r mat.Dense
		r.Mul(m, x)
		r.Sub(&r, rhs)
		_, k := r.Dims()
		res := make([]float64, k)
		for j := range k {
			col := mat.Col(nil, j, &r)
			res[j] = floats.Dot(col, col)
		}
		resid = NewFloat64([]int{k}, res)
	}
	xa := fromMatrix(x)
	if vec {
		xa = xa.reshaped([]int{xa.Size()})
	}
	return starlark.Tuple{xa, resid, starlark.MakeInt(rank), NewFloat64([]int{len(s)}, s)}, nil
}

func laPinv(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	rcond := floatParam(1e-15)
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "rcond?", &rcond); err != nil {
		return nil, err
	}
	m, err := matrixArg(fn, av)
	if err != nil {
		return nil, err
	}
	r, _ := m.Dims()
	eye := mat.NewDiagDense(r, nil)
	for i := range r {
		eye.SetDiag(i, 1)
	}
	x, _, _, err := pseudoSolve(m, mat.DenseCopyOf(eye), float64(rcond))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return fromMatrix(x), nil
}

func laRank(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if len(a.shape) < 2 {
		for _, x := range a.floats() {
			if x != 0 {
				return starlark.MakeInt(1), nil
			}
		}
		return starlark.MakeInt(0), nil
	}
	m, err := matrix(fn, a)
	if err != nil {
		return nil, err
	}
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDNone) {
		return nil, fmt.Errorf("%s: SVD did not converge", fn)
	}
	s := svd.Values(nil)
	tol := floats.Max(s) * float64(max(a.shape[0], a.shape[1])) * 2.220446049250313e-16
	rank := 0
	for _, v := range s {
		if v > tol {
			rank++
		}
	}
	return starlark.MakeInt(rank), nil
}

// laQR is qr(a) in NumPy's "reduced" mode → (q, r).
func laQR(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := matrix(fn, a)
	if err != nil {
		return nil, err
	}
	if r, c := m.Dims(); r < c {
		return nil, fmt.Errorf("%s: matrices with fewer rows than columns are not supported", fn)
	}
	var qr mat.QR
	qr.Factorize(m)
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	rows, cols := m.Dims()
	k := min(rows, cols)
	return starlark.Tuple{fromMatrix(q.Slice(0, rows, 0, k)), fromMatrix(r.Slice(0, k, 0, cols))}, nil
}

func laCholesky(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	m, err := squareMatrix(fn, a)
	if err != nil {
		return nil, err
	}
	n, _ := m.Dims()
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, m.At(i, j))
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(sym) {
		return nil, fmt.Errorf("%s: matrix is not positive definite", fn)
	}
	var l mat.TriDense
	ch.LTo(&l)
	return fromMatrix(&l), nil
}

// npDot is dot, matmul, inner and vdot for 1-d and 2-d operands (a scalar
// operand multiplies, for dot).
func npDot(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, b, err := twoArrays(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if fn == "vdot" {
		a, b = a.reshaped([]int{a.Size()}), b.reshaped([]int{b.Size()})
	}
	if len(a.shape) == 0 || len(b.shape) == 0 {
		if fn == "matmul" {
			return nil, fmt.Errorf("%s: input operand does not have enough dimensions", fn)
		}
		r, err := binary(mulK, a, b)
		if err != nil {
			return nil, err
		}
		return scalarOrArray(r), nil
	}
	if len(a.shape) > 2 || len(b.shape) > 2 {
		return nil, fmt.Errorf("%s: arrays of more than 2 dimensions are not supported", fn)
	}
	if a.dtype == Complex128 || b.dtype == Complex128 {
		return nil, fmt.Errorf("%s: complex arrays are not supported", fn)
	}
	if fn == "inner" && len(b.shape) == 2 {
		if b, err = transpose(b, nil); err != nil {
			return nil, err
		}
	}
	intResult := a.dtype != Float64 && b.dtype != Float64
	if len(a.shape) == 1 && len(b.shape) == 1 {
		if a.Size() != b.Size() {
			return nil, fmt.Errorf("%s: shapes %s and %s not aligned", fn, shapeString(a.shape), shapeString(b.shape))
		}
		if intResult {
			return starlark.MakeInt64(sumInt(zip2(a.ints(), nil, b.ints(), nil, a.Size(), func(x, y int64) int64 { return x * y }))), nil
		}
		return starlark.Float(floats.Dot(a.floats(), b.floats())), nil
	}
	av, bv := a, b
	if len(a.shape) == 1 {
		av = a.reshaped([]int{1, a.Size()})
	}
	if len(b.shape) == 1 {
		bv = b.reshaped([]int{b.Size(), 1})
	}
	if av.shape[1] != bv.shape[0] {
		return nil, fmt.Errorf("%s: shapes %s and %s not aligned: %d (dim 1) != %d (dim 0)", fn, shapeString(a.shape), shapeString(b.shape), av.shape[1], bv.shape[0])
	}
	out := NewFloat64([]int{av.shape[0], bv.shape[1]}, make([]float64, av.shape[0]*bv.shape[1]))
	if av.Size() > 0 && bv.Size() > 0 {
		ma := mat.NewDense(av.shape[0], av.shape[1], av.floats())
		mb := mat.NewDense(bv.shape[0], bv.shape[1], bv.floats())
		mat.NewDense(av.shape[0], bv.shape[1], out.f).Mul(ma, mb)
	}
	switch {
	case len(a.shape) == 1:
		out = out.reshaped([]int{bv.shape[1]})
	case len(b.shape) == 1:
		out = out.reshaped([]int{av.shape[0]})
	}
	if intResult {
		out = out.as(Int64)
	}
	return out, nil
}

func npOuter(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, b, err := twoArrays(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	x := a.reshaped([]int{a.Size(), 1})
	y := b.reshaped([]int{1, b.Size()})
	return binary(mulK, x, y)
}

func npTrace(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if len(a.shape) != 2 {
		return nil, fmt.Errorf("%s: array must be 2-d", fn)
	}
	idx := make([]int, min(a.shape[0], a.shape[1]))
	for k := range idx {
		idx[k] = k*a.shape[1] + k
	}
	return reduce(fn, rSum, a.gather(idx, []int{len(idx)}), 0, false, false, 0)
}

// npDiag extracts the diagonal of a 2-d array or builds a diagonal matrix
// from a 1-d one.
func npDiag(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := oneArray(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	switch len(a.shape) {
	case 1:
		n := a.Size()
		if float64(n)*float64(n) > maxElements {
			return nil, errTooBig(fn, float64(n)*float64(n))
		}
		out := newArray(a.dtype, []int{n, n})
		idx := make([]int, n)
		for k := range idx {
			idx[k] = k*n + k
		}
		out.scatter(idx, a)
		return out, nil
	case 2:
		idx := make([]int, min(a.shape[0], a.shape[1]))
		for k := range idx {
			idx[k] = k*a.shape[1] + k
		}
		return a.gather(idx, []int{len(idx)}), nil
	}
	return nil, fmt.Errorf("%s: input must be 1- or 2-d", fn)
}
