package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/scheduler"
)

// outbox collects frames to send once Hub.mu is released.
type outbox []outMsg

type outMsg struct {
	conn   frameWriter
	parts  [][]byte
	onErr  func(error) // a failed write, when it matters
	refuse error       // not sent: onErr gets this
}

func (o *outbox) add(c frameWriter, parts ...[]byte) { *o = append(*o, outMsg{conn: c, parts: parts}) }

// addRequest queues a request frame for engine e: one that e's queue
// refuses fails as if e had answered EngineBusy.
func (h *Hub) addRequest(o *outbox, e *engine, t *task, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	*o = append(*o, outMsg{e.conn, parts, func(err error) { h.engineRefused(e, t, err) }, e.fits("the "+string(t.req.Kind)+" request", n)})
}

func (o outbox) flush() {
	for _, m := range o {
		if m.refuse != nil {
			m.onErr(m.refuse)
			continue
		}
		if err := m.conn.WriteFrame(m.parts...); err != nil && m.onErr != nil {
			m.onErr(err)
		}
	}
}

// balanced submits a load-balanced request to the scheduler.
func (h *Hub) balanced(cl *client, r *protocol.Request, body []byte) {
	t := &task{req: *r, client: cl.id, engine: -1, body: body, balanced: true}
	if r.Timeout > 0 {
		t.deadline = time.Unix(0, r.Submitted).Add(seconds(r.Timeout))
	}
	st := h.schedTask(t)
	now := time.Now()
	var out outbox
	h.mu.Lock()
	if h.tasks[r.MsgID] != nil {
		h.mu.Unlock()
		h.fail(t, -1, &protocol.RemoteError{Name: "InvalidTask", Message: fmt.Sprintf("duplicate msg id %s", r.MsgID), Engine: -1})
		return
	}
	h.tasks[r.MsgID] = t
	h.recordSubmitted(t)
	h.apply(h.sched.Submit(st, now), &out)
	h.mu.Unlock()
	out.flush()
}

// schedTask describes a task to the scheduler.
func (h *Hub) schedTask(t *task) scheduler.Task {
	r := &t.req
	return scheduler.Task{
		ID: r.MsgID, Priority: r.Priority, Targets: r.Targets, Retries: r.Retries,
		After: r.After, Follow: r.Follow, DepAny: r.DepAny, DepSuccess: r.DepSuccess, DepFailure: r.DepFailure,
		Deadline: t.deadline,
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// apply carries out scheduler actions; h.mu must be held.
func (h *Hub) apply(acts []scheduler.Action, out *outbox) {
	if _, ok := h.sched.NextDeadline(); ok {
		h.kickTicker() // the earliest deadline may have changed
	}
	for _, a := range acts {
		t := h.tasks[a.TaskID]
		if t == nil {
			continue
		}
		switch a.Kind {
		case scheduler.Assign:
			h.assign(t, a.Engine, a.Prefetched, out)
		case scheduler.Fail:
			delete(h.tasks, a.TaskID)
			name, msg := schedError(a.Err)
			h.deliver(t, h.failFrame(t, -1, &protocol.RemoteError{Name: name, Message: msg, Engine: -1, Method: string(t.req.Kind)}), out)
		}
	}
}

// assign sends a task to the engine the scheduler chose; h.mu is held.
func (h *Hub) assign(t *task, id int, prefetched bool, out *outbox) {
	e := h.engines[id]
	if e == nil {
		return
	}
	t.engine = id
	t.sent, t.alone = time.Now(), len(e.tasks) == 0
	e.tasks[t.req.MsgID] = t
	e.balanced++
	req := t.req
	req.Engine = id
	req.Prefetched = prefetched
	if !t.deadline.IsZero() {
		req.Timeout = max(time.Until(t.deadline).Seconds(), 0.001)
	}
	p, err := protocol.Marshal(protocol.TRequest, &req, nil)
	if err != nil {
		return
	}
	h.addRequest(out, e, t, p, t.body)
}

// schedError names a scheduler failure in ipyparallel's terms.
func schedError(err error) (string, string) {
	switch {
	case errors.Is(err, scheduler.ErrInvalidDependency):
		return "InvalidDependency", err.Error()
	case errors.Is(err, scheduler.ErrImpossibleDependency):
		return "ImpossibleDependency", err.Error()
	case errors.Is(err, scheduler.ErrUnmetDependency):
		return "UnmetDependency", err.Error()
	case errors.Is(err, scheduler.ErrTaskTimeout):
		return "TaskTimeout", err.Error()
	}
	return "SchedulerError", err.Error()
}

// balancedResult settles a load-balanced task's result: a failure with
// retries left is resubmitted (and not forwarded); otherwise the scheduler
// records the outcome. It reports whether to forward the result; h.mu is
// held.
func (h *Hub) balancedResult(t *task, e *engine, r *protocol.Result, out *outbox) bool {
	e.balanced--
	ok := r.Status == protocol.StatusOK
	h.observe(t, e, r, out)
	if !ok && retryable(r.Error) {
		if acts, retried := h.sched.Retry(t.req.MsgID, e.info.ID, time.Now()); retried {
			t.engine = -1
			h.tasks[t.req.MsgID] = t
			h.apply(acts, out)
			return false
		}
	}
	h.apply(h.sched.Finish(t.req.MsgID, e.info.ID, ok), out)
	return true
}

func retryable(e *protocol.RemoteError) bool {
	return e != nil && e.Name != "TaskAborted" && e.Name != "TaskTimeout"
}

// lost settles the load-balanced tasks of a dead engine: each is retried
// elsewhere if it can be, else failed with EngineError. h.mu is held.
func (h *Hub) lost(id int, out *outbox) []*task {
	ids, acts := h.sched.RemoveEngine(id)
	h.apply(acts, out)
	var failed []*task
	for _, mid := range ids {
		t := h.tasks[mid]
		if t == nil {
			continue
		}
		if acts, ok := h.sched.Retry(mid, id, time.Now()); ok {
			t.engine = -1
			h.apply(acts, out)
			continue
		}
		h.apply(h.sched.Finish(mid, id, false), out)
		delete(h.tasks, mid)
		failed = append(failed, t)
	}
	return failed
}

// abortQueued aborts a load-balanced task that no engine holds yet; h.mu
// is held.
func (h *Hub) abortQueued(t *task, out *outbox) bool {
	acts, ok := h.sched.Abort(t.req.MsgID)
	if !ok {
		return false
	}
	delete(h.tasks, t.req.MsgID)
	h.deliver(t, h.failFrame(t, -1, &protocol.RemoteError{Name: "TaskAborted", Message: "task was aborted", Engine: -1, Method: string(t.req.Kind)}), out)
	h.apply(acts, out)
	return true
}

// kickTicker wakes the deadline ticker.
func (h *Hub) kickTicker() {
	select {
	case h.tick <- struct{}{}:
	default:
	}
}

// deadlines fails unassigned tasks that outlive their timeout.
func (h *Hub) deadlines(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		h.mu.Lock()
		next, ok := h.sched.NextDeadline()
		h.mu.Unlock()
		wait := time.Hour
		if ok {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-h.tick:
		case now := <-timer.C:
			var out outbox
			h.mu.Lock()
			h.apply(h.sched.Tick(now), &out)
			h.mu.Unlock()
			out.flush()
		}
	}
}

// failFrame builds an error result for a task; h.mu may be held.
func (h *Hub) failFrame(t *task, engine int, rerr *protocol.RemoteError) []byte {
	res := protocol.Result{
		MsgID: t.req.MsgID, Engine: engine, Status: protocol.StatusError,
		Submitted: t.req.Submitted, Completed: time.Now().UnixNano(), Error: rerr, Kind: t.req.Kind,
		Client: t.client, Label: t.req.Label,
	}
	if rerr.Name == "TaskAborted" {
		res.Status = protocol.StatusAborted
	}
	h.recordResult(&res, nil)
	p, _ := protocol.Marshal(protocol.TResult, &res, nil)
	return p
}

// DefaultPrefetch is Config.Prefetch's default: the most load-balanced
// tasks an engine holds while its tasks are short.
const DefaultPrefetch = 32

// longRun is what an engine's Started notice says of a task: it has run
// at least the engine's StartedDelay.
const longRun = 2 * time.Millisecond

// observe feeds the scheduler a finished task's run time and, when the
// engine held nothing else while it ran, the round trip around it; h.mu
// is held.
func (h *Hub) observe(t *task, e *engine, r *protocol.Result, out *outbox) {
	if r.Started == 0 || r.Completed < r.Started {
		return
	}
	run := time.Duration(r.Completed - r.Started)
	var rtt time.Duration
	if t.alone && !t.sent.IsZero() {
		rtt = max(time.Since(t.sent)-run, time.Microsecond)
	}
	h.apply(h.sched.Observe(e.info.ID, max(run, time.Microsecond), rtt), out)
}

// returned places again the prefetched tasks engine e handed back
// unstarted.
func (h *Hub) returned(e *engine, ids []string) {
	var out outbox
	h.mu.Lock()
	back := ids[:0:0]
	for _, id := range ids {
		if t := h.tasks[id]; t != nil && t.balanced && t.engine == e.info.ID {
			delete(e.tasks, id)
			e.balanced--
			t.engine = -1
			back = append(back, id)
		}
	}
	h.apply(h.sched.Return(e.info.ID, back), &out)
	h.mu.Unlock()
	out.flush()
}
