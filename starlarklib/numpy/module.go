package numpy

import (
	"fmt"
	"math"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// impl is the Go code of a module function.
type impl func(thread *starlark.Thread, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

var (
	funcsOnce sync.Once
	funcs     map[string]impl // the stateless functions of np, by name
)

// table returns the stateless functions of np, by name, built on first
// use from the files' tables.
func table() map[string]impl {
	funcsOnce.Do(func() {
		funcs = map[string]impl{}
		for _, t := range []map[string]impl{creationFuncs(), shapeFuncs(), reductionFuncs(),
			elementwiseFuncs(), sortingFuncs(), productFuncs(), extraFuncs()} {
			for k, v := range t {
				if _, dup := funcs[k]; dup {
					panic("numpy: duplicate function " + k) // a programming error
				}
				funcs[k] = v
			}
		}
	})
	return funcs
}

// callFunc calls the module function name.
func callFunc(thread *starlark.Thread, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, ok := table()[name]
	if !ok {
		return nil, fmt.Errorf("numpy: no function %s", name)
	}
	return f(thread, name, args, kwargs)
}

func builtin(name string, f impl) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return f(thread, name, args, kwargs)
	})
}

// New returns a new np module. Each module has its own random generator
// (np.random), seeded from the operating system until np.random.seed is
// called, so that two engines draw different numbers unless seeded.
func New() *starlarkstruct.Module {
	members := starlark.StringDict{
		"pi":         starlark.Float(math.Pi),
		"e":          starlark.Float(math.E),
		"inf":        starlark.Float(math.Inf(1)),
		"nan":        starlark.Float(math.NaN()),
		"newaxis":    starlark.None,
		"bool_":      dtypeValue(Bool),
		"int64":      dtypeValue(Int64),
		"float64":    dtypeValue(Float64),
		"complex128": dtypeValue(Complex128),
		"ndarray":    builtin("ndarray", notConstructible),
		"random":     newRandomModule(),
		"linalg":     linalgModule(),
		"fft":        fftModule(),
	}
	for k, f := range table() {
		if _, special := members[k]; !special {
			members[k] = builtin(k, f)
		}
	}
	return &starlarkstruct.Module{Name: "numpy", Members: members}
}

func notConstructible(*starlark.Thread, string, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return nil, fmt.Errorf("ndarray: use np.array, np.zeros, ... to make arrays")
}

// subModule builds a module from a table of functions.
func subModule(name string, table map[string]impl) *starlarkstruct.Module {
	m := make(starlark.StringDict, len(table))
	for k, f := range table {
		m[k] = builtin(k, f)
	}
	return &starlarkstruct.Module{Name: name, Members: m}
}

// arrayArg converts argument what of fn to an array.
func arrayArg(fn string, v starlark.Value) (*Array, error) {
	a, err := asArray(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return a, nil
}

// optDType parses an optional dtype argument (nil or None: ok=false).
func optDType(fn string, v starlark.Value) (DType, bool, error) {
	if v == nil || v == starlark.None {
		return 0, false, nil
	}
	dt, err := parseDType(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", fn, err)
	}
	return dt, true, nil
}

// scalarOrArray returns the single element of a 0-d array as a scalar.
func scalarOrArray(a *Array) starlark.Value {
	if len(a.shape) == 0 {
		return a.elem(0)
	}
	return a
}

// normAxis checks an axis against ndim, allowing negative axes.
func normAxis(fn string, axis, ndim int) (int, error) {
	if axis < -ndim || axis >= ndim {
		return 0, fmt.Errorf("%s: axis %d is out of bounds for array of dimension %d", fn, axis, ndim)
	}
	if axis < 0 {
		axis += ndim
	}
	return axis, nil
}

// optAxis parses an optional axis argument (None: -1 and ok=false).
func optAxis(fn string, v starlark.Value, ndim int) (int, bool, error) {
	if v == nil || v == starlark.None {
		return 0, false, nil
	}
	i, err := starlark.AsInt32(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s: axis: %w", fn, err)
	}
	ax, err := normAxis(fn, i, ndim)
	return ax, true, err
}
