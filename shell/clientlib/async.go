package clientlib

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"github.com/pxsh/pxsh/starlarklib/numpy"
	"go.starlark.net/starlark"
)

// AsyncResult is the Starlark value of a call's pending results (also
// AsyncMapResult, for map): a client.AsyncResult, which owns the tasks,
// their state and how their values combine, with its values decoded as
// Starlark values. Its methods may be called from several goroutines; the
// Starlark values it returns belong to the caller's thread.
type AsyncResult struct {
	rc  *Client
	res *client.AsyncResult
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
	return rc.submitEach(req, [][]byte{body}, targets, single)
}

// submitEach sends one request per target, each with its own body.
func (rc *Client) submitEach(req protocol.Request, bodies [][]byte, targets []int, single bool) (*AsyncResult, error) {
	return rc.submitted(rc.c.SubmitEach(req, bodies, targets, single))
}

// submitParts sends one request to every target with one body given as
// parts (starlarklib.EncodeParts).
func (rc *Client) submitParts(req protocol.Request, parts [][]byte, targets []int, single bool) (*AsyncResult, error) {
	return rc.submitted(rc.c.SubmitParts(req, parts, targets, single))
}

// submitVolatileParts is submitParts of parts that may change once it
// returns (starlarklib.EncodePartsShared).
func (rc *Client) submitVolatileParts(req protocol.Request, parts [][]byte, targets []int, single bool) (*AsyncResult, error) {
	return rc.submitted(rc.c.SubmitVolatileParts(req, parts, targets, single))
}

// submitted records the tasks of a submission and wraps its result.
func (rc *Client) submitted(res *client.AsyncResult, err error) (*AsyncResult, error) {
	rc.h.Record(res.Tasks)
	if errors.Is(err, client.ErrNoEngines) {
		return nil, errNoEngines
	}
	if err != nil {
		return nil, err
	}
	return rc.wrap(res), nil
}

// wrap makes a Starlark AsyncResult of res.
func (rc *Client) wrap(res *client.AsyncResult) *AsyncResult {
	return &AsyncResult{rc: rc, res: res}
}

// NewAsyncResult wraps tasks of this client as an AsyncResult (for
// results of other views and of rc.get_result). name is shown in the repr.
func (rc *Client) NewAsyncResult(name string, tasks []*client.Task, single bool) *AsyncResult {
	res := &client.AsyncResult{Tasks: tasks, Single: single, Name: name}
	if len(tasks) > 0 {
		res.Kind = tasks[0].Kind
	}
	return rc.wrap(res)
}

// Result returns the Go AsyncResult underneath.
func (ar *AsyncResult) Result() *client.AsyncResult { return ar.res }

// Tasks returns the result's tasks.
func (ar *AsyncResult) Tasks() []*client.Task { return ar.res.Tasks }

// Name returns the function name or kind shown in the repr.
func (ar *AsyncResult) Name() string { return ar.res.Name }

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
	if ar.res.Combine == client.CombineChunks || ar.res.Combine == client.CombineGather {
		kind = "AsyncMapResult"
	}
	if ar.hub {
		kind = "AsyncHubResult"
	}
	return fmt.Sprintf("<%s(%s): %s>", kind, ar.res.Name, state)
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
func (ar *AsyncResult) Len() int { return ar.res.Len() }

// Ready reports whether every task has finished.
func (ar *AsyncResult) Ready() bool { return ar.res.Ready() }

func (ar *AsyncResult) ready() bool  { return ar.res.Ready() }
func (ar *AsyncResult) failed() bool { return ar.res.Failed() }

// Wait waits for every task until ctx is done; it returns false when ctx
// ran out first.
func (ar *AsyncResult) Wait(ctx context.Context) bool { return ar.res.Wait(ctx) == nil }

// wait waits for every task, up to d seconds (d < 0: no limit). It
// returns false when time ran out, and an error when the host's context
// was cancelled (Ctrl-C).
func (ar *AsyncResult) wait(d float64) (bool, error) {
	limit := time.Duration(-1)
	if d >= 0 {
		limit = secondsDuration(d)
	}
	return ar.res.WaitFor(ar.rc.env.ctx(), limit)
}

// Err returns the failure of a finished result: nil, a
// *client.RemoteError (single-engine result or one task) or a
// *client.CompositeError.
func (ar *AsyncResult) Err() error { return ar.res.Err() }

// taskValue decodes (once) the value of finished task i; a failure is
// returned as rerr.
func (ar *AsyncResult) taskValue(thread *starlark.Thread, i int) (v starlark.Value, rerr *protocol.RemoteError, err error) {
	t := ar.res.Tasks[i]
	r, body := t.Result()
	if r.Error != nil {
		return nil, r.Error, nil
	}
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if ar.vals == nil {
		ar.vals = make([]starlark.Value, len(ar.res.Tasks))
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
		o.Owned = t.ClaimBody() // the result frame's body, decoded in place once
		o.Keep = t.Keep()       // a mapped body: arrays pointing into it hold it
		v, err = starlarklib.Decode(body, o)
		runtime.KeepAlive(t) // body may be t's mapping
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
	switch ar.res.Combine {
	case client.CombineNone:
		return starlark.None, nil
	case client.CombineGather:
		if a := joinArrays(vals); a != nil {
			return a, nil
		}
	case client.CombineEach:
		if ar.res.Single && len(vals) == 1 {
			return vals[0], nil
		}
	}
	return starlark.NewList(vals), nil
}

// results returns the flat list of results of a finished AsyncResult.
func (ar *AsyncResult) results(thread *starlark.Thread, exceptions bool) ([]starlark.Value, error) {
	ar.decodeParallel()
	return client.Collect[starlark.Value](ar.res, starlarkDecoder{ar, thread}, exceptions)
}

// starlarkDecoder decodes an AsyncResult's task values as Starlark values
// for client.Collect.
type starlarkDecoder struct {
	ar     *AsyncResult
	thread *starlark.Thread
}

func (d starlarkDecoder) Value(i int) (starlark.Value, error) {
	v, _, err := d.ar.taskValue(d.thread, i)
	return v, err
}

func (d starlarkDecoder) AppendItems(dst []starlark.Value, v starlark.Value, tuples bool) ([]starlark.Value, bool) {
	switch x := v.(type) {
	case *starlark.List:
		dst = slices.Grow(dst, x.Len())
		for j := range x.Len() {
			dst = append(dst, x.Index(j))
		}
		return dst, true
	case starlark.Tuple:
		if tuples {
			return append(dst, x...), true
		}
	}
	return dst, false
}

func (d starlarkDecoder) CountItems(v starlark.Value, tuples bool) int {
	switch x := v.(type) {
	case *starlark.List:
		return x.Len()
	case starlark.Tuple:
		if tuples {
			return len(x)
		}
	}
	return -1
}

func (d starlarkDecoder) Error(e *client.RemoteError) starlark.Value {
	return starlarklib.ErrorValue{Err: e.RemoteError}
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
		if it.task >= len(it.ar.res.Tasks) {
			return false
		}
		if it.ar.res.Tasks[it.task].Wait(it.ar.rc.env.ctx()) != nil {
			return false
		}
		vals, err := client.CollectTask[starlark.Value](it.ar.res, it.task, starlarkDecoder{it.ar, nil})
		it.task++
		if err != nil {
			vals = []starlark.Value{starlarklib.ErrorValue{Err: protocolError("Error", err.Error())}}
		}
		it.buf = vals
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
	"execute_result": true, "execute_count": true, "label": true, "engine_uuid": true,
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
	m := t.Metadata()
	set("engine_uuid", starlark.None)
	if e, ok := ar.rc.c.Engine(engineOf(t)); ok {
		set("engine_uuid", starlark.String(ar.rc.c.EngineUUID(e)))
	}
	set("submitted", timeFloat(m.Submitted))
	set("label", starlark.String(t.Label))
	set("started", timeFloat(m.Started))
	set("stdout", starlark.String(m.Stdout))
	set("stderr", starlark.String(m.Stderr))
	if !t.Ready() {
		for _, k := range []string{"completed", "received", "status", "error", "execute_result", "execute_count"} {
			set(k, starlark.None)
		}
		return d
	}
	r, body := t.Result()
	set("completed", timeFloat(m.Completed))
	set("received", timeFloat(m.Received))
	set("status", starlark.String(m.Status))
	if r.Error != nil {
		set("error", starlarklib.ErrorValue{Err: *r.Error})
	} else {
		set("error", starlark.None)
	}
	set("execute_count", starlark.MakeInt(r.ExecCount))
	set("execute_result", executeResult(r, body))
	runtime.KeepAlive(t) // body may be t's mapping
	return d
}

// executeResult is ipyparallel's execute_result of an execute whose code
// ended with an expression: {'data': {'text/plain': repr},
// 'execution_count': n, 'metadata': {}}; None otherwise.
func executeResult(r protocol.Result, body []byte) starlark.Value {
	if r.Kind != protocol.KindExecute || !r.HasValue || len(body) == 0 {
		return starlark.None
	}
	v, err := starlarklib.Decode(body, &starlarklib.DecodeOptions{})
	if err != nil || v == nil {
		return starlark.None
	}
	data := starlark.NewDict(1)
	data.SetKey(starlark.String("text/plain"), starlark.String(v.String()))
	d := starlark.NewDict(3)
	d.SetKey(starlark.String("data"), data)
	d.SetKey(starlark.String("execution_count"), starlark.MakeInt(r.ExecCount))
	d.SetKey(starlark.String("metadata"), starlark.NewDict(0))
	return d
}

// metadataAttr returns one metadata key over the tasks: a list, or one
// value for a single-engine result.
func (ar *AsyncResult) metadataAttr(key string) starlark.Value {
	vals := make([]starlark.Value, len(ar.res.Tasks))
	for i, t := range ar.res.Tasks {
		v, _, _ := ar.taskMetadata(t).Get(starlark.String(key))
		vals[i] = v
	}
	if ar.res.Single && len(vals) == 1 {
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
		vals := make([]starlark.Value, len(ar.res.Tasks))
		for i, t := range ar.res.Tasks {
			vals[i] = ar.taskMetadata(t)
		}
		if ar.res.Single && len(vals) == 1 {
			return vals[0], nil
		}
		return starlark.NewList(vals), nil
	case "msg_ids":
		vals := make([]starlark.Value, len(ar.res.Tasks))
		for i, t := range ar.res.Tasks {
			vals[i] = starlark.String(t.MsgID)
		}
		return starlark.NewList(vals), nil
	case "elapsed":
		return starlark.Float(ar.res.Elapsed().Seconds()), nil
	case "wall_time":
		if !ar.ready() {
			return nil, errNotReady
		}
		return starlark.Float(ar.res.WallTime().Seconds()), nil
	case "serial_time":
		if !ar.ready() {
			return nil, errNotReady
		}
		return starlark.Float(ar.res.SerialTime().Seconds()), nil
	case "progress":
		return starlark.MakeInt(ar.res.Progress()), nil
	case "r":
		return ar.value(nil, -1, false)
	}
	return ar.extraAttr(name)
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
	for _, t := range ar.res.Tasks {
		e := engineOf(t)
		count[e]++
		if count[e] > 1 {
			return nil, &namedError{"ValueError", fmt.Sprintf("Cannot build dict, %d jobs ran on engine #%d", count[e], e)}
		}
	}
	if err := ar.Err(); err != nil {
		return nil, err
	}
	out := starlark.NewDict(len(ar.res.Tasks))
	for i, t := range ar.res.Tasks {
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
func (ar *AsyncResult) Abort() error { return ar.res.Abort(ar.rc.c) }

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
