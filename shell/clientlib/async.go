package clientlib

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"github.com/pxsh/pxsh/starlarklib/numpy"
	"go.starlark.net/starlark"
)

// combineMode says how the values of an AsyncResult's tasks make its
// result.
type combineMode uint8

const (
	// combineEach: one value per task, a scalar for a single-engine call.
	combineEach combineMode = iota
	// combineChunks: each task returns a list (a map chunk); the result
	// is their concatenation.
	combineChunks
	// combineGather: lists and tuples are concatenated, other values
	// appended (gather).
	combineGather
	// combineNone: the blocking result is None (scatter).
	combineNone
)

// AsyncResult is the Starlark value of a call's pending results (also
// AsyncMapResult, for map). Its methods may be called from several
// goroutines; the Starlark values it returns belong to the caller's
// thread.
type AsyncResult struct {
	rc     *Client
	tasks  []*client.Task
	single bool
	name   string // function name or kind, for the repr
	kind   protocol.Kind
	mode   combineMode
	// chunks holds the number of elements each task of a map handles.
	chunks []int
	// exceptions is the default of get(return_exceptions=).
	exceptions bool
	// unordered makes iteration yield results in completion order
	// (load-balanced map(ordered=False)).
	unordered bool
	// hub marks results fetched from the hub's database (AsyncHubResult).
	hub bool

	mu   sync.Mutex
	vals []starlark.Value // decoded task values, cached
}

var (
	_ starlark.HasAttrs = (*AsyncResult)(nil)
	_ starlark.Mapping  = (*AsyncResult)(nil)
	_ starlark.Sequence = (*AsyncResult)(nil)
)

// submit sends one request per target (the body once: Client.SubmitFan)
// and records the tasks.
func (rc *Client) submit(req protocol.Request, body []byte, targets []int, single bool) (*AsyncResult, error) {
	if len(targets) == 0 {
		return nil, errNoEngines
	}
	ar := rc.newResult(req, single)
	tasks, err := rc.c.SubmitFan(req, targets, body)
	if err != nil {
		return nil, err
	}
	ar.tasks = tasks
	rc.h.record(ar.tasks)
	return ar, nil
}

// submitEach sends one request per target, each with its own body.
func (rc *Client) submitEach(req protocol.Request, bodies [][]byte, targets []int, single bool) (*AsyncResult, error) {
	ar := rc.newResult(req, single)
	for i, id := range targets {
		r := req
		r.MsgID, r.Engine = "", id
		t, err := rc.c.Submit(r, bodies[i])
		if err != nil {
			rc.h.record(ar.tasks)
			return nil, err
		}
		ar.tasks = append(ar.tasks, t)
	}
	rc.h.record(ar.tasks)
	return ar, nil
}

func (rc *Client) newResult(req protocol.Request, single bool) *AsyncResult {
	ar := &AsyncResult{rc: rc, single: single, kind: req.Kind, name: req.Name}
	if ar.name == "" {
		ar.name = string(req.Kind)
	}
	return ar
}

// NewAsyncResult wraps tasks of this client as an AsyncResult (for
// results of other views and of rc.get_result). name is shown in the repr.
func (rc *Client) NewAsyncResult(name string, tasks []*client.Task, single bool) *AsyncResult {
	ar := &AsyncResult{rc: rc, tasks: tasks, single: single, name: name}
	if len(tasks) > 0 {
		ar.kind = tasks[0].Kind
	}
	return ar
}

// Tasks returns the result's tasks.
func (ar *AsyncResult) Tasks() []*client.Task { return ar.tasks }

// Name returns the function name or kind shown in the repr.
func (ar *AsyncResult) Name() string { return ar.name }

// String returns "<AsyncResult(f): pending>" or finished or failed.
func (ar *AsyncResult) String() string {
	state := "pending"
	if ar.ready() {
		state = "finished"
		if ar.failed() {
			state = "failed"
		}
	}
	kind := "AsyncResult"
	if ar.mode == combineChunks || ar.mode == combineGather {
		kind = "AsyncMapResult"
	}
	if ar.hub {
		kind = "AsyncHubResult"
	}
	return fmt.Sprintf("<%s(%s): %s>", kind, ar.name, state)
}

// Type returns "AsyncResult" (also for map results).
func (ar *AsyncResult) Type() string { return "AsyncResult" }

// Freeze does nothing.
func (ar *AsyncResult) Freeze() {}

// Truth is True.
func (ar *AsyncResult) Truth() starlark.Bool { return true }

// Hash fails: an AsyncResult is unhashable.
func (ar *AsyncResult) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: AsyncResult") }

// Len is the number of results: elements for a map, tasks otherwise.
func (ar *AsyncResult) Len() int {
	if ar.mode == combineChunks {
		n := 0
		for _, c := range ar.chunks {
			n += c
		}
		return n
	}
	return len(ar.tasks)
}

// Ready reports whether every task has finished.
func (ar *AsyncResult) Ready() bool { return ar.ready() }

func (ar *AsyncResult) ready() bool {
	for _, t := range ar.tasks {
		if !t.Ready() {
			return false
		}
	}
	return true
}

func (ar *AsyncResult) failed() bool {
	for _, t := range ar.tasks {
		if t.Ready() {
			if r, _ := t.Result(); r.Error != nil {
				return true
			}
		}
	}
	return false
}

// Wait waits for every task until ctx is done; it returns false when ctx
// ran out first.
func (ar *AsyncResult) Wait(ctx context.Context) bool {
	for _, t := range ar.tasks {
		if t.Wait(ctx) != nil {
			return false
		}
	}
	return true
}

// wait waits for every task, up to d seconds (d < 0: no limit). It
// returns false when time ran out, and an error when the host's context
// was cancelled (Ctrl-C).
func (ar *AsyncResult) wait(d float64) (bool, error) {
	ctx := ar.rc.env.ctx()
	if ar.ready() {
		return true, nil
	}
	var tctx context.Context = ctx
	if d >= 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, secondsDuration(d))
		defer cancel()
	}
	for _, t := range ar.tasks {
		if err := t.Wait(tctx); err != nil {
			if ctx.Err() != nil {
				return false, fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return false, nil
		}
	}
	return true, nil
}

// Err returns the failure of a finished result: nil, a
// *client.RemoteError (single-engine result or one task) or a
// *client.CompositeError.
func (ar *AsyncResult) Err() error {
	var errs []*client.RemoteError
	for _, t := range ar.tasks {
		if !t.Ready() {
			continue
		}
		if r, _ := t.Result(); r.Error != nil {
			errs = append(errs, &client.RemoteError{RemoteError: *r.Error})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 && (ar.single || len(ar.tasks) == 1) {
		return errs[0]
	}
	return &client.CompositeError{Errors: errs, Method: string(ar.kind)}
}

// taskValue decodes (once) the value of finished task i; a failure is
// returned as rerr.
func (ar *AsyncResult) taskValue(thread *starlark.Thread, i int) (v starlark.Value, rerr *protocol.RemoteError, err error) {
	t := ar.tasks[i]
	r, body := t.Result()
	if r.Error != nil {
		return nil, r.Error, nil
	}
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if ar.vals == nil {
		ar.vals = make([]starlark.Value, len(ar.tasks))
	}
	if v := ar.vals[i]; v != nil {
		return v, nil, nil
	}
	v = starlark.None
	if r.HasValue && len(body) > 0 {
		if thread == nil {
			thread = &starlark.Thread{Name: "decode"}
		}
		o := ar.rc.env.NS.DecodeOptions(thread)
		o.Reference = nil
		v, err = starlarklib.Decode(body, o)
		if err != nil {
			return nil, nil, fmt.Errorf("result of %s: %w", t.MsgID, err)
		}
	}
	ar.vals[i] = v
	return v, nil, nil
}

// value waits (up to d seconds; d < 0: no limit) and returns the result.
// With exceptions, failures are RemoteError values in place of results;
// otherwise a failure is returned as the error.
func (ar *AsyncResult) value(thread *starlark.Thread, d float64, exceptions bool) (starlark.Value, error) {
	if err := ar.waitReady(d); err != nil {
		return nil, err
	}
	if d < 0 && ar.rc != nil && ar.rc.env.Blocked != nil {
		ar.rc.env.Blocked(ar)
	}
	vals, err := ar.results(thread, exceptions)
	if err != nil {
		return nil, err
	}
	switch ar.mode {
	case combineNone:
		return starlark.None, nil
	case combineGather:
		if a := joinArrays(vals); a != nil {
			return a, nil
		}
	case combineEach:
		if ar.single && len(vals) == 1 {
			return vals[0], nil
		}
	}
	return starlark.NewList(vals), nil
}

// results returns the flat list of results of a finished AsyncResult.
func (ar *AsyncResult) results(thread *starlark.Thread, exceptions bool) ([]starlark.Value, error) {
	if !exceptions {
		if err := ar.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]starlark.Value, 0, ar.Len())
	for i := range ar.tasks {
		v, rerr, err := ar.taskValue(thread, i)
		if err != nil {
			return nil, err
		}
		if rerr != nil {
			ev := starlarklib.ErrorValue{Err: *rerr}
			n := 1
			if ar.mode == combineChunks {
				n = ar.chunks[i]
			}
			for range n {
				out = append(out, ev)
			}
			continue
		}
		switch ar.mode {
		case combineChunks:
			l, ok := v.(*starlark.List)
			if !ok {
				return nil, fmt.Errorf("map: engine %d returned %s, want a list", ar.tasks[i].Engine, v.Type())
			}
			for j := range l.Len() {
				out = append(out, l.Index(j))
			}
		case combineGather:
			switch x := v.(type) {
			case *starlark.List:
				for j := range x.Len() {
					out = append(out, x.Index(j))
				}
			case starlark.Tuple:
				out = append(out, x...)
			default:
				out = append(out, v)
			}
		default:
			out = append(out, v)
		}
	}
	return out, nil
}

// Index returns result i, waiting for it (AsyncResult indexing, ar[i]).
func (ar *AsyncResult) Index(i int) starlark.Value {
	vals, err := ar.results(nil, true)
	if err != nil || i >= len(vals) {
		return starlarklib.ErrorValue{Err: protocolError("Error", fmt.Sprint(err))}
	}
	return vals[i]
}

// Iterate yields the results in order, waiting for each task as it is
// reached. Starlark iteration cannot raise, so a failed task yields
// RemoteError values (whose truth is False) in its place.
func (ar *AsyncResult) Iterate() starlark.Iterator {
	if ar.unordered {
		return &unorderedIter{ar: ar}
	}
	return &resultIter{ar: ar}
}

type resultIter struct {
	ar   *AsyncResult
	task int
	buf  []starlark.Value
}

func (it *resultIter) Next(p *starlark.Value) bool {
	for len(it.buf) == 0 {
		if it.task >= len(it.ar.tasks) {
			return false
		}
		t := it.ar.tasks[it.task]
		if t.Wait(it.ar.rc.env.ctx()) != nil {
			return false
		}
		sub := &AsyncResult{rc: it.ar.rc, tasks: []*client.Task{t}, mode: it.ar.mode, kind: it.ar.kind}
		if it.ar.mode == combineChunks {
			sub.chunks = it.ar.chunks[it.task : it.task+1]
		}
		// Share the cache: decode through the parent.
		v, rerr, err := it.ar.taskValue(nil, it.task)
		it.task++
		switch {
		case err != nil:
			it.buf = []starlark.Value{starlarklib.ErrorValue{Err: protocolError("Error", err.Error())}}
		case rerr != nil:
			n := 1
			if sub.mode == combineChunks {
				n = sub.chunks[0]
			}
			for range n {
				it.buf = append(it.buf, starlarklib.ErrorValue{Err: *rerr})
			}
		default:
			sub.vals = []starlark.Value{v}
			vals, err := sub.results(nil, true)
			if err != nil {
				vals = []starlark.Value{starlarklib.ErrorValue{Err: protocolError("Error", err.Error())}}
			}
			it.buf = vals
		}
	}
	*p = it.buf[0]
	it.buf = it.buf[1:]
	return true
}

func (it *resultIter) Done() {}

// Get implements ar['key'] for metadata keys (per engine list, or one
// value for a single-engine result) and ar[i] for results.
func (ar *AsyncResult) Get(k starlark.Value) (starlark.Value, bool, error) {
	switch k := k.(type) {
	case starlark.String:
		if !metadataKeys[string(k)] {
			return nil, false, &namedError{"KeyError", fmt.Sprintf("%q is not a metadata key", string(k))}
		}
		return ar.metadataAttr(string(k)), true, nil
	case starlark.Int:
		ok, err := ar.wait(-1)
		if err != nil || !ok {
			return nil, false, err
		}
		vals, err := ar.results(nil, false)
		if err != nil {
			return nil, false, err
		}
		i, _ := k.Int64()
		if i < 0 {
			i += int64(len(vals))
		}
		if i < 0 || i >= int64(len(vals)) {
			return nil, false, fmt.Errorf("AsyncResult index %s out of range (%d results)", k, len(vals))
		}
		return vals[i], true, nil
	}
	return nil, false, fmt.Errorf("AsyncResult key must be a metadata name or an int, not %s", k.Type())
}

// metadataKeys are the keys of a task's metadata dict.
var metadataKeys = map[string]bool{
	"msg_id": true, "engine_id": true, "submitted": true, "started": true, "completed": true,
	"received": true, "status": true, "stdout": true, "stderr": true, "error": true,
	"execute_result": true, "execute_count": true, "label": true,
}

// taskMetadata returns a task's metadata as a dict; what has not happened
// yet is None.
func (ar *AsyncResult) taskMetadata(t *client.Task) *starlark.Dict {
	d := starlark.NewDict(len(metadataKeys))
	set := func(k string, v starlark.Value) { d.SetKey(starlark.String(k), v) }
	set("msg_id", starlark.String(t.MsgID))
	if e := engineOf(t); e >= 0 {
		set("engine_id", starlark.MakeInt(e))
	} else {
		set("engine_id", starlark.None) // load-balanced, not yet known
	}
	set("submitted", timeFloat(t.Submitted))
	set("label", starlark.String(t.Label))
	if !t.Ready() {
		set("started", starlark.None)
		if at, ok := t.Started(); ok {
			set("started", timeFloat(at))
		}
		for _, k := range []string{"completed", "received", "status", "error", "execute_result", "execute_count"} {
			set(k, starlark.None)
		}
		set("stdout", starlark.String(""))
		set("stderr", starlark.String(""))
		return d
	}
	r, body := t.Result()
	set("started", unixFloat(r.Started))
	set("completed", unixFloat(r.Completed))
	set("received", timeFloat(t.Received()))
	set("status", starlark.String(r.Status))
	set("stdout", starlark.String(r.Stdout))
	set("stderr", starlark.String(r.Stderr))
	if r.Error != nil {
		set("error", starlarklib.ErrorValue{Err: *r.Error})
	} else {
		set("error", starlark.None)
	}
	set("execute_count", starlark.MakeInt(r.ExecCount))
	if r.Kind == protocol.KindExecute && r.HasValue && len(body) > 0 {
		v, _ := starlarklib.Decode(body, &starlarklib.DecodeOptions{})
		if v != nil {
			set("execute_result", starlark.String(v.String()))
		} else {
			set("execute_result", starlark.None)
		}
	} else {
		set("execute_result", starlark.None)
	}
	return d
}

// metadataAttr returns one metadata key over the tasks: a list, or one
// value for a single-engine result.
func (ar *AsyncResult) metadataAttr(key string) starlark.Value {
	vals := make([]starlark.Value, len(ar.tasks))
	for i, t := range ar.tasks {
		v, _, _ := ar.taskMetadata(t).Get(starlark.String(key))
		vals[i] = v
	}
	if ar.single && len(vals) == 1 {
		return vals[0]
	}
	return starlark.NewList(vals)
}

func timeFloat(t time.Time) starlark.Value {
	if t.IsZero() {
		return starlark.None
	}
	return starlark.Float(float64(t.UnixNano()) / 1e9)
}

// Attr serves the AsyncResult API.
func (ar *AsyncResult) Attr(name string) (starlark.Value, error) {
	if m, ok := asyncMethods[name]; ok {
		return method(ar, name, m), nil
	}
	if metadataKeys[name] {
		return ar.metadataAttr(name), nil
	}
	switch name {
	case "metadata":
		vals := make([]starlark.Value, len(ar.tasks))
		for i, t := range ar.tasks {
			vals[i] = ar.taskMetadata(t)
		}
		if ar.single && len(vals) == 1 {
			return vals[0], nil
		}
		return starlark.NewList(vals), nil
	case "msg_ids":
		vals := make([]starlark.Value, len(ar.tasks))
		for i, t := range ar.tasks {
			vals[i] = starlark.String(t.MsgID)
		}
		return starlark.NewList(vals), nil
	case "elapsed":
		if ar.ready() {
			return ar.wallTime(), nil
		}
		return starlark.Float(time.Since(ar.firstSubmitted()).Seconds()), nil
	case "wall_time":
		if !ar.ready() {
			return nil, errNotReady
		}
		return ar.wallTime(), nil
	case "serial_time":
		if !ar.ready() {
			return nil, errNotReady
		}
		var s float64
		for _, t := range ar.tasks {
			r, _ := t.Result()
			if r.Started != 0 && r.Completed != 0 {
				s += float64(r.Completed-r.Started) / 1e9
			}
		}
		return starlark.Float(s), nil
	case "progress":
		n := 0
		for _, t := range ar.tasks {
			if t.Ready() {
				n++
			}
		}
		return starlark.MakeInt(n), nil
	case "r":
		return ar.value(nil, -1, false)
	}
	return ar.extraAttr(name)
}

func (ar *AsyncResult) firstSubmitted() time.Time {
	var first time.Time
	for _, t := range ar.tasks {
		if first.IsZero() || t.Submitted.Before(first) {
			first = t.Submitted
		}
	}
	return first
}

// wallTime is the last received minus the first submitted, in seconds.
func (ar *AsyncResult) wallTime() starlark.Value {
	var last time.Time
	for _, t := range ar.tasks {
		if rt := t.Received(); rt.After(last) {
			last = rt
		}
	}
	return starlark.Float(math.Max(0, last.Sub(ar.firstSubmitted()).Seconds()))
}

// AttrNames lists the AsyncResult API.
func (ar *AsyncResult) AttrNames() []string {
	names := append([]string{"metadata", "msg_ids", "elapsed", "wall_time", "serial_time", "progress", "r"}, asyncExtraAttrs...)
	names = slices.AppendSeq(names, maps.Keys(metadataKeys))
	return attrNames(names, asyncMethods)
}

var asyncMethods = map[string]builtinFunc{
	"get":             arGet,
	"ready":           arReady,
	"wait":            arWait,
	"successful":      arSuccessful,
	"get_dict":        arGetDict,
	"abort":           arAbort,
	"display_outputs": arDisplayOutputs,
	// progress.go (the shell's progress bar)
	"wait_interactive": arWaitInteractive,
	// timeline.go
	"timeline": arTimeline,
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
	return 0, &namedError{"TypeError", fmt.Sprintf("timeout must be a number or None, not %s", v.Type())}
}

// timeoutOnly unpacks the lone timeout=None argument of a method into
// seconds (-1: no limit).
func timeoutOnly(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (float64, error) {
	var timeout starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return 0, err
	}
	return timeoutArg(timeout)
}

// waitReady waits up to d seconds (d < 0: no limit) and fails with
// errNotReady when the tasks are still unfinished.
func (ar *AsyncResult) waitReady(d float64) error {
	ok, err := ar.wait(d)
	if err != nil {
		return err
	}
	if !ok {
		return errNotReady
	}
	return nil
}

// readyAR unpacks a method's lone timeout=None argument and waits that
// long for its AsyncResult, failing with errNotReady when it is unfinished.
func readyAR(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*AsyncResult, error) {
	d, err := timeoutOnly(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	ar := recvAR(b)
	return ar, ar.waitReady(d)
}

func arGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	var timeout starlark.Value = starlark.None
	var rex starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &timeout, "return_exceptions?", &rex); err != nil {
		return nil, err
	}
	exceptions := ar.exceptions
	if rex != starlark.None {
		var err error
		if exceptions, err = boolKw(rex, "return_exceptions"); err != nil {
			return nil, err
		}
	}
	d, err := timeoutArg(timeout)
	if err != nil {
		return nil, err
	}
	return ar.value(thread, d, exceptions)
}

func arReady(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.Bool(recvAR(b).ready()), nil
}

func arWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	d, err := timeoutOnly(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	ok, err := recvAR(b).wait(d)
	return starlark.Bool(ok), err
}

func arSuccessful(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if !ar.ready() {
		return nil, &namedError{"RuntimeError", "successful: the result is not ready"}
	}
	return starlark.Bool(!ar.failed()), nil
}

// arGetDict implements ar.get_dict(timeout=None): {engine_id: result}.
func arGetDict(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar, err := readyAR(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	count := map[int]int{}
	for _, t := range ar.tasks {
		e := engineOf(t)
		count[e]++
		if count[e] > 1 {
			return nil, &namedError{"ValueError", fmt.Sprintf("Cannot build dict, %d jobs ran on engine #%d", count[e], e)}
		}
	}
	if err := ar.Err(); err != nil {
		return nil, err
	}
	out := starlark.NewDict(len(ar.tasks))
	for i, t := range ar.tasks {
		v, _, err := ar.taskValue(thread, i)
		if err != nil {
			return nil, err
		}
		out.SetKey(starlark.MakeInt(engineOf(t)), v)
	}
	return out, nil
}

// arAbort implements ar.abort(): queued tasks fail with TaskAborted, a
// running one is cancelled.
func arAbort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if ar.ready() {
		return nil, &namedError{"RuntimeError", "Can't abort, I am already done!"}
	}
	if err := ar.Abort(); err != nil {
		return nil, fmt.Errorf("abort: %w", err)
	}
	return starlark.None, nil
}

// Abort cancels the result's unfinished tasks.
func (ar *AsyncResult) Abort() error {
	var ids []string
	for _, t := range ar.tasks {
		if !t.Ready() {
			ids = append(ids, t.MsgID)
		}
	}
	return ar.rc.c.Cancel(ids)
}

func arDisplayOutputs(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := recvAR(b)
	groupby := "type"
	var resultOnly bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "groupby?", &groupby, "result_only?", &resultOnly); err != nil {
		return nil, err
	}
	switch groupby {
	case "type", "engine", "order":
	default:
		return nil, &namedError{"ValueError", fmt.Sprintf("groupby must be 'type', 'engine' or 'order', not %q", groupby)}
	}
	if ok, err := ar.wait(-1); err != nil || !ok {
		return nil, err
	}
	w := ar.rc.env.stdout(thread)
	err := ar.Display(w, DisplayOptions{GroupBy: groupby, Stderr: w, ShowResult: true, ResultOnly: resultOnly, Color: ar.rc.env.Terminal})
	return starlark.None, err
}

// errNoEngines is the error of a call with no engine to address.
var errNoEngines = &namedError{"NoEnginesRegistered", "This operation requires engines. Try client.wait_for_engines(n) to wait for engines to register."}

// isTimeout reports whether err is a get() timeout.
func isTimeout(err error) bool {
	var ne *namedError
	return errors.As(err, &ne) && ne.name == "TimeoutError"
}

// joinArrays concatenates gathered ndarrays along their first axis; it
// returns nil unless every value is an array and they fit together.
func joinArrays(vals []starlark.Value) starlark.Value {
	arrs := make([]*numpy.Array, len(vals))
	for i, v := range vals {
		a, ok := v.(*numpy.Array)
		if !ok {
			return nil
		}
		arrs[i] = a
	}
	a, err := numpy.Concatenate(arrs, 0)
	if err != nil {
		return nil
	}
	return a
}
