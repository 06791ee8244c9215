package spectest

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// HostValues are the application-defined values that the spec files
// expect from their host (starlark-go's eval_test.go defines its own):
// hasfields(), a value with settable fields, and fibonacci, an infinite
// iterable.
func HostValues() starlark.StringDict {
	return starlark.StringDict{
		"hasfields": starlark.NewBuiltin("hasfields", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args)+len(kwargs) > 0 {
				return nil, fmt.Errorf("%s: unexpected arguments", b.Name())
			}
			return &fields{attrs: starlark.StringDict{}}, nil
		}),
		"fibonacci": fibonacci{},
	}
}

// fields is a value whose fields may be set until it is frozen; a field
// whose name starts with "no" cannot be set; list + fields is 42.
type fields struct {
	attrs  starlark.StringDict
	frozen bool
}

func (f *fields) String() string        { return "hasfields" }
func (f *fields) Type() string          { return "hasfields" }
func (f *fields) Truth() starlark.Bool  { return true }
func (f *fields) Hash() (uint32, error) { return 42, nil }

func (f *fields) Freeze() {
	if f.frozen {
		return
	}
	f.frozen = true
	for _, v := range f.attrs {
		v.Freeze()
	}
}

func (f *fields) Attr(name string) (starlark.Value, error) { return f.attrs[name], nil }

func (f *fields) AttrNames() []string {
	names := make([]string, 0, len(f.attrs))
	for k := range f.attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (f *fields) SetField(name string, v starlark.Value) error {
	if f.frozen {
		return fmt.Errorf("cannot set field on a frozen hasfields")
	}
	if strings.HasPrefix(name, "no") {
		return starlark.NoSuchAttrError(fmt.Sprintf("no .%s field", name))
	}
	f.attrs[name] = v
	return nil
}

func (f *fields) Binary(op syntax.Token, y starlark.Value, _ starlark.Side) (starlark.Value, error) {
	if _, ok := y.(*starlark.List); ok && op == syntax.PLUS {
		return starlark.MakeInt(42), nil
	}
	return nil, nil
}

// fibonacci iterates over the Fibonacci numbers without end.
type fibonacci struct{}

func (fibonacci) String() string        { return "fibonacci" }
func (fibonacci) Type() string          { return "fibonacci" }
func (fibonacci) Freeze()               {}
func (fibonacci) Truth() starlark.Bool  { return true }
func (fibonacci) Hash() (uint32, error) { return 0, fmt.Errorf("fibonacci is unhashable") }
func (fibonacci) Iterate() starlark.Iterator {
	return &fibIter{a: 0, b: 1}
}

type fibIter struct{ a, b int }

func (it *fibIter) Next(p *starlark.Value) bool {
	*p = starlark.MakeInt(it.a)
	it.a, it.b = it.b, it.a+it.b
	return true
}

func (*fibIter) Done() {}
