package scheduler

import (
	"fmt"
	"testing"
	"time"
)

func TestPrefetchLimit(t *testing.T) {
	s := New(Config{HWM: 1, Prefetch: 8})
	s.AddEngine(0)
	now := time.Unix(0, 0)
	var assigned []Action
	for i := range 20 {
		assigned = append(assigned, s.Submit(Task{ID: fmt.Sprint(i)}, now)...)
	}
	if len(assigned) != 1 || assigned[0].Prefetched {
		t.Fatalf("before measurements: %v, want one plain assignment", assigned)
	}
	// Runs of 10 µs with a round trip of 50 µs: 1 + 5 tasks.
	acts := s.Observe(0, 10*time.Microsecond, 50*time.Microsecond)
	if s.Limit(0) != 6 || len(acts) != 5 || !acts[0].Prefetched {
		t.Fatalf("limit %d, %d new assignments %v", s.Limit(0), len(acts), acts)
	}
	// A long task: the limit drops to HWM at once; the prefetched tasks
	// come back in their order and stay queued.
	s.Long(0, 2*time.Millisecond)
	if s.Limit(0) != 1 {
		t.Fatalf("limit after Long = %d", s.Limit(0))
	}
	if acts := s.Return(0, []string{"3", "1", "2", "4", "5"}); len(acts) != 0 {
		t.Fatalf("returned tasks assigned again to the busy engine: %v", acts)
	}
	if s.Load(0) != 1 || s.QueueLen() != 19 {
		t.Fatalf("load %d, queued %d", s.Load(0), s.QueueLen())
	}
	// A second engine takes the returned tasks first, in order.
	acts = s.AddEngine(1)
	if len(acts) != 1 || acts[0].TaskID != "1" {
		t.Fatalf("new engine got %v, want task 1", acts)
	}
	// The long task ends: the limit comes back from measurements (slow
	// runs now: no prefetch).
	s.Observe(0, 500*time.Millisecond, 0)
	acts = s.Finish("0", 0, true)
	if s.Limit(0) != 1 || len(acts) != 1 || acts[0].TaskID != "2" {
		t.Fatalf("after the long task: limit %d, %v", s.Limit(0), acts)
	}
}

func TestPrefetchOffWithoutLimit(t *testing.T) {
	s := New(Config{HWM: 0, Prefetch: 8})
	s.AddEngine(0)
	if acts := s.Observe(0, time.Microsecond, time.Millisecond); acts != nil || s.Limit(0) != 0 {
		t.Fatalf("no-limit scheduler changed: %v %d", acts, s.Limit(0))
	}
}
