package client

import (
	"context"
	"fmt"

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
		return nil, fmt.Errorf("%s: %w", req.Kind, ErrNoEngines)
	}
	return v.c.SubmitEach(req, [][]byte{body}, targets, false)
}

// SubmitEach sends req to each of targets, with bodies[i] as its body, or
// the only body to all of them in one request (SubmitFan); single marks a
// one-engine call addressed by an int. No bodies (a map of nothing) gives
// an empty AsyncResult. On an error the returned AsyncResult holds the
// tasks already sent.
func (c *Client) SubmitEach(req protocol.Request, bodies [][]byte, targets []int, single bool) (*AsyncResult, error) {
	ar := NewAsyncResult(req, make([]*Task, 0, len(targets)), single)
	if len(bodies) == 0 {
		return ar, nil
	}
	if len(targets) == 0 {
		return ar, ErrNoEngines
	}
	if len(bodies) == 1 {
		return c.SubmitParts(req, [][]byte{bodies[0]}, targets, single)
	}
	for i, id := range targets {
		r := req
		r.MsgID, r.Engine = "", id
		t, err := c.Submit(r, bodies[i])
		if err != nil {
			return ar, err
		}
		ar.Tasks = append(ar.Tasks, t)
	}
	return ar, nil
}

// SubmitParts sends one request to every target with one body, given as
// parts (SubmitFanParts).
func (c *Client) SubmitParts(req protocol.Request, parts [][]byte, targets []int, single bool) (*AsyncResult, error) {
	return c.submitViewParts(req, parts, targets, single, false)
}

// SubmitVolatileParts is SubmitParts of parts that may change once it
// returns (starlarklib.EncodePartsShared: an array's memory): they are
// read, into a memfd or a copy, before it returns.
func (c *Client) SubmitVolatileParts(req protocol.Request, parts [][]byte, targets []int, single bool) (*AsyncResult, error) {
	return c.submitViewParts(req, parts, targets, single, true)
}

func (c *Client) submitViewParts(req protocol.Request, parts [][]byte, targets []int, single, volatile bool) (*AsyncResult, error) {
	ar := NewAsyncResult(req, make([]*Task, 0, len(targets)), single)
	if len(targets) == 0 {
		return ar, ErrNoEngines
	}
	tasks, err := c.submitFanParts(req, targets, parts, volatile)
	if err != nil {
		return ar, err
	}
	ar.Tasks = tasks
	return ar, nil
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

// BroadcastView returns a view over the given engines (none: all, at
// each call) in the role of ipyparallel's BroadcastView: every request
// crosses the client's link once and the controller fans it out to the
// engines (Client.SubmitFan), forwarding the same body bytes to each; the
// results come back in engine order. pxsh's DirectView already travels
// this way, so the two are the same view under two names.
func (c *Client) BroadcastView(targets ...int) *View { return c.View(targets...) }
