package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Reference is an expression to be evaluated in the receiver's namespace
// when a value holding it arrives, like ipyparallel's Reference. It is a
// starlark.Value of type "Reference", immutable and safe for concurrent
// use.
type Reference struct{ Expr string }

var (
	_ starlark.Value      = (*Reference)(nil)
	_ starlark.Comparable = (*Reference)(nil)
	_ starlark.HasAttrs   = (*Reference)(nil)
)

// String returns "<Reference: expr>".
func (r Reference) String() string { return "<Reference: " + r.Expr + ">" }

// Type returns "Reference".
func (r Reference) Type() string { return "Reference" }

// Freeze does nothing: a Reference is immutable.
func (r Reference) Freeze() {}

// Truth returns True.
func (r Reference) Truth() starlark.Bool { return starlark.True }

// Hash hashes the expression.
func (r Reference) Hash() (uint32, error) { return starlark.String(r.Expr).Hash() }

// Attr returns the attribute "expr".
func (r Reference) Attr(name string) (starlark.Value, error) {
	if name == "expr" {
		return starlark.String(r.Expr), nil
	}
	return nil, nil
}

// AttrNames returns the names of the attributes.
func (r Reference) AttrNames() []string { return []string{"expr"} }

// CompareSameType compares the expressions of two references.
func (r Reference) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	var ye string
	switch y := y.(type) {
	case *Reference:
		ye = y.Expr
	case Reference:
		ye = y.Expr
	}
	switch op {
	case syntax.EQL:
		return r.Expr == ye, nil
	case syntax.NEQ:
		return r.Expr != ye, nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", r.Type(), op, r.Type())
}

// ReferenceBuiltin returns the builtin Reference(expr), which checks that
// expr parses as an expression and makes a *Reference.
func ReferenceBuiltin() *starlark.Builtin {
	return starlark.NewBuiltin("Reference", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var expr string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &expr); err != nil {
			return nil, err
		}
		if _, err := syntax.ParseExpr("<Reference>", expr, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return &Reference{Expr: expr}, nil
	})
}
