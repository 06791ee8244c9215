package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
)

// ErrorValue is a remote failure held as a value, as given by catch() and
// by results with return_exceptions=True. It is a starlark.Value of type
// "RemoteError" whose truth is False. It is immutable once made and safe
// for concurrent use.
type ErrorValue struct{ Err protocol.RemoteError }

var (
	_ starlark.Value      = (*ErrorValue)(nil)
	_ starlark.Comparable = (*ErrorValue)(nil)
	_ starlark.HasAttrs   = (*ErrorValue)(nil)
)

// String returns "[<engine>:<method>] <Name>: <Message>", without the
// bracketed label when the engine is negative or the method is empty.
func (e ErrorValue) String() string {
	s := e.Err.Name + ": " + e.Err.Message
	if e.Err.Engine >= 0 && e.Err.Method != "" {
		s = fmt.Sprintf("[%d:%s] %s", e.Err.Engine, e.Err.Method, s)
	}
	return s
}

// Type returns "RemoteError".
func (e ErrorValue) Type() string { return "RemoteError" }

// Freeze does nothing: an ErrorValue is immutable.
func (e ErrorValue) Freeze() {}

// Truth returns False, so that `if r:` skips failures.
func (e ErrorValue) Truth() starlark.Bool { return starlark.False }

// Hash reports that an ErrorValue is unhashable.
func (e ErrorValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: RemoteError") }

var errorAttrNames = []string{"engine_id", "ename", "evalue", "method", "traceback"}

// Attr returns ename, evalue, engine_id, method or traceback.
func (e ErrorValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "ename":
		return starlark.String(e.Err.Name), nil
	case "evalue":
		return starlark.String(e.Err.Message), nil
	case "engine_id":
		return starlark.MakeInt(e.Err.Engine), nil
	case "method":
		return starlark.String(e.Err.Method), nil
	case "traceback":
		return starlark.String(e.Err.Traceback), nil
	}
	return nil, nil
}

// AttrNames returns the names of the attributes.
func (e ErrorValue) AttrNames() []string { return append([]string(nil), errorAttrNames...) }

// CompareSameType reports whether two errors have equal fields.
func (e ErrorValue) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	var ye protocol.RemoteError
	switch y := y.(type) {
	case *ErrorValue:
		ye = y.Err
	case ErrorValue:
		ye = y.Err
	}
	switch op {
	case syntax.EQL:
		return e.Err == ye, nil
	case syntax.NEQ:
		return e.Err != ye, nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", e.Type(), op, e.Type())
}
