package clientlib

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// AsyncResult is the Starlark value of a call's pending results.
type AsyncResult struct {
	rc     *Client
	tasks  []*client.Task
	single bool
	name   string // function name or kind, for the repr
	kind   protocol.Kind
}

var _ starlark.HasAttrs = (*AsyncResult)(nil)

// submit sends one request per target and records the tasks.
func (rc *Client) submit(req protocol.Request, body []byte, targets []int, single bool) (*AsyncResult, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("no engines registered")
	}
	ar := &AsyncResult{rc: rc, single: single, kind: req.Kind, name: req.Name}
	if ar.name == "" {
		ar.name = string(req.Kind)
	}
	for _, id := range targets {
		r := req
		r.MsgID, r.Engine = "", id
		t, err := rc.c.Submit(r, body)
		if err != nil {
			return nil, err
		}
		ar.tasks = append(ar.tasks, t)
	}
	rc.h.record(ar.tasks)
	return ar, nil
}

// Tasks returns the result's tasks.
func (ar *AsyncResult) Tasks() []*client.Task { return ar.tasks }

func (ar *AsyncResult) String() string {
	state := "pending"
	if ar.ready() {
		state = "finished"
	}
	return fmt.Sprintf("<AsyncResult(%s): %s>", ar.name, state)
}
func (ar *AsyncResult) Type() string          { return "AsyncResult" }
func (ar *AsyncResult) Freeze()               {}
func (ar *AsyncResult) Truth() starlark.Bool  { return true }
func (ar *AsyncResult) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: AsyncResult") }

func (ar *AsyncResult) ready() bool {
	for _, t := range ar.tasks {
		if !t.Ready() {
			return false
		}
	}
	return true
}

// wait waits for every task, up to d (d < 0: no limit). It returns false
// when time ran out.
func (ar *AsyncResult) wait(d float64) (bool, error) {
	ctx := ar.rc.env.ctx()
	if d >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, secondsDuration(d))
		defer cancel()
	}
	for _, t := range ar.tasks {
		if err := t.Wait(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return false, nil
			}
			return false, fmt.Errorf("interrupted: %w", err)
		}
	}
	return true, nil
}

// value waits (up to d seconds; d < 0: no limit) and returns the decoded
// value: one value for a single-engine call, else a list in target order.
// A failure is returned as an error.
func (ar *AsyncResult) value(thread *starlark.Thread, d float64) (starlark.Value, error) {
	ok, err := ar.wait(d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotReady
	}
	vals, err := ar.values(thread, false)
	if err != nil {
		return nil, err
	}
	if ar.single && len(vals) == 1 {
		return vals[0], nil
	}
	return starlark.NewList(vals), nil
}

// values decodes every finished task's value; with exceptions, failures
// become RemoteError values instead of an error.
func (ar *AsyncResult) values(thread *starlark.Thread, exceptions bool) ([]starlark.Value, error) {
	if thread == nil {
		thread = &starlark.Thread{Name: "decode"}
	}
	out := make([]starlark.Value, len(ar.tasks))
	var errs []*client.RemoteError
	for i, t := range ar.tasks {
		r, body := t.Result()
		if r.Error != nil {
			if exceptions {
				out[i] = starlarklib.ErrorValue{Err: *r.Error}
			} else {
				errs = append(errs, &client.RemoteError{RemoteError: *r.Error})
			}
			continue
		}
		if !r.HasValue || len(body) == 0 {
			out[i] = starlark.None
			continue
		}
		v, err := starlarklib.Decode(body, ar.rc.env.NS.DecodeOptions(thread))
		if err != nil {
			return nil, fmt.Errorf("result of %s: %w", t.MsgID, err)
		}
		out[i] = v
	}
	switch {
	case len(errs) == 1 && len(ar.tasks) == 1:
		return nil, errs[0]
	case len(errs) > 0:
		return nil, &client.CompositeError{Errors: errs}
	}
	return out, nil
}

// Attr serves the AsyncResult API.
func (ar *AsyncResult) Attr(name string) (starlark.Value, error) {
	if m, ok := asyncMethods[name]; ok {
		return method(ar, name, m), nil
	}
	return ar.extraAttr(name)
}

// AttrNames lists the AsyncResult API.
func (ar *AsyncResult) AttrNames() []string {
	var names []string
	for n := range asyncMethods {
		names = append(names, n)
	}
	names = append(names, asyncExtraAttrs...)
	sort.Strings(names)
	return names
}

var asyncMethods = map[string]builtinFunc{
	"get":        arGet,
	"ready":      arReady,
	"wait":       arWait,
	"successful": arSuccessful,
}

func recvAR(b *starlark.Builtin) *AsyncResult { return b.Receiver().(*AsyncResult) }

func timeoutArg(v starlark.Value) (float64, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return -1, nil
	case starlark.Int:
		n, _ := x.Int64()
		return float64(n), nil
	case starlark.Float:
		return float64(x), nil
	}
	return 0, fmt.Errorf("timeout must be a number or None, not %s", v.Type())
}

func arGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	var timeout starlark.Value = starlark.None
	var exceptions bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &timeout, "return_exceptions?", &exceptions); err != nil {
		return nil, err
	}
	d, err := timeoutArg(timeout)
	if err != nil {
		return nil, err
	}
	if !exceptions {
		return ar.value(thread, d)
	}
	ok, err := ar.wait(d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotReady
	}
	vals, err := ar.values(thread, true)
	if err != nil {
		return nil, err
	}
	if ar.single && len(vals) == 1 {
		return vals[0], nil
	}
	return starlark.NewList(vals), nil
}

func arReady(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.Bool(recvAR(b).ready()), nil
}

func arWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	d, err := timeoutArg(timeout)
	if err != nil {
		return nil, err
	}
	ok, err := recvAR(b).wait(d)
	return starlark.Bool(ok), err
}

func arSuccessful(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	if !ar.ready() {
		return nil, fmt.Errorf("successful: AssertionError: the result is not ready")
	}
	for _, t := range ar.tasks {
		if r, _ := t.Result(); r.Error != nil {
			return starlark.False, nil
		}
	}
	return starlark.True, nil
}
