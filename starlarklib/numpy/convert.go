package numpy

import (
	"fmt"

	"go.starlark.net/starlark"
)

// maxDims bounds the number of dimensions of an array.
const maxDims = 32

// asArray converts a Starlark value (an array, a scalar, or nested lists
// and tuples of scalars) to an array; arrays are returned as they are.
func asArray(v starlark.Value) (*Array, error) {
	if a, ok := v.(*Array); ok {
		return a, nil
	}
	var shape []int
	if err := nestedShape(v, 0, &shape); err != nil {
		return nil, err
	}
	dt := Bool
	if prod(shape) == 0 {
		dt = Float64 // NumPy's default for an empty list
	}
	var flat []starlark.Value
	if err := flatten(v, shape, 0, &flat, &dt); err != nil {
		return nil, err
	}
	a := newArray(dt, shape)
	for k, x := range flat {
		setScalar(a, k, x)
	}
	return a, nil
}

// nestedShape finds the shape of nested sequences from their first items.
func nestedShape(v starlark.Value, depth int, shape *[]int) error {
	if depth > maxDims {
		return fmt.Errorf("array: more than %d dimensions", maxDims)
	}
	switch v := v.(type) {
	case *starlark.List, starlark.Tuple:
		seq := v.(starlark.Indexable)
		*shape = append(*shape, seq.Len())
		if seq.Len() > 0 {
			return nestedShape(seq.Index(0), depth+1, shape)
		}
	case *Array:
		*shape = append(*shape, v.shape...)
	}
	return nil
}

// flatten appends the scalars of v to flat, checking that v has shape.
func flatten(v starlark.Value, shape []int, axis int, flat *[]starlark.Value, dt *DType) error {
	if axis == len(shape) {
		k, err := scalarKind(v)
		if err != nil {
			return err
		}
		*dt = max(*dt, k)
		*flat = append(*flat, v)
		return nil
	}
	if a, ok := v.(*Array); ok {
		if !equalShape(a.shape, shape[axis:]) {
			return fmt.Errorf("array: inhomogeneous shape after %d dimensions", axis)
		}
		*dt = max(*dt, a.dtype)
		for k := range a.Size() {
			*flat = append(*flat, a.elem(k))
		}
		return nil
	}
	seq, ok := v.(starlark.Indexable)
	if _, isStr := v.(starlark.String); !ok || isStr || seq.Len() != shape[axis] {
		return fmt.Errorf("array: inhomogeneous shape after %d dimensions", axis)
	}
	for k := range seq.Len() {
		if err := flatten(seq.Index(k), shape, axis+1, flat, dt); err != nil {
			return err
		}
	}
	return nil
}

// scalarKind is the dtype a Starlark scalar converts to.
func scalarKind(v starlark.Value) (DType, error) {
	switch v.(type) {
	case starlark.Bool:
		return Bool, nil
	case starlark.Int:
		return Int64, nil
	case starlark.Float:
		return Float64, nil
	case Complex:
		return Complex128, nil
	}
	return 0, fmt.Errorf("array: got %s, want a number, bool or nested list of them", v.Type())
}

// setScalar stores the scalar x (of a kind no wider than a's dtype) at
// flat index k.
func setScalar(a *Array, k int, x starlark.Value) {
	var c complex128
	switch x := x.(type) {
	case starlark.Bool:
		if x {
			c = 1
		}
	case starlark.Int:
		if v, ok := x.Int64(); ok {
			if a.dtype == Int64 {
				a.i[k] = v
				return
			}
			c = complex(float64(v), 0)
		} else {
			f, _ := starlark.AsFloat(x)
			c = complex(f, 0)
		}
	case starlark.Float:
		c = complex(float64(x), 0)
	case Complex:
		c = complex128(x)
	}
	switch a.dtype {
	case Bool:
		a.b[k] = c != 0
	case Int64:
		a.i[k] = int64(real(c))
	case Float64:
		a.f[k] = real(c)
	default:
		a.c[k] = c
	}
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// toList converts an array to nested Starlark lists of scalars.
func (a *Array) toList() starlark.Value {
	if len(a.shape) == 0 {
		return a.elem(0)
	}
	strides := stridesOf(a.shape)
	var rec func(axis, off int) starlark.Value
	rec = func(axis, off int) starlark.Value {
		n := a.shape[axis]
		items := make([]starlark.Value, n)
		for k := range n {
			if axis == len(a.shape)-1 {
				items[k] = a.elem(off + k)
			} else {
				items[k] = rec(axis+1, off+k*strides[axis])
			}
		}
		return starlark.NewList(items)
	}
	return rec(0, 0)
}

// asShape converts an int or a sequence of ints to a shape.
func asShape(v starlark.Value) ([]int, error) {
	if n, ok := v.(starlark.Int); ok {
		d, err := dim(n)
		return []int{d}, err
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("shape: got %s, want int or tuple of ints", v.Type())
	}
	if seq.Len() > maxDims {
		return nil, fmt.Errorf("shape: more than %d dimensions", maxDims)
	}
	shape := make([]int, seq.Len())
	total := 1.0
	for k := range shape {
		d, err := dim(seq.Index(k))
		if err != nil {
			return nil, err
		}
		shape[k] = d
		total *= float64(d)
	}
	if total > maxElements {
		return nil, fmt.Errorf("shape: array of %.0f elements is too big (the limit is %d)", total, maxElements)
	}
	return shape, nil
}

func dim(v starlark.Value) (int, error) {
	d, err := starlark.AsInt32(v)
	if err != nil {
		return 0, fmt.Errorf("shape: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("shape: negative dimensions are not allowed")
	}
	return d, nil
}

// asFloat converts a Starlark number to float64.
func asFloat(v starlark.Value, what string) (float64, error) {
	f, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("%s: got %s, want a number", what, v.Type())
	}
	return f, nil
}

// floatParam is a float parameter that also accepts an int.
type floatParam float64

// Unpack implements starlark.Unpacker.
func (f *floatParam) Unpack(v starlark.Value) error {
	x, ok := starlark.AsFloat(v)
	if !ok {
		return fmt.Errorf("got %s, want float or int", v.Type())
	}
	*f = floatParam(x)
	return nil
}
