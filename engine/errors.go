package engine

import (
	"context"
	"errors"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
)

// CancelError is the cause of a task context's cancellation that names
// the error reported for the task: Name is "TaskAborted", "TaskTimeout" or
// similar. Without a CancelError cause, a cancelled task fails with
// "TaskCancelled".
type CancelError struct {
	Name    string
	Message string
}

func (e *CancelError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// cancelError returns the RemoteError of a task stopped because ctx is
// done.
func cancelError(ctx context.Context) protocol.RemoteError {
	var ce *CancelError
	if errors.As(context.Cause(ctx), &ce) {
		msg := ce.Message
		if msg == "" {
			msg = "task cancelled"
		}
		return protocol.RemoteError{Name: ce.Name, Message: msg}
	}
	msg := "task cancelled"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg = "task deadline exceeded"
	}
	return protocol.RemoteError{Name: "TaskCancelled", Message: msg}
}

// classify turns an error of running Starlark code into the
// ipyparallel-like error class, message and traceback of a RemoteError.
func classify(err error) protocol.RemoteError {
	err = starlarklib.FixError(err)
	msg := err.Error()
	var re protocol.RemoteError
	var se syntax.Error
	var rl resolve.ErrorList
	var ee *starlark.EvalError
	switch {
	case errors.As(err, &se), errors.As(err, &rl):
		return protocol.RemoteError{Name: "SyntaxError", Message: msg}
	case errors.As(err, &ee):
		re.Traceback = ee.Backtrace()
	}
	re.Name = classifyMessage(msg)
	if errors.Is(err, starlarklib.ErrUnsendable) {
		re.Name = "TypeError"
	}
	var named interface{ ErrorName() string }
	if errors.As(err, &named) {
		re.Name = named.ErrorName()
	}
	msg = strings.TrimPrefix(msg, "fail: ")
	re.Message = msg
	return re
}

// classifyMessage names the error class of a Starlark error message.
func classifyMessage(msg string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(msg, "fail: "):
		return "Error"
	case has("division by zero", "modulo by zero"):
		return "ZeroDivisionError"
	case has("is not defined", "undefined: "):
		return "NameError"
	case has("not in dict", "missing key"):
		return "KeyError"
	case has("index") && has("out of range"):
		return "IndexError"
	case has("unsupported", "unknown binary op", "unknown unary op", "not callable", "unhashable", "not iterable", "missing argument",
		"unexpected keyword", "too many arguments", "got multiple values", "does not accept"),
		has("got ") && has(", want "):
		return "TypeError"
	case has("invalid literal", "not found", "invalid", "out of range", "empty", "deeper than the limit", "nested more than", "over the limit"):
		return "ValueError"
	}
	return "Error"
}
