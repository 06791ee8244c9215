// Package numpy is a Starlark n-dimensional array type and a module of
// NumPy's names over it (np.array, np.linalg.solve, np.fft.rfft, ...),
// built on gonum. Arrays are contiguous and row-major; indexing and slicing
// copy (NumPy returns views). docs/ARRAYS.md lists what exists and what
// differs from NumPy.
//
// numpy must not import starlarklib: the codec imports it.
package numpy

import (
	"fmt"
	"math"
	"slices"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// DType is an array's element type.
type DType int

// The element types.
const (
	Bool DType = iota
	Int64
	Float64
	Complex128
)

var dtypeNames = [...]string{"bool", "int64", "float64", "complex128"}

func (d DType) String() string { return dtypeNames[d] }

// parseDType accepts a dtype name, a Starlark type builtin name, or a
// *dtypeValue.
func parseDType(v starlark.Value) (DType, error) {
	switch v := v.(type) {
	case dtypeValue:
		return DType(v), nil
	case starlark.String:
		switch v {
		case "bool", "bool_", "?":
			return Bool, nil
		case "int", "int64", "i8", "int_", "int32":
			return Int64, nil
		case "float", "float64", "f8", "double", "float32":
			return Float64, nil
		case "complex", "complex128", "c16":
			return Complex128, nil
		}
		return 0, fmt.Errorf("data type %q not understood", string(v))
	case *starlark.Builtin:
		return parseDType(starlark.String(v.Name()))
	}
	return 0, fmt.Errorf("data type %s not understood", v.Type())
}

// dtypeValue is the Starlark value of a dtype (np.float64, a.dtype).
type dtypeValue DType

func (d dtypeValue) String() string        { return "dtype('" + DType(d).String() + "')" }
func (d dtypeValue) Type() string          { return "dtype" }
func (d dtypeValue) Freeze()               {}
func (d dtypeValue) Truth() starlark.Bool  { return true }
func (d dtypeValue) Hash() (uint32, error) { return uint32(d) + 1, nil }
func (d dtypeValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareEq(op, d == y.(dtypeValue))
}
func (d dtypeValue) Attr(name string) (starlark.Value, error) {
	if name == "name" {
		return starlark.String(DType(d).String()), nil
	}
	return nil, nil
}
func (d dtypeValue) AttrNames() []string { return []string{"name"} }

func compareEq(op syntax.Token, eq bool) (bool, error) {
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s not supported", op)
}

// Array is an n-dimensional array of one dtype, stored contiguously in
// row-major order. Exactly one of the data slices is used, by dtype. Like
// other mutable Starlark values it is not safe for concurrent mutation;
// a frozen Array is read-only.
type Array struct {
	dtype  DType
	shape  []int
	b      []bool
	i      []int64
	f      []float64
	c      []complex128
	frozen bool
	// keep is what the data's memory lives as long as (SetKeep), or nil.
	keep any
}

// NewFloat64 returns an array of shape holding data (not copied).
func NewFloat64(shape []int, data []float64) *Array {
	return &Array{dtype: Float64, shape: shape, f: data}
}

// NewInt64 returns an array of shape holding data (not copied).
func NewInt64(shape []int, data []int64) *Array {
	return &Array{dtype: Int64, shape: shape, i: data}
}

// NewBool returns an array of shape holding data (not copied).
func NewBool(shape []int, data []bool) *Array {
	return &Array{dtype: Bool, shape: shape, b: data}
}

// NewComplex128 returns an array of shape holding data (not copied).
func NewComplex128(shape []int, data []complex128) *Array {
	return &Array{dtype: Complex128, shape: shape, c: data}
}

// SetKeep makes a hold k for as long as a holds its data: a caller whose
// data slice is memory outside the Go heap (a mapping unmapped once its
// owner k is unreachable) ties the memory's life to the array's. Arrays
// that share the data (internal reshapes) hold k too.
func (a *Array) SetKeep(k any) { a.keep = k }

// Unshare replaces a's data with a private copy on the Go heap and drops
// what SetKeep kept.
func (a *Array) Unshare() {
	a.b, a.i, a.f, a.c = slices.Clone(a.b), slices.Clone(a.i), slices.Clone(a.f), slices.Clone(a.c)
	a.keep = nil
}

// newArray returns a zero-filled array.
func newArray(dt DType, shape []int) *Array {
	n := prod(shape)
	a := &Array{dtype: dt, shape: shape}
	switch dt {
	case Bool:
		a.b = make([]bool, n)
	case Int64:
		a.i = make([]int64, n)
	case Float64:
		a.f = make([]float64, n)
	default:
		a.c = make([]complex128, n)
	}
	return a
}

func prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// DType returns the element type.
func (a *Array) DType() DType { return a.dtype }

// Shape returns the dimensions; the caller must not modify it.
func (a *Array) Shape() []int { return a.shape }

// Size is the number of elements.
func (a *Array) Size() int { return prod(a.shape) }

// Float64s returns the data of a float64 array (nil for another dtype),
// not a copy. Like the other accessors' slices it is valid while a is
// reachable: a received array's memory may be a mapping that only a
// keeps mapped (SetKeep), so keep a alive while using the slice.
func (a *Array) Float64s() []float64 { return a.f }

// Int64s returns the data of an int64 array (nil for another dtype).
func (a *Array) Int64s() []int64 { return a.i }

// Bools returns the data of a bool array (nil for another dtype).
func (a *Array) Bools() []bool { return a.b }

// Complex128s returns the data of a complex128 array (nil for another
// dtype).
func (a *Array) Complex128s() []complex128 { return a.c }

// floats returns the data as float64, converting (a copy) unless the
// dtype is float64. Complex data gives the real parts.
func (a *Array) floats() []float64 {
	switch a.dtype {
	case Float64:
		return a.f
	case Int64:
		out := make([]float64, len(a.i))
		for k, x := range a.i {
			out[k] = float64(x)
		}
		return out
	case Bool:
		out := make([]float64, len(a.b))
		for k, x := range a.b {
			if x {
				out[k] = 1
			}
		}
		return out
	}
	out := make([]float64, len(a.c))
	for k, x := range a.c {
		out[k] = real(x)
	}
	return out
}

func (a *Array) ints() []int64 {
	switch a.dtype {
	case Int64:
		return a.i
	case Bool:
		out := make([]int64, len(a.b))
		for k, x := range a.b {
			if x {
				out[k] = 1
			}
		}
		return out
	}
	f := a.floats()
	out := make([]int64, len(f))
	for k, x := range f {
		out[k] = int64(x)
	}
	return out
}

func (a *Array) bools() []bool {
	if a.dtype == Bool {
		return a.b
	}
	out := make([]bool, a.Size())
	switch a.dtype {
	case Int64:
		for k, x := range a.i {
			out[k] = x != 0
		}
	case Float64:
		for k, x := range a.f {
			out[k] = x != 0
		}
	default:
		for k, x := range a.c {
			out[k] = x != 0
		}
	}
	return out
}

func (a *Array) complexes() []complex128 {
	if a.dtype == Complex128 {
		return a.c
	}
	f := a.floats()
	out := make([]complex128, len(f))
	for k, x := range f {
		out[k] = complex(x, 0)
	}
	return out
}

// astype returns a copy converted to dt.
func (a *Array) astype(dt DType) *Array {
	out := &Array{dtype: dt, shape: slices.Clone(a.shape)}
	switch dt {
	case Bool:
		out.b = slices.Clone(a.bools())
	case Int64:
		out.i = slices.Clone(a.ints())
	case Float64:
		out.f = slices.Clone(a.floats())
	default:
		out.c = slices.Clone(a.complexes())
	}
	return out
}

// as returns a with dtype dt, converting only when needed (no copy when
// the dtype already matches).
func (a *Array) as(dt DType) *Array {
	if a.dtype == dt {
		return a
	}
	return a.astype(dt)
}

// copyArray returns a deep copy.
func (a *Array) copyArray() *Array { return a.astype(a.dtype) }

// reshaped returns an array sharing a's data with another shape.
func (a *Array) reshaped(shape []int) *Array {
	return &Array{dtype: a.dtype, shape: shape, b: a.b, i: a.i, f: a.f, c: a.c, keep: a.keep}
}

// elem returns element k as a Starlark value.
func (a *Array) elem(k int) starlark.Value {
	switch a.dtype {
	case Bool:
		return starlark.Bool(a.b[k])
	case Int64:
		return starlark.MakeInt64(a.i[k])
	case Float64:
		return starlark.Float(a.f[k])
	}
	return Complex(a.c[k])
}

// gather returns the elements at flat indices idx, with shape.
func (a *Array) gather(idx []int, shape []int) *Array {
	out := &Array{dtype: a.dtype, shape: shape}
	switch a.dtype {
	case Bool:
		out.b = gatherSlice(a.b, idx)
	case Int64:
		out.i = gatherSlice(a.i, idx)
	case Float64:
		out.f = gatherSlice(a.f, idx)
	default:
		out.c = gatherSlice(a.c, idx)
	}
	return out
}

func gatherSlice[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, j := range idx {
		out[k] = s[j]
	}
	return out
}

// scatter stores v (already broadcast to len(idx) elements and converted
// to a's dtype) at the flat indices idx.
func (a *Array) scatter(idx []int, v *Array) {
	switch a.dtype {
	case Bool:
		scatterSlice(a.b, idx, v.b)
	case Int64:
		scatterSlice(a.i, idx, v.i)
	case Float64:
		scatterSlice(a.f, idx, v.f)
	default:
		scatterSlice(a.c, idx, v.c)
	}
}

func scatterSlice[T any](s []T, idx []int, v []T) {
	for k, j := range idx {
		s[j] = v[k]
	}
}

// Complex is a complex128 element, as Starlark has no complex type.
type Complex complex128

// String formats c as Python does: (1-2j).
func (c Complex) String() string {
	return "(" + formatComplexScalar(complex128(c)) + ")"
}
func (c Complex) Type() string         { return "complex" }
func (c Complex) Freeze()              {}
func (c Complex) Truth() starlark.Bool { return c != 0 }
func (c Complex) Hash() (uint32, error) {
	return uint32(math.Float64bits(real(c)) ^ math.Float64bits(imag(c))), nil
}
func (c Complex) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	return compareEq(op, c == y.(Complex))
}
func (c Complex) Attr(name string) (starlark.Value, error) {
	switch name {
	case "real":
		return starlark.Float(real(c)), nil
	case "imag":
		return starlark.Float(imag(c)), nil
	}
	return nil, nil
}

// AttrNames lists .imag and .real.
func (c Complex) AttrNames() []string { return []string{"imag", "real"} }

// Name and CallInternal make a dtype callable as a conversion, as
// np.float64(x): a scalar gives a scalar, an array a converted copy.
func (d dtypeValue) Name() string { return DType(d).String() }

// CallInternal implements starlark.Callable.
func (d dtypeValue) CallInternal(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackPositionalArgs(d.Name(), args, kwargs, 0, &x); err != nil {
		return nil, err
	}
	a, err := asArray(x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	out := a.astype(DType(d))
	if len(out.shape) == 0 {
		return out.elem(0), nil
	}
	return out, nil
}
