package clientlib

// This file holds Future, the value of a call that runs in the background
// without tasks: rc.wait_for_engines(n, block=False).

import (
	"fmt"
	"time"

	"go.starlark.net/starlark"
)

// Future is a background call's pending outcome, with the
// concurrent.futures methods result, exception, done and wait.
type Future struct {
	rc   *Client
	name string
	done chan struct{}
	err  error // set before done closes
}

var _ starlark.HasAttrs = (*Future)(nil)

// newFuture runs f in the background.
func (rc *Client) newFuture(name string, f func() error) *Future {
	fu := &Future{rc: rc, name: name, done: make(chan struct{})}
	go func() {
		fu.err = f()
		close(fu.done)
	}()
	return fu
}

// doneFuture returns a Future that has finished without error.
func (rc *Client) doneFuture(name string) *Future {
	fu := &Future{rc: rc, name: name, done: make(chan struct{})}
	close(fu.done)
	return fu
}

func (fu *Future) String() string {
	state := "pending"
	if fu.ready() {
		state = "finished"
	}
	return fmt.Sprintf("<Future(%s): %s>", fu.name, state)
}

// Type returns "Future".
func (fu *Future) Type() string { return "Future" }

// Freeze does nothing.
func (fu *Future) Freeze() {}

// Truth is True.
func (fu *Future) Truth() starlark.Bool { return true }

// Hash fails: a Future is unhashable.
func (fu *Future) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: Future") }

func (fu *Future) ready() bool {
	select {
	case <-fu.done:
		return true
	default:
		return false
	}
}

// wait waits up to d seconds (d < 0: no limit); false when time ran out.
func (fu *Future) wait(d float64) (bool, error) {
	ctx := fu.rc.env.ctx()
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(secondsDuration(d))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-fu.done:
		return true, nil
	case <-timer:
		return false, nil
	case <-ctx.Done():
		return false, fmt.Errorf("interrupted: %w", ctx.Err())
	}
}

// Attr serves result, exception, done and wait.
func (fu *Future) Attr(name string) (starlark.Value, error) {
	switch name {
	case "result", "exception", "wait":
		return method(fu, name, futureWaiter(name)), nil
	case "done":
		return method(fu, name, func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlark.Bool(fu.ready()), nil
		}), nil
	}
	return nil, nil
}

// AttrNames lists the Future API.
func (fu *Future) AttrNames() []string { return []string{"done", "exception", "result", "wait"} }

// futureWaiter makes result(timeout=None) (None or the failure),
// exception(timeout=None) (the failure as a value, or None) and
// wait(timeout=None) (whether it finished).
func futureWaiter(name string) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		fu := b.Receiver().(*Future)
		d, err := timeoutOnly(b, args, kwargs)
		if err != nil {
			return nil, err
		}
		ok, err := fu.wait(d)
		switch {
		case err != nil:
			return nil, err
		case name == "wait":
			return starlark.Bool(ok), nil
		case !ok:
			return nil, errNotReady
		case name == "exception":
			if fu.err == nil {
				return starlark.None, nil
			}
			return errorValue(fu.err), nil
		}
		return starlark.None, fu.err
	}
}
