package client

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// Combine says how the values of an AsyncResult's tasks make its result.
type Combine uint8

const (
	// CombineEach gives one value per task (one value in all for a
	// Single result).
	CombineEach Combine = iota
	// CombineChunks concatenates the tasks' lists (map chunks); Chunks
	// holds how many elements each task handles.
	CombineChunks
	// CombineGather extends the result with lists and tuples and appends
	// other values (gather).
	CombineGather
	// CombineNone makes the result None (scatter).
	CombineNone
)

// AsyncResult collects the tasks of one call: its state, waiting, metadata
// and how the tasks' values combine. Set its fields before sharing it; its
// methods are safe for concurrent use.
type AsyncResult struct {
	Tasks []*Task
	// Single marks a call on one engine addressed by an int: its result
	// is that engine's value, not a list of one.
	Single bool
	// Combine says how task values make the result.
	Combine Combine
	// Chunks holds the number of elements of each task (CombineChunks).
	Chunks []int
	// Name is the function's name or the request kind, for display.
	Name string
	// Kind is the request kind, for error summaries.
	Kind protocol.Kind
}

// NewAsyncResult collects tasks submitted by a request.
func NewAsyncResult(req protocol.Request, tasks []*Task, single bool) *AsyncResult {
	a := &AsyncResult{Tasks: tasks, Single: single, Kind: req.Kind, Name: req.Name}
	if a.Name == "" {
		a.Name = string(req.Kind)
	}
	return a
}

// Len is the number of results: elements for a map, tasks otherwise.
func (a *AsyncResult) Len() int {
	if a.Combine == CombineChunks {
		n := 0
		for _, c := range a.Chunks {
			n += c
		}
		return n
	}
	return len(a.Tasks)
}

// Ready reports whether every task has finished.
func (a *AsyncResult) Ready() bool {
	for _, t := range a.Tasks {
		if !t.Ready() {
			return false
		}
	}
	return true
}

// Failed reports whether a finished task failed.
func (a *AsyncResult) Failed() bool {
	for _, t := range a.Tasks {
		if t.Ready() && t.result.Error != nil {
			return true
		}
	}
	return false
}

// Progress is the number of finished tasks.
func (a *AsyncResult) Progress() int {
	n := 0
	for _, t := range a.Tasks {
		if t.Ready() {
			n++
		}
	}
	return n
}

// Wait waits for every task.
func (a *AsyncResult) Wait(ctx context.Context) error {
	for _, t := range a.Tasks {
		if err := t.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WaitFor waits up to d (d < 0: no limit) within ctx. It returns false
// when d ran out first, and ctx's error when ctx ended.
func (a *AsyncResult) WaitFor(ctx context.Context, d time.Duration) (bool, error) {
	if a.Ready() {
		return true, nil
	}
	tctx := ctx
	if d >= 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := a.Wait(tctx); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return false, nil
	}
	return true, nil
}

// Err returns the failure of the finished tasks: nil, a *RemoteError (a
// Single result, or one task) or a *CompositeError.
func (a *AsyncResult) Err() error {
	var errs []*RemoteError
	for _, t := range a.Tasks {
		if t.Ready() && t.result.Error != nil {
			errs = append(errs, &RemoteError{*t.result.Error})
		}
	}
	switch {
	case len(errs) == 0:
		return nil
	case len(errs) == 1 && (a.Single || len(a.Tasks) == 1):
		return errs[0]
	}
	method := string(a.Kind)
	if method == "" && len(a.Tasks) > 0 {
		method = string(a.Tasks[0].Kind)
	}
	return &CompositeError{Errors: errs, Method: method}
}

// Submitted is when the first task was submitted.
func (a *AsyncResult) Submitted() time.Time {
	var first time.Time
	for _, t := range a.Tasks {
		if first.IsZero() || t.Submitted.Before(first) {
			first = t.Submitted
		}
	}
	return first
}

// WallTime is the last result's arrival minus the first submission.
func (a *AsyncResult) WallTime() time.Duration {
	var last time.Time
	for _, t := range a.Tasks {
		if rt := t.Received(); rt.After(last) {
			last = rt
		}
	}
	return max(0, last.Sub(a.Submitted()))
}

// Elapsed is WallTime when ready, else the time since the first
// submission.
func (a *AsyncResult) Elapsed() time.Duration {
	if a.Ready() {
		return a.WallTime()
	}
	return time.Since(a.Submitted())
}

// SerialTime is the sum of the tasks' run times on their engines.
func (a *AsyncResult) SerialTime() time.Duration {
	var s time.Duration
	for _, t := range a.Tasks {
		if r := t.result; t.Ready() && r.Started != 0 && r.Completed != 0 {
			s += time.Duration(r.Completed - r.Started)
		}
	}
	return s
}

// Abort aborts the unfinished tasks (queued ones fail with TaskAborted)
// and cancels running ones.
func (a *AsyncResult) Abort(c *Client) error {
	var ids []string
	for _, t := range a.Tasks {
		if !t.Ready() {
			ids = append(ids, t.MsgID)
		}
	}
	return c.Cancel(ids)
}

// Decoder turns task values into values of type V for Collect.
type Decoder[V any] interface {
	// Value decodes finished task i's value (it did not fail).
	Value(i int) (V, error)
	// AppendItems appends the elements of a list (or, with tuples, a
	// tuple) to dst; false if v is not one.
	AppendItems(dst []V, v V, tuples bool) ([]V, bool)
	// Error makes the value that stands for a failure.
	Error(e *RemoteError) V
}

// Collect returns the flat results of a finished AsyncResult following its
// Combine (CombineNone: as CombineEach). With exceptions a failed task
// gives dec.Error values in its place (one per element of its chunk);
// otherwise a failure is returned as Err.
func Collect[V any](a *AsyncResult, dec Decoder[V], exceptions bool) ([]V, error) {
	if !exceptions {
		if err := a.Err(); err != nil {
			return nil, err
		}
	}
	vals := make([]V, len(a.Tasks))
	for i, t := range a.Tasks {
		if t.result.Error == nil {
			var err error
			if vals[i], err = dec.Value(i); err != nil {
				return nil, err
			}
		}
	}
	out := make([]V, 0, collectCap(a, dec, vals))
	for i := range a.Tasks {
		var err error
		if out, err = appendValue(out, a, i, dec, vals[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ItemCounter is a Decoder that can tell how many elements AppendItems
// would append for v (-1: none, v is not a list or tuple), so that a
// gather's result is allocated once, not grown task by task.
type ItemCounter[V any] interface {
	CountItems(v V, tuples bool) int
}

// collectCap is the length of Collect's result when it can be told
// beforehand from the tasks' values vals, else a.Len().
func collectCap[V any](a *AsyncResult, dec Decoder[V], vals []V) int {
	c, ok := dec.(ItemCounter[V])
	if !ok || a.Combine != CombineGather {
		return a.Len()
	}
	n := 0
	for i, t := range a.Tasks {
		if t.result.Error != nil {
			n++
			continue
		}
		n += max(c.CountItems(vals[i], true), 1)
	}
	return n
}

// CollectTask returns the results finished task i contributes.
func CollectTask[V any](a *AsyncResult, i int, dec Decoder[V]) ([]V, error) {
	var v V
	if a.Tasks[i].result.Error == nil {
		var err error
		if v, err = dec.Value(i); err != nil {
			return nil, err
		}
	}
	return appendValue(nil, a, i, dec, v)
}

// appendValue appends the results finished task i contributes to out,
// v being its value when it did not fail (a chunk's elements straight
// from its list: no copy between).
func appendValue[V any](out []V, a *AsyncResult, i int, dec Decoder[V], v V) ([]V, error) {
	t := a.Tasks[i]
	if e := t.result.Error; e != nil {
		n := 1
		if a.Combine == CombineChunks {
			n = a.Chunks[i]
		}
		ev := dec.Error(&RemoteError{*e})
		for range n {
			out = append(out, ev)
		}
		return out, nil
	}
	switch a.Combine {
	case CombineChunks:
		items, ok := dec.AppendItems(out, v, false)
		if !ok {
			return nil, fmt.Errorf("map: engine %d returned %v, want a list", t.Engine, v)
		}
		return items, nil
	case CombineGather:
		if items, ok := dec.AppendItems(out, v, true); ok {
			return items, nil
		}
	}
	return append(out, v), nil
}

// goDecoder decodes task values to Go values.
type goDecoder struct{ a *AsyncResult }

func (d goDecoder) Value(i int) (any, error) {
	t := d.a.Tasks[i]
	_, body := t.Result()
	v, err := Decode(body)
	runtime.KeepAlive(t) // body may be t's mapping (MapResults)
	return v, err
}

func (d goDecoder) AppendItems(dst []any, v any, tuples bool) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return append(dst, x...), true
	case Tuple:
		if tuples {
			return append(dst, x...), true
		}
	}
	return dst, false
}

func (d goDecoder) CountItems(v any, tuples bool) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case Tuple:
		if tuples {
			return len(x)
		}
	}
	return -1
}

func (d goDecoder) Error(e *RemoteError) any { return e }

// Get waits and returns the decoded values, combined (see Combine). A
// failure comes back as a *RemoteError (one task) or *CompositeError
// (several).
func (a *AsyncResult) Get(ctx context.Context) ([]any, error) {
	if err := a.Wait(ctx); err != nil {
		return nil, err
	}
	return Collect[any](a, goDecoder{a}, false)
}

// Metadata describes a finished task.
type Metadata struct {
	MsgID     string
	EngineID  int
	Status    protocol.Status
	Submitted time.Time
	Started   time.Time
	Completed time.Time
	Received  time.Time
	Stdout    string
	Stderr    string
	Error     error
}

// Metadata returns each task's metadata (zero times for what has not
// happened yet).
func (a *AsyncResult) Metadata() []Metadata {
	out := make([]Metadata, len(a.Tasks))
	for i, t := range a.Tasks {
		out[i] = t.Metadata()
	}
	return out
}

// Metadata returns the task's metadata so far.
func (t *Task) Metadata() Metadata {
	m := Metadata{MsgID: t.MsgID, EngineID: t.Engine, Submitted: t.Submitted}
	if at, ok := t.Started(); ok {
		m.Started = at
	}
	m.Stdout, _ = t.Output()
	if t.Ready() {
		r := t.result
		m.EngineID = r.Engine
		m.Status, m.Stdout, m.Stderr = r.Status, r.Stdout, r.Stderr
		m.Completed, m.Received = unixTime(r.Completed), t.received
		if r.Error != nil {
			m.Error = &RemoteError{*r.Error}
		}
	}
	return m
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
