package clientlib

import (
	"fmt"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// Executor is rc.executor(targets=None): a concurrent.futures-style
// executor over a load-balanced view. submit returns an AsyncResult, which
// has the future methods result, done, exception and cancel. It is meant
// for one Starlark thread at a time.
type Executor struct {
	view    *LoadBalancedView
	tasks   []*client.Task // submitted, for shutdown(wait=True)
	pruneAt int            // prune finished tasks when tasks grows past this
}

var _ starlark.HasAttrs = (*Executor)(nil)

func clientExecutor(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets); err != nil {
		return nil, err
	}
	v, err := rc.newLBView(targets)
	if err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	return &Executor{view: v}, nil
}

// String returns "<Executor <LoadBalancedView None>>".
func (e *Executor) String() string { return "<Executor " + e.view.String() + ">" }

// Type returns "Executor".
func (e *Executor) Type() string { return "Executor" }

// Freeze does nothing.
func (e *Executor) Freeze() {}

// Truth is True.
func (e *Executor) Truth() starlark.Bool { return true }

// Hash fails: an executor is unhashable.
func (e *Executor) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: Executor") }

// Attr serves submit, map, shutdown and view.
func (e *Executor) Attr(name string) (starlark.Value, error) {
	switch name {
	case "view":
		return e.view, nil
	case "submit":
		return method(e, name, execSubmit), nil
	case "map":
		return method(e, name, execMap), nil
	case "shutdown":
		return method(e, name, execShutdown), nil
	}
	return nil, nil
}

// AttrNames lists the attributes.
func (e *Executor) AttrNames() []string { return []string{"map", "shutdown", "submit", "view"} }

// keep records submitted tasks. Finished ones are dropped when the list
// has doubled since the last pruning, so submitting N tasks costs O(N).
func (e *Executor) keep(tasks []*client.Task) {
	e.tasks = append(e.tasks, tasks...)
	if len(e.tasks) <= e.pruneAt {
		return
	}
	live := e.tasks[:0]
	for _, t := range e.tasks {
		if !t.Ready() {
			live = append(live, t)
		}
	}
	clear(e.tasks[len(live):])
	e.tasks = live
	e.pruneAt = max(2*len(live), 64)
}

// execSubmit implements ex.submit(f, *args, **kwargs): a future (an
// AsyncResult) of f(*args, **kwargs) on some engine.
func execSubmit(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	e := b.Receiver().(*Executor)
	if len(args) == 0 {
		return nil, fmt.Errorf("submit: missing function argument")
	}
	body, err := starlarklib.EncodeCall(args[0], args[1:], kwargs, e.view.rc.env.NS.EncodeOptions())
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	ar, err := e.view.submit(e.view.flags, funcName(args[0]), [][]byte{body}, true)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	e.keep(ar.res.Tasks)
	return ar, nil
}

// execMap implements ex.map(f, *seqs): an AsyncMapResult (iterable, in
// order) with one task per element.
func execMap(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	e := b.Receiver().(*Executor)
	// timeout= of concurrent.futures bounds the iteration; here it is
	// the flag of the tasks.
	kw := append([]starlark.Tuple{{starlark.String("block"), starlark.False}}, kwargs...)
	v, err := lbMap(false, false)(thread, starlark.NewBuiltin("map", nil).BindReceiver(e.view), args, kw)
	if err != nil {
		return nil, err
	}
	if ar, ok := v.(*AsyncResult); ok {
		e.keep(ar.res.Tasks)
	}
	return v, nil
}

// execShutdown implements ex.shutdown(wait=True): waits for the
// executor's tasks.
func execShutdown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	e := b.Receiver().(*Executor)
	wait := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "wait?", &wait); err != nil {
		return nil, err
	}
	if wait {
		ar := e.view.rc.wrap(&client.AsyncResult{Tasks: e.tasks})
		if _, err := ar.wait(-1); err != nil {
			return nil, err
		}
	}
	return starlark.None, nil
}

// futureMethods are the concurrent.futures.Future methods every
// AsyncResult has.
var futureMethods = map[string]builtinFunc{
	"result":    futResult,
	"done":      arReady,
	"exception": futException,
	"cancel":    futCancel,
	"cancelled": futCancelled,
}

// futResult implements fut.result(timeout=None): get(timeout).
func futResult(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	d, err := timeoutOnly(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return ar.value(thread, d, false)
}

// futException implements fut.exception(timeout=None): the error as a
// value, or None.
func futException(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar, err := readyAR(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if err := ar.Err(); err != nil {
		return errorValue(err), nil
	}
	return starlark.None, nil
}

// futCancel implements fut.cancel(): aborts unfinished tasks; False when
// the result was already done.
func futCancel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if ar.ready() {
		return starlark.False, nil
	}
	if err := ar.Abort(); err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	return starlark.True, nil
}

// futCancelled implements fut.cancelled(): whether the result finished
// aborted.
func futCancelled(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if !ar.ready() || len(ar.res.Tasks) == 0 {
		return starlark.False, nil
	}
	for _, t := range ar.res.Tasks {
		r, _ := t.Result()
		if r.Status != protocol.StatusAborted && (r.Error == nil || r.Error.Name != "TaskAborted") {
			return starlark.False, nil
		}
	}
	return starlark.True, nil
}
