package client

import (
	"context"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// TaskOptions are the load-balancing flags of a task.
type TaskOptions struct {
	// Targets restricts the engines the task may run on; nil means any.
	Targets []int
	// Retries is how many times a failed task is resubmitted elsewhere.
	Retries int
	// Priority orders waiting tasks: higher first.
	Priority int
	// Timeout bounds the task end to end, queueing and running; 0 means
	// none. A task running past it is cancelled (TaskTimeout).
	Timeout time.Duration
	// After and Follow are msg ids this task depends on: After in time,
	// Follow in time and place (same engine).
	After, Follow []string
	// DepAny is satisfied by any one dependency instead of all.
	DepAny bool
	// DepSuccess and DepFailure say which outcomes satisfy a dependency;
	// both false means success only.
	DepSuccess, DepFailure bool
	// Label tags the task in the hub's database.
	Label string
}

// LoadBalancedView submits tasks that the controller's scheduler places.
// It is immutable and safe for concurrent use.
type LoadBalancedView struct {
	c    *Client
	opts TaskOptions
}

// LoadBalanced returns a load-balanced view with the given options.
func (c *Client) LoadBalanced(o TaskOptions) *LoadBalancedView {
	return &LoadBalancedView{c: c, opts: o}
}

// Request returns a request carrying the view's options.
func (v *LoadBalancedView) Request(kind protocol.Kind) protocol.Request {
	o := v.opts
	return protocol.Request{
		Kind: kind, Engine: -1, Targets: o.Targets, Retries: o.Retries, Priority: o.Priority,
		Timeout: o.Timeout.Seconds(), After: o.After, Follow: o.Follow, DepAny: o.DepAny,
		DepSuccess: o.DepSuccess, DepFailure: o.DepFailure, Label: o.Label,
	}
}

// SubmitEach sends one load-balanced task per body. On an error the
// returned AsyncResult holds the tasks already sent.
func (v *LoadBalancedView) SubmitEach(kind protocol.Kind, name string, bodies [][]byte) (*AsyncResult, error) {
	req := v.Request(kind)
	req.Name = name
	ar := NewAsyncResult(req, make([]*Task, 0, len(bodies)), false)
	if len(bodies) > 0 && len(v.c.Ids()) == 0 {
		return ar, ErrNoEngines
	}
	for _, body := range bodies {
		t, err := v.c.Submit(req, body)
		if err != nil {
			return ar, err
		}
		ar.Tasks = append(ar.Tasks, t)
	}
	return ar, nil
}

// ApplyAsync submits fn(args...) as one task.
func (v *LoadBalancedView) ApplyAsync(fn Func, args ...any) (*Task, error) {
	body, err := encodeCall(fn, args, nil)
	if err != nil {
		return nil, err
	}
	req := v.Request(protocol.KindApply)
	req.Name = funcWire(string(fn)).Name
	return v.c.Submit(req, body)
}

// Apply runs fn(args...) on some engine and returns its value.
func (v *LoadBalancedView) Apply(ctx context.Context, fn Func, args ...any) (any, error) {
	t, err := v.ApplyAsync(fn, args...)
	if err != nil {
		return nil, err
	}
	vals, err := (&AsyncResult{Tasks: []*Task{t}}).Get(ctx)
	if err != nil {
		return nil, err
	}
	return vals[0], nil
}

// MapAsync submits one task per element of seq.
func (v *LoadBalancedView) MapAsync(fn Func, seq []any) (*AsyncResult, error) {
	ar := &AsyncResult{}
	for _, x := range seq {
		t, err := v.ApplyAsync(fn, x)
		if err != nil {
			return nil, err
		}
		ar.Tasks = append(ar.Tasks, t)
	}
	return ar, nil
}
