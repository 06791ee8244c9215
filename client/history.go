package client

import (
	"sort"
	"sync"
	"weak"
)

// MaxHistory bounds a History's msg ids (rc.history).
const MaxHistory = 100_000

// History records the tasks a client submitted, for ipyparallel's
// rc.history, rc.outstanding, rc.results and rc.metadata. It keeps msg
// ids (the last MaxHistory), the outstanding tasks, and weak references to
// the others: a finished task stays reachable only while something (an
// AsyncResult) holds it, so memory stays bounded. It is safe for
// concurrent use.
type History struct {
	mu    sync.Mutex
	order []string // ring of msg ids
	start int      // index of the oldest id once the ring is full
	tasks map[string]weak.Pointer[Task]
	out   map[string]*Task // outstanding at the last look
	// pruneAt is the size of out past which finished tasks are dropped
	// from it: twice the live count after the last pruning, so the strong
	// set stays bounded by the outstanding tasks at amortized O(1).
	pruneAt int
}

// NewHistory returns an empty History.
func NewHistory() *History {
	return &History{tasks: map[string]weak.Pointer[Task]{}, out: map[string]*Task{}}
}

// Record adds submitted tasks.
func (h *History) Record(tasks []*Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range tasks {
		if len(h.order) < MaxHistory {
			h.order = append(h.order, t.MsgID)
		} else {
			delete(h.tasks, h.order[h.start])
			delete(h.out, h.order[h.start])
			h.order[h.start] = t.MsgID
			h.start = (h.start + 1) % MaxHistory
		}
		h.tasks[t.MsgID] = weak.Make(t)
		if !t.Ready() {
			h.out[t.MsgID] = t
		}
	}
	// Drop finished tasks from the strong set now and then, and forget
	// collected ones.
	if len(h.out) > h.pruneAt {
		h.pruneLocked()
	}
}

func (h *History) pruneLocked() {
	for id, t := range h.out {
		if t.Ready() {
			delete(h.out, id)
		}
	}
	h.pruneAt = max(2*len(h.out), 1024)
	for id, p := range h.tasks {
		if p.Value() == nil {
			delete(h.tasks, id)
		}
	}
}

// IDs returns the msg ids in submission order.
func (h *History) IDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.order))
	out = append(out, h.order[h.start:]...)
	return append(out, h.order[:h.start]...)
}

// Outstanding returns the unfinished tasks, in submission order.
func (h *History) Outstanding() []*Task {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Task
	for id, t := range h.out {
		if t.Ready() {
			delete(h.out, id)
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Submitted.Before(out[j].Submitted) })
	return out
}

// Held returns the tasks still reachable, in submission order.
func (h *History) Held() []*Task {
	ids := h.IDs()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Task
	for _, id := range ids {
		if t := h.lookupLocked(id); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func (h *History) lookupLocked(id string) *Task {
	if t := h.out[id]; t != nil {
		return t
	}
	if p, ok := h.tasks[id]; ok {
		return p.Value()
	}
	return nil
}

// Forget drops finished tasks from rc.results and rc.metadata (their ids
// stay in the history).
func (h *History) Forget(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if t := h.out[id]; t == nil || t.Ready() {
			delete(h.out, id)
			delete(h.tasks, id)
		}
	}
}

// ClearOrder empties the history of msg ids (purge_everything).
func (h *History) ClearOrder() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.order, h.start = nil, 0
}

// Lookup returns the task of a msg id, or nil when it is unknown or no
// longer held.
func (h *History) Lookup(id string) *Task {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lookupLocked(id)
}
