package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pxsh/pxsh/protocol"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrTimeout is returned by waits that ran out of time ("Result not
	// ready.").
	ErrTimeout = errors.New("TimeoutError: Result not ready.")
	// ErrNoEngines is returned by calls on a view with no engines.
	ErrNoEngines = errors.New("NoEnginesRegistered: This operation requires engines. Try client.wait_for_engines(n) to wait for engines to register.")
)

// RemoteError is a task's failure on an engine (or the hub's report of
// one, such as EngineError), printed in ipyparallel's format.
type RemoteError struct {
	protocol.RemoteError
}

// Error returns "[engine:method] Name: message", or "Name: message" when
// no engine is known.
func (e *RemoteError) Error() string {
	if e.Method == "" || e.Engine < 0 {
		return e.Name + ": " + e.Message
	}
	return fmt.Sprintf("[%d:%s] %s: %s", e.Engine, e.Method, e.Name, e.Message)
}

// Is makes errors.Is(err, ErrTaskAborted) and friends work by name.
func (e *RemoteError) Is(target error) bool {
	n, ok := target.(nameError)
	return ok && string(n) == e.Name
}

// nameError matches RemoteErrors by class name.
type nameError string

func (n nameError) Error() string { return string(n) }

// Error classes a RemoteError can be matched against with errors.Is.
var (
	ErrEngineError   error = nameError("EngineError")
	ErrTaskAborted   error = nameError("TaskAborted")
	ErrTaskCancelled error = nameError("TaskCancelled")
	ErrTaskTimeout   error = nameError("TaskTimeout")
)

// TracebackText returns the engine's traceback with its last line naming the
// error class ("ZeroDivisionError: ..." rather than Starlark's "Error:
// ..."), or "Name: message" when there is none.
func (e *RemoteError) TracebackText() string {
	tb := strings.TrimRight(e.Traceback, "\n")
	last := e.Name + ": " + e.Message
	if tb == "" {
		return last
	}
	lines := strings.Split(tb, "\n")
	if l := lines[len(lines)-1]; strings.HasPrefix(l, "Error") && strings.Contains(l, ": ") {
		lines[len(lines)-1] = last
	} else {
		lines = append(lines, last)
	}
	return strings.Join(lines, "\n")
}

// Report returns the header line followed by the engine's traceback.
func (e *RemoteError) Report() string {
	if e.Traceback == "" {
		return e.Error()
	}
	return e.Error() + "\n" + e.TracebackText()
}

// CompositeError combines the failures of several tasks of one call.
type CompositeError struct {
	Errors []*RemoteError
	// Method is the call's kind (apply, execute, ...), for the summary.
	Method string
}

// MaxShown is how many tracebacks a CompositeError report shows.
const MaxShown = 4

// Error summarises the parts: a first line and one line per part (at most
// MaxShown, then a count of the rest).
func (e *CompositeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "one or more exceptions from call to method: %s", e.method())
	for i, x := range e.Errors {
		if i == MaxShown {
			fmt.Fprintf(&b, "\n... %d more exceptions ...", len(e.Errors)-MaxShown)
			break
		}
		b.WriteString("\n" + x.Error())
	}
	return b.String()
}

func (e *CompositeError) method() string {
	if e.Method != "" {
		return e.Method
	}
	if len(e.Errors) > 0 {
		return e.Errors[0].Method
	}
	return ""
}

// Unwrap returns the parts.
func (e *CompositeError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, x := range e.Errors {
		out[i] = x
	}
	return out
}

// Report renders the composite in ipyparallel's format: the first
// MaxShown tracebacks, each headed "[eid:method]:" and followed by a blank
// line, then "... N more exceptions ..." when there are more.
func (e *CompositeError) Report() string {
	var b strings.Builder
	for i, x := range e.Errors {
		if i == MaxShown {
			fmt.Fprintf(&b, "... %d more exceptions ...\n", len(e.Errors)-MaxShown)
			break
		}
		if x.Engine >= 0 && x.Method != "" {
			fmt.Fprintf(&b, "[%d:%s]:\n", x.Engine, x.Method)
		} else {
			b.WriteString("[Engine Exception]:\n")
		}
		b.WriteString(x.TracebackText() + "\n\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
