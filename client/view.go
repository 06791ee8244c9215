package client

import (
	"context"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// View addresses a set of engines directly. A View with nil targets
// addresses every engine registered at the time of each call. Views are
// immutable and safe for concurrent use.
type View struct {
	c       *Client
	targets []int
}

// View returns a view over the given engines; no ids means all engines,
// re-evaluated at each call.
func (c *Client) View(targets ...int) *View {
	if len(targets) == 0 {
		return &View{c: c}
	}
	return &View{c: c, targets: append([]int(nil), targets...)}
}

// Targets returns the engines a call would address now.
func (v *View) Targets() []int {
	if v.targets == nil {
		return v.c.Ids()
	}
	return v.targets
}

// Submit sends one request per target engine with the same body, which
// crosses the client's link once (Client.SubmitFan).
func (v *View) Submit(req protocol.Request, body []byte) (*AsyncResult, error) {
	targets := v.Targets()
	if len(targets) == 0 {
		return nil, fmt.Errorf("%s: no engines", req.Kind)
	}
	tasks, err := v.c.SubmitFan(req, targets, body)
	if err != nil {
		return nil, err
	}
	return &AsyncResult{Tasks: tasks}, nil
}

// ExecuteAsync runs code on every target.
func (v *View) ExecuteAsync(code string, silent bool) (*AsyncResult, error) {
	body, err := Encode(code)
	if err != nil {
		return nil, err
	}
	return v.Submit(protocol.Request{Kind: protocol.KindExecute, Silent: silent}, body)
}

// Execute runs code on every target and waits.
func (v *View) Execute(ctx context.Context, code string) error {
	ar, err := v.ExecuteAsync(code, true)
	if err != nil {
		return err
	}
	_, err = ar.Get(ctx)
	return err
}

// ApplyAsync calls fn(args...) on every target. fn is a Func (Starlark
// source).
func (v *View) ApplyAsync(fn Func, args ...any) (*AsyncResult, error) {
	body, err := encodeCall(fn, args, nil)
	if err != nil {
		return nil, err
	}
	return v.Submit(protocol.Request{Kind: protocol.KindApply, Name: funcWire(string(fn)).Name}, body)
}

// Apply calls fn(args...) on every target and returns the results in
// target order.
func (v *View) Apply(ctx context.Context, fn Func, args ...any) ([]any, error) {
	ar, err := v.ApplyAsync(fn, args...)
	if err != nil {
		return nil, err
	}
	return ar.Get(ctx)
}

func encodeCall(fn Func, args []any, kwargs map[string]any) ([]byte, error) {
	a, err := listWire(args, "args")
	if err != nil {
		return nil, err
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	f, _ := toWire(fn, "function")
	return encMode.Marshal([]any{f, a, kwargs})
}

// Push sets names in every target's namespace.
func (v *View) Push(ctx context.Context, ns map[string]any) error {
	body, err := Encode(ns)
	if err != nil {
		return err
	}
	ar, err := v.Submit(protocol.Request{Kind: protocol.KindPush}, body)
	if err != nil {
		return err
	}
	_, err = ar.Get(ctx)
	return err
}

// Pull evaluates an expression (a name, or e.g. "a[0]") on every target.
func (v *View) Pull(ctx context.Context, expr string) ([]any, error) {
	body, err := Encode(expr)
	if err != nil {
		return nil, err
	}
	ar, err := v.Submit(protocol.Request{Kind: protocol.KindPull}, body)
	if err != nil {
		return nil, err
	}
	return ar.Get(ctx)
}

// AsyncResult collects the tasks of one call.
type AsyncResult struct {
	Tasks []*Task
	// chunked makes Get concatenate the tasks' values (map, gather):
	// lists are extended, other values appended.
	chunked bool
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

// Get waits and returns the decoded values in task order. Failures come
// back as a *RemoteError (one task) or *CompositeError (several).
func (a *AsyncResult) Get(ctx context.Context) ([]any, error) {
	if err := a.Wait(ctx); err != nil {
		return nil, err
	}
	out := make([]any, len(a.Tasks))
	var errs []*RemoteError
	for i, t := range a.Tasks {
		r, body := t.Result()
		if r.Error != nil {
			errs = append(errs, &RemoteError{*r.Error})
			continue
		}
		v, err := Decode(body)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	switch len(errs) {
	case 0:
		if a.chunked {
			var flat []any
			for _, v := range out {
				if l, ok := v.([]any); ok {
					flat = append(flat, l...)
				} else {
					flat = append(flat, v)
				}
			}
			if flat == nil {
				flat = []any{}
			}
			return flat, nil
		}
		return out, nil
	case 1:
		if len(a.Tasks) == 1 {
			return nil, errs[0]
		}
	}
	method := ""
	if len(a.Tasks) > 0 {
		method = string(a.Tasks[0].Kind)
	}
	return nil, &CompositeError{Errors: errs, Method: method}
}

// Metadata describes a finished task.
type Metadata struct {
	MsgID     string
	EngineID  int
	Status    protocol.Status
	Submitted time.Time
	Started   time.Time
	Completed time.Time
	Stdout    string
	Stderr    string
	Error     error
}

// Metadata returns each task's metadata (zero times for what has not
// happened yet).
func (a *AsyncResult) Metadata() []Metadata {
	out := make([]Metadata, len(a.Tasks))
	for i, t := range a.Tasks {
		m := Metadata{MsgID: t.MsgID, EngineID: t.Engine, Submitted: t.Submitted}
		if t.Ready() {
			r, _ := t.Result()
			m.Status, m.Stdout, m.Stderr = r.Status, r.Stdout, r.Stderr
			m.Started, m.Completed = unixTime(r.Started), unixTime(r.Completed)
			if r.Error != nil {
				m.Error = &RemoteError{*r.Error}
			}
		}
		out[i] = m
	}
	return out
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// BroadcastView returns a view over the given engines (none: all, at
// each call) in the role of ipyparallel's BroadcastView: every request
// crosses the client's link once and the controller fans it out to the
// engines (Client.SubmitFan), forwarding the same body bytes to each; the
// results come back in engine order. pxsh's DirectView already travels
// this way, so the two are the same view under two names.
func (c *Client) BroadcastView(targets ...int) *View { return c.View(targets...) }
