package client

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// Task is one request on one engine. Its fields are set at submission and
// never change; Result is valid once Done is closed. It is safe for
// concurrent use.
type Task struct {
	MsgID     string
	Engine    int
	Kind      protocol.Kind
	Label     string
	Name      string
	Submitted time.Time

	done    chan struct{}
	started atomic.Int64
	result  protocol.Result
	body    []byte
}

// NewDoneTask returns a task that is already complete, for results the
// client learns without submitting (from the hub's database).
func NewDoneTask(r protocol.Result, body []byte) *Task {
	t := &Task{MsgID: r.MsgID, Engine: r.Engine, Kind: r.Kind, Label: r.Label, done: make(chan struct{})}
	if r.Submitted != 0 {
		t.Submitted = time.Unix(0, r.Submitted)
	}
	t.finish(r, body)
	return t
}

func (t *Task) finish(r protocol.Result, body []byte) {
	t.result, t.body = r, body
	close(t.done)
}

// Started returns when the engine began the task, if it has.
func (t *Task) Started() (time.Time, bool) {
	if t.Ready() && t.result.Started != 0 {
		return time.Unix(0, t.result.Started), true
	}
	if ns := t.started.Load(); ns != 0 {
		return time.Unix(0, ns), true
	}
	return time.Time{}, false
}

// Done is closed when the result has arrived.
func (t *Task) Done() <-chan struct{} { return t.done }

// Ready reports whether the result has arrived.
func (t *Task) Ready() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// Result returns the result header and the encoded value. Call it after
// Done is closed.
func (t *Task) Result() (protocol.Result, []byte) { return t.result, t.body }

// Err returns the task's error as a *RemoteError, or nil.
func (t *Task) Err() error {
	if t.result.Error == nil {
		return nil
	}
	return &RemoteError{RemoteError: *t.result.Error}
}

// Wait waits for the result.
func (t *Task) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoteError is a task's failure on an engine (or the hub's report of
// one), printed in ipyparallel's format.
type RemoteError struct {
	protocol.RemoteError
}

// Error returns "[engine:method] Name: message".
func (e *RemoteError) Error() string {
	if e.Method == "" || e.Engine < 0 {
		return e.Name + ": " + e.Message
	}
	return fmt.Sprintf("[%d:%s] %s: %s", e.Engine, e.Method, e.Name, e.Message)
}

// Report returns the header line followed by the engine's traceback.
func (e *RemoteError) Report() string {
	if e.Traceback == "" {
		return e.Error()
	}
	return e.Error() + "\n" + strings.TrimRight(e.Traceback, "\n")
}

// CompositeError combines the failures of several tasks.
type CompositeError struct {
	Errors []*RemoteError
}

// MaxShown is how many tracebacks a CompositeError report shows.
const MaxShown = 4

// Error summarises the parts.
func (e *CompositeError) Error() string {
	if len(e.Errors) == 1 {
		return e.Errors[0].Error()
	}
	return fmt.Sprintf("one or more exceptions raised in parallel (%d)", len(e.Errors))
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
// MaxShown tracebacks, each headed "[eid:method]:", then a count of the
// rest.
func (e *CompositeError) Report() string {
	var b strings.Builder
	b.WriteString("one or more exceptions from call to method: ")
	if len(e.Errors) > 0 {
		b.WriteString(e.Errors[0].Method)
	}
	for i, x := range e.Errors {
		if i == MaxShown {
			fmt.Fprintf(&b, "\n... %d more exceptions ...", len(e.Errors)-MaxShown)
			break
		}
		fmt.Fprintf(&b, "\n[%d:%s]: %s: %s", x.Engine, x.Method, x.Name, x.Message)
		if x.Traceback != "" {
			b.WriteString("\n" + strings.TrimRight(x.Traceback, "\n"))
		}
	}
	return b.String()
}
