package clientlib

import (
	"errors"
	"fmt"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// errorValue turns an error into a value: a RemoteError value for a
// remote or client-side failure, a CompositeError value for several.
func errorValue(err error) starlark.Value {
	var ce *client.CompositeError
	if errors.As(err, &ce) {
		return &CompositeErrorValue{Err: ce}
	}
	var re *client.RemoteError
	if errors.As(err, &re) {
		return starlarklib.ErrorValue{Err: re.RemoteError}
	}
	msg := err.Error()
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		msg = ee.Msg
	}
	name := "Error"
	var ne *namedError
	if errors.As(err, &ne) {
		name, msg = ne.name, ne.msg
	}
	return starlarklib.ErrorValue{Err: protocolError(name, msg)}
}

// CompositeErrorValue is a CompositeError held as a value (by catch): its
// truth is False, ename is "CompositeError", parts lists the RemoteError
// of each failed task, engine order.
type CompositeErrorValue struct {
	Err *client.CompositeError
}

var _ starlark.HasAttrs = (*CompositeErrorValue)(nil)

// String returns the composite's summary.
func (e *CompositeErrorValue) String() string { return "CompositeError: " + e.Err.Error() }

// Type returns "CompositeError".
func (e *CompositeErrorValue) Type() string { return "CompositeError" }

// Freeze does nothing.
func (e *CompositeErrorValue) Freeze() {}

// Truth is False, as for RemoteError values.
func (e *CompositeErrorValue) Truth() starlark.Bool { return starlark.False }

// Hash fails: the value is unhashable.
func (e *CompositeErrorValue) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: CompositeError")
}

// Attr returns ename, evalue, parts, engine_ids, method and traceback (the
// report).
func (e *CompositeErrorValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "ename":
		return starlark.String("CompositeError"), nil
	case "evalue":
		return starlark.String(e.Err.Error()), nil
	case "traceback":
		return starlark.String(e.Err.Report()), nil
	case "method":
		return starlark.String(e.Err.Method), nil
	case "parts", "elist":
		vals := make([]starlark.Value, len(e.Err.Errors))
		for i, x := range e.Err.Errors {
			vals[i] = starlarklib.ErrorValue{Err: x.RemoteError}
		}
		return starlark.NewList(vals), nil
	case "engine_ids":
		vals := make([]starlark.Value, len(e.Err.Errors))
		for i, x := range e.Err.Errors {
			vals[i] = starlark.MakeInt(x.Engine)
		}
		return starlark.NewList(vals), nil
	}
	return nil, nil
}

// AttrNames lists the attributes.
func (e *CompositeErrorValue) AttrNames() []string {
	return []string{"elist", "engine_ids", "ename", "evalue", "method", "parts", "traceback"}
}
