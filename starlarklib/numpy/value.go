package numpy

import (
	"fmt"
	"slices"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

var (
	_ starlark.Mapping   = (*Array)(nil)
	_ starlark.HasSetKey = (*Array)(nil)
	_ starlark.Sliceable = (*Array)(nil)
	_ starlark.Iterable  = (*Array)(nil)
	_ starlark.HasBinary = (*Array)(nil)
	_ starlark.HasUnary  = (*Array)(nil)
	_ starlark.HasAttrs  = (*Array)(nil)
	_ starlark.Container = (*Array)(nil)
)

// Type is "ndarray".
func (a *Array) Type() string { return "ndarray" }

// Freeze makes the array read-only.
func (a *Array) Freeze() { a.frozen = true }

// Truth is the truth of the single element of a one-element array, and
// otherwise whether the array is non-empty (NumPy raises an error for
// arrays of more than one element).
func (a *Array) Truth() starlark.Bool {
	if a.Size() == 1 {
		return a.elem(0).Truth()
	}
	return a.Size() > 0
}

// Hash fails: arrays are mutable.
func (a *Array) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: ndarray") }

// CompareSameType implements == and != as whole-array equality (shape and
// elements). Ordered comparisons are refused: Starlark comparisons give a
// bool, so element-wise comparisons are np.less(a, b) or a.lt(b).
func (a *Array) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	b := y.(*Array)
	switch op {
	case syntax.EQL:
		return arrayEqual(a, b), nil
	case syntax.NEQ:
		return !arrayEqual(a, b), nil
	}
	return false, fmt.Errorf("ndarray %s ndarray: use np.less, np.greater, ... (or a.lt(b), a.gt(b), ...) for element-wise comparisons", op)
}

func arrayEqual(a, b *Array) bool {
	if !equalShape(a.shape, b.shape) {
		return false
	}
	eq, err := compare(equalK, a, b)
	return err == nil && !slices.Contains(eq.b, false)
}

// Has implements x in a: whether some element equals x.
func (a *Array) Has(y starlark.Value) (bool, error) {
	b, err := asArray(y)
	if err != nil {
		return false, err
	}
	eq, err := compare(equalK, a, b)
	if err != nil {
		return false, err
	}
	return slices.Contains(eq.b, true), nil
}

// Iterate iterates over the first axis: elements of a 1-d array, rows
// (copies) otherwise.
func (a *Array) Iterate() starlark.Iterator { return &arrayIter{a: a} }

type arrayIter struct {
	a *Array
	k int
}

func (it *arrayIter) Next(p *starlark.Value) bool {
	if it.k >= it.a.Len() {
		return false
	}
	*p = it.a.Index(it.k)
	it.k++
	return true
}
func (it *arrayIter) Done() {}

// arrayAttrs are the non-method attributes.
var arrayAttrs = []string{"T", "dtype", "imag", "ndim", "real", "shape", "size"}

// methods maps an array method to its module function (called with the
// array as first argument); methodOnly lists those with their own code.
var methods = []string{
	"all", "any", "argmax", "argmin", "argsort", "astype", "clip", "copy", "cumsum",
	"dot", "eq", "fill", "flatten", "ge", "gt", "item", "le", "lt", "max", "mean", "min", "ne",
	"prod", "ravel", "reshape", "round", "sort", "std", "sum", "tolist", "transpose", "var",
}

// Attr returns an attribute or a bound method.
func (a *Array) Attr(name string) (starlark.Value, error) {
	switch name {
	case "shape":
		t := make(starlark.Tuple, len(a.shape))
		for k, d := range a.shape {
			t[k] = starlark.MakeInt(d)
		}
		return t, nil
	case "ndim":
		return starlark.MakeInt(len(a.shape)), nil
	case "size":
		return starlark.MakeInt(a.Size()), nil
	case "dtype":
		return dtypeValue(a.dtype), nil
	case "T":
		return transpose(a, nil)
	case "real":
		return partOf(a, true), nil
	case "imag":
		return partOf(a, false), nil
	}
	i := sort.SearchStrings(methods, name)
	if i == len(methods) || methods[i] != name {
		return nil, nil
	}
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return a.callMethod(thread, name, args, kwargs)
	}), nil
}

// AttrNames lists attributes and methods.
func (a *Array) AttrNames() []string {
	names := append(slices.Clone(arrayAttrs), methods...)
	sort.Strings(names)
	return names
}

// callMethod runs a.name(*args, **kwargs).
func (a *Array) callMethod(thread *starlark.Thread, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fname := name
	switch name {
	case "reshape", "transpose":
		if len(args) > 1 || (len(args) == 1 && isInt(args[0])) {
			args = starlark.Tuple{args}
		}
	case "copy", "flatten":
		fname = "copy"
		if name == "flatten" {
			fname = "ravel"
		}
	case "tolist":
		if err := starlark.UnpackPositionalArgs("tolist", args, kwargs, 0); err != nil {
			return nil, err
		}
		return a.toList(), nil
	case "item":
		if err := starlark.UnpackPositionalArgs("item", args, kwargs, 0); err != nil {
			return nil, err
		}
		if a.Size() != 1 {
			return nil, fmt.Errorf("item: can only convert an array of size 1 to a scalar")
		}
		return a.elem(0), nil
	case "fill":
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs("fill", args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		return starlark.None, a.SetKey(starlark.String("..."), v)
	case "sort":
		if a.frozen {
			return nil, fmt.Errorf("sort: cannot sort a frozen array")
		}
		r, err := callFunc(thread, "sort", append(starlark.Tuple{a}, args...), kwargs)
		if err != nil {
			return nil, err
		}
		s := r.(*Array)
		a.b, a.i, a.f, a.c, a.keep = s.b, s.i, s.f, s.c, s.keep
		return starlark.None, nil
	case "lt", "le", "gt", "ge", "eq", "ne":
		fname = map[string]string{"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal", "ne": "not_equal"}[name]
	}
	return callFunc(thread, fname, append(starlark.Tuple{a}, args...), kwargs)
}

func isInt(v starlark.Value) bool {
	_, ok := v.(starlark.Int)
	return ok
}

// partOf returns the real or imaginary part (float64).
func partOf(a *Array, re bool) *Array {
	if a.dtype != Complex128 {
		if re {
			return a.copyArray()
		}
		return newArray(Float64, cloneShape(a.shape))
	}
	out := make([]float64, len(a.c))
	for k, c := range a.c {
		if re {
			out[k] = real(c)
		} else {
			out[k] = imag(c)
		}
	}
	return NewFloat64(cloneShape(a.shape), out)
}
