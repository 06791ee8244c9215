package client

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
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
	stream  streamed
	result  protocol.Result
	body    []byte
	// received is when the result arrived; written before done closes.
	received time.Time
	claimed  atomic.Bool  // ClaimBody was called
	waiting  atomic.Int32 // callers blocked in Wait
	// keep is the mapping body lives in (Client.MapResults), or nil;
	// written before done closes.
	keep *quic.Mapping
	// sentOn is the connection the task's request went out on (guarded
	// by the client's mu; nil for a task waiting for the hub's record).
	sentOn *quic.Conn
}

// NewDoneTask returns a task that is already complete, for results the
// client learns without submitting (from the hub's database).
func NewDoneTask(r protocol.Result, body []byte) *Task {
	t := &Task{MsgID: r.MsgID, Engine: r.Engine, Kind: r.Kind, Label: r.Label, done: make(chan struct{})}
	if r.Submitted != 0 {
		t.Submitted = time.Unix(0, r.Submitted)
	}
	t.finishAt(r, body, hubReceived(r))
	return t
}

// finish completes the task with a result received now and reports
// whether a caller was blocked in Wait for it.
func (t *Task) finish(r protocol.Result, body []byte) bool {
	t.finishAt(r, body, time.Now())
	return t.waiting.Load() > 0
}

// finishAt completes the task with a result received at the given time.
func (t *Task) finishAt(r protocol.Result, body []byte, received time.Time) {
	t.result, t.body, t.received = r, body, received
	close(t.done)
}

// hubReceived is when the hub's record says a task's result arrived: its
// completion (the task's own times, not when this client asked).
func hubReceived(r protocol.Result) time.Time {
	if r.Completed != 0 {
		return time.Unix(0, r.Completed)
	}
	return time.Now()
}

// streamed is a running task's output so far.
type streamed struct {
	mu      sync.Mutex
	stdout  strings.Builder
	data    [][]byte      // published dicts, encoded, in order
	changed chan struct{} // closed and replaced at each addition
}

func (t *Task) addOutput(m protocol.Output, body []byte) {
	s := &t.stream
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Data {
		s.data = append(s.data, body)
	} else {
		s.stdout.WriteString(m.Stdout)
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Output returns what the task has printed so far (the result's whole
// output once it finished), and a channel closed when more arrives (nil
// once finished).
func (t *Task) Output() (string, <-chan struct{}) {
	if t.Ready() {
		return t.result.Stdout, nil
	}
	s := &t.stream
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.stdout.String(), s.changed
}

// Data returns the dicts the task published (publish_data) so far, each
// encoded, in order: later ones update earlier ones.
func (t *Task) Data() [][]byte {
	s := &t.stream
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
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

// Received returns when the result arrived at the client (zero before).
func (t *Task) Received() time.Time {
	if !t.Ready() {
		return time.Time{}
	}
	return t.received
}

// Result returns the result header and the encoded value. Call it after
// Done is closed. The value is shared by every caller and by values
// decoded from it: do not modify it. When the client maps results
// (Client.MapResults) the value may be a mapping, valid while t is
// reachable: keep t reachable while using it (runtime.KeepAlive).
func (t *Task) Result() (protocol.Result, []byte) { return t.result, t.body }

// Keep returns what the result's body lives as long as when it is mapped
// (Client.MapResults), or nil: the value to give a decoder that lets
// arrays point into the body (starlarklib.DecodeOptions.Keep).
func (t *Task) Keep() any {
	if t.keep == nil {
		return nil
	}
	return t.keep
}

// ClaimBody reports whether the caller is the first to claim the result's
// body: only the first may decode it in place, letting the values it
// makes keep parts of it (a large decoded array aliases its bytes); a
// later decoder of the same task (another AsyncResult over it) must copy,
// or two values would share one mutable array.
func (t *Task) ClaimBody() bool { return !t.claimed.Swap(true) }

// Err returns the task's error as a *RemoteError, or nil.
func (t *Task) Err() error {
	if t.result.Error == nil {
		return nil
	}
	return &RemoteError{RemoteError: *t.result.Error}
}

// Wait waits for the result.
func (t *Task) Wait(ctx context.Context) error {
	if t.Ready() {
		return nil
	}
	t.waiting.Add(1)
	defer t.waiting.Add(-1)
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
