package clientlib

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// taskItems returns the results of finished task i as iteration items: a
// map chunk's elements, a gathered list's elements, or the one value; a
// failure gives a RemoteError value per element.
func (ar *AsyncResult) taskItems(i int) []starlark.Value {
	v, rerr, err := ar.taskValue(nil, i)
	n := 1
	if ar.res.Combine == client.CombineChunks {
		n = ar.res.Chunks[i]
	}
	if err != nil {
		return []starlark.Value{starlarklib.ErrorValue{Err: protocolError("Error", err.Error())}}
	}
	if rerr != nil {
		out := make([]starlark.Value, n)
		for j := range out {
			out[j] = starlarklib.ErrorValue{Err: *rerr}
		}
		return out
	}
	switch ar.res.Combine {
	case client.CombineChunks, client.CombineGather:
		switch x := v.(type) {
		case *starlark.List:
			out := make([]starlark.Value, x.Len())
			for j := range out {
				out[j] = x.Index(j)
			}
			return out
		case starlark.Tuple:
			if ar.res.Combine == client.CombineGather {
				return append([]starlark.Value(nil), x...)
			}
		}
		if ar.res.Combine == client.CombineChunks {
			msg := fmt.Sprintf("map: engine %d returned %s, want a list", ar.res.Tasks[i].Engine, v.Type())
			return []starlark.Value{starlarklib.ErrorValue{Err: protocolError("Error", msg)}}
		}
	}
	return []starlark.Value{v}
}

// unorderedIter yields an AsyncResult's items in the order its tasks'
// results arrived (map(ordered=False)). Watcher goroutines, each waiting
// on up to watchBatch tasks, report finished tasks; those reported
// together are yielded in arrival order.
type unorderedIter struct {
	ar      *AsyncResult
	started bool
	left    int   // tasks not yet reported
	ready   []int // finished tasks to yield, by arrival
	wake    chan int
	stop    chan struct{}
	buf     []starlark.Value
}

// watchBatch is how many tasks one watcher goroutine waits on.
const watchBatch = 64

func (it *unorderedIter) start() {
	it.started = true
	n := len(it.ar.res.Tasks)
	it.left = n
	it.wake = make(chan int, n)
	it.stop = make(chan struct{})
	for lo := 0; lo < n; lo += watchBatch {
		go it.watch(lo, min(lo+watchBatch, n))
	}
}

// watch reports each of tasks[lo:hi] on wake as it finishes.
func (it *unorderedIter) watch(lo, hi int) {
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(it.stop)}}
	idx := []int{-1}
	for i := lo; i < hi; i++ {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(it.ar.res.Tasks[i].Done())})
		idx = append(idx, i)
	}
	for len(cases) > 1 {
		c, _, _ := reflect.Select(cases)
		if c == 0 {
			return
		}
		it.wake <- idx[c]
		cases = append(cases[:c], cases[c+1:]...)
		idx = append(idx[:c], idx[c+1:]...)
	}
}

// take adds task i and every other reported task to ready, by arrival.
func (it *unorderedIter) take(i int) {
	found := []int{i}
	for more := true; more; {
		select {
		case j := <-it.wake:
			found = append(found, j)
		default:
			more = false
		}
	}
	it.left -= len(found)
	sort.Slice(found, func(a, b int) bool {
		ta, tb := it.ar.res.Tasks[found[a]].Received(), it.ar.res.Tasks[found[b]].Received()
		if ta.Equal(tb) {
			return found[a] < found[b]
		}
		return ta.Before(tb)
	})
	it.ready = append(it.ready, found...)
}

func (it *unorderedIter) Next(p *starlark.Value) bool {
	if !it.started {
		it.start()
	}
	ctx := it.ar.rc.env.ctx()
	for len(it.buf) == 0 {
		if len(it.ready) == 0 {
			if it.left == 0 {
				return false
			}
			select {
			case i := <-it.wake:
				it.take(i)
			case <-ctx.Done():
				return false
			}
			continue
		}
		i := it.ready[0]
		it.ready = it.ready[1:]
		it.buf = it.ar.taskItems(i)
	}
	*p = it.buf[0]
	it.buf = it.buf[1:]
	return true
}

func (it *unorderedIter) Done() {
	if it.started {
		select {
		case <-it.stop:
		default:
			close(it.stop)
		}
	}
}

// LazyMap is the iterator of lview.imap(f, *seqs): it reads its input
// lazily and keeps at most max_outstanding tasks submitted but not yet
// yielded, submitting only while it is iterated. It is meant for one Starlark thread at a
// time.
type LazyMap struct {
	v         *LoadBalancedView
	f         starlark.Value
	flags     lbFlags
	srcs      []starlark.Iterator
	max       int // 0: no limit
	ordered   bool
	exhausted bool
	cancelled bool
	mu        sync.Mutex
	queue     []*client.Task // submitted, not yet yielded
	submitted []string
	name      string
	submitErr error
}

var (
	_ starlark.Iterable = (*LazyMap)(nil)
	_ starlark.HasAttrs = (*LazyMap)(nil)
)

// String returns "<LazyMapIterator(f)>".
func (m *LazyMap) String() string { return fmt.Sprintf("<LazyMapIterator(%s)>", m.name) }

// Type returns "LazyMapIterator".
func (m *LazyMap) Type() string { return "LazyMapIterator" }

// Freeze does nothing.
func (m *LazyMap) Freeze() {}

// Truth is True.
func (m *LazyMap) Truth() starlark.Bool { return true }

// Hash fails: the iterator is unhashable.
func (m *LazyMap) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: LazyMapIterator") }

// Iterate continues where the last iteration stopped.
func (m *LazyMap) Iterate() starlark.Iterator { return &lazyIter{m: m} }

// Attr serves cancel() and msg_ids (the tasks submitted so far).
func (m *LazyMap) Attr(name string) (starlark.Value, error) {
	switch name {
	case "cancel":
		return method(m, name, lazyCancel), nil
	case "msg_ids":
		m.mu.Lock()
		defer m.mu.Unlock()
		return stringList(m.submitted), nil
	}
	return nil, nil
}

// AttrNames lists the attributes.
func (m *LazyMap) AttrNames() []string { return []string{"cancel", "msg_ids"} }

func lazyCancel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, b.Receiver().(*LazyMap).Cancel()
}

// Cancel stops submitting and aborts the unfinished tasks; iteration then
// ends.
func (m *LazyMap) Cancel() error {
	m.cancelled = true
	m.closeSources()
	var ids []string
	for _, t := range m.queue {
		if !t.Ready() {
			ids = append(ids, t.MsgID)
		}
	}
	m.queue = nil
	return m.v.rc.c.Cancel(ids)
}

func (m *LazyMap) closeSources() {
	for _, s := range m.srcs {
		s.Done()
	}
	m.srcs = nil
	m.exhausted = true
}

// topUp submits tasks until max_outstanding are submitted and not yet
// yielded, or the input ends.
func (m *LazyMap) topUp() {
	for !m.exhausted && !m.cancelled && m.submitErr == nil && (m.max == 0 || len(m.queue) < m.max) {
		args := make(starlark.Tuple, len(m.srcs))
		for i, s := range m.srcs {
			if !s.Next(&args[i]) {
				m.closeSources()
				return
			}
		}
		body, err := starlarklib.EncodeCall(m.f, args, nil, m.v.rc.env.NS.EncodeOptions())
		if err != nil {
			m.submitErr = fmt.Errorf("imap: %w", err)
			return
		}
		t, err := m.v.rc.c.Submit(m.flags.request(m.v.rc.c, protocol.KindApply, m.name), body)
		if err != nil {
			m.submitErr = fmt.Errorf("imap: %w", err)
			return
		}
		m.v.record([]*client.Task{t})
		m.mu.Lock()
		m.submitted = append(m.submitted, t.MsgID)
		m.mu.Unlock()
		m.queue = append(m.queue, t)
	}
}

// next returns the index in queue of the task to yield, or -1 when none
// is finished.
func (m *LazyMap) next() int {
	if len(m.queue) == 0 {
		return -1
	}
	if m.ordered {
		if m.queue[0].Ready() {
			return 0
		}
		return -1
	}
	best := -1
	for i, t := range m.queue {
		if t.Ready() && (best < 0 || t.Received().Before(m.queue[best].Received())) {
			best = i
		}
	}
	return best
}

type lazyIter struct{ m *LazyMap }

func (it *lazyIter) Next(p *starlark.Value) bool {
	m := it.m
	ctx := m.v.rc.env.ctx()
	for {
		if m.cancelled {
			return false
		}
		m.topUp()
		if i := m.next(); i >= 0 {
			t := m.queue[i]
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			ar := m.v.rc.NewAsyncResult(m.name, []*client.Task{t}, true)
			*p = ar.taskItems(0)[0]
			return true
		}
		if len(m.queue) == 0 {
			if m.submitErr != nil {
				*p = starlarklib.ErrorValue{Err: protocolError("Error", m.submitErr.Error())}
				m.submitErr = nil
				m.cancelled = true
				return true
			}
			return false
		}
		// Wait for any unfinished task (or the host's cancellation).
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
		for _, t := range m.queue {
			if !t.Ready() {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.Done())})
			}
		}
		if len(cases) == 1 {
			continue
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			return false
		}
	}
}

func (it *lazyIter) Done() {}

// lbImap implements lview.imap(f, *seqs, ordered=True,
// max_outstanding='auto', **flags).
func lbImap(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvLB(b)
	f, kw, err := v.callFlags(kwargs)
	if err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	m := &LazyMap{v: v, flags: f, ordered: true, max: v.Len()}
	var x starlark.Value
	if x, kw = popKw(kw, "ordered"); x != nil {
		if m.ordered, err = boolKw(x, "ordered"); err != nil {
			return nil, err
		}
	}
	if x, kw = popKw(kw, "max_outstanding"); x != nil {
		if s, ok := x.(starlark.String); ok && s == "auto" {
			// len(view)
		} else if m.max, err = starlark.AsInt32(x); err != nil || m.max < 0 {
			return nil, &namedError{"ValueError", fmt.Sprintf("imap: max_outstanding must be 'auto' or an int >= 0, got %s", x)}
		}
	}
	if x, kw = popKw(kw, "return_exceptions"); x != nil {
		// Iteration yields RemoteError values in place of failures
		// either way: a Starlark loop cannot raise.
		if _, err := boolKw(x, "return_exceptions"); err != nil {
			return nil, err
		}
	}
	if len(kw) > 0 {
		return nil, &namedError{"TypeError", fmt.Sprintf("imap: unexpected keyword argument %s", kw[0][0])}
	}
	if len(args) < 2 {
		return nil, &namedError{"TypeError", "imap: want a function and at least one iterable"}
	}
	if _, ok := args[0].(starlark.Callable); !ok {
		return nil, &namedError{"TypeError", "imap: " + args[0].Type() + " is not callable"}
	}
	if len(v.rc.c.Ids()) == 0 {
		return nil, errNoEngines
	}
	m.f, m.name = args[0], funcName(args[0])
	for _, a := range args[1:] {
		it, ok := a.(starlark.Iterable)
		if !ok {
			m.closeSources()
			return nil, &namedError{"TypeError", "imap: " + a.Type() + " is not iterable"}
		}
		m.srcs = append(m.srcs, it.Iterate())
	}
	return m, nil
}
