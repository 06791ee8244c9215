package scheduler

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// show renders actions as "id@engine" for Assign and "id!kind" for Fail.
func show(acts []Action) []string {
	out := []string{}
	for _, a := range acts {
		switch a.Kind {
		case Assign:
			out = append(out, fmt.Sprintf("%s@%d", a.TaskID, a.Engine))
		case Fail:
			out = append(out, a.TaskID+"!"+errKind(a.Err))
		}
	}
	return out
}

func errKind(err error) string {
	for _, k := range []struct {
		name string
		err  error
	}{
		{"invalid", ErrInvalidDependency}, {"impossible", ErrImpossibleDependency},
		{"unmet", ErrUnmetDependency}, {"timeout", ErrTaskTimeout},
		{"duplicate", ErrDuplicateTask}, {"badtask", ErrInvalidTask},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return fmt.Sprintf("other(%v)", err)
}

func newSched(t *testing.T, cfg Config, engines ...int) *Scheduler {
	t.Helper()
	s := New(cfg)
	for _, e := range engines {
		if acts := s.AddEngine(e); len(acts) != 0 {
			t.Fatalf("AddEngine(%d) on empty scheduler = %v", e, show(acts))
		}
	}
	return s
}

func want(t *testing.T, what string, acts []Action, w ...string) {
	t.Helper()
	if w == nil {
		w = []string{}
	}
	if d := cmp.Diff(w, show(acts)); d != "" {
		t.Errorf("%s: actions mismatch (-want +got):\n%s", what, d)
	}
}

func submit(s *Scheduler, tk Task) []Action { return s.Submit(tk, t0) }

func TestLeastLoadUnlimited(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0, 1, 2)
	var got []Action
	for i := range 7 {
		got = append(got, submit(s, Task{ID: fmt.Sprint("t", i)})...)
	}
	want(t, "submit", got, "t0@0", "t1@1", "t2@2", "t3@0", "t4@1", "t5@2", "t6@0")
	want(t, "finish t4", s.Finish("t4", 1, true))
	want(t, "submit t7", submit(s, Task{ID: "t7"}), "t7@1") // engine 1 now least loaded
	if s.Load(0) != 3 || s.Load(1) != 2 || s.Load(2) != 2 || s.QueueLen() != 0 {
		t.Errorf("loads %d %d %d queue %d", s.Load(0), s.Load(1), s.Load(2), s.QueueLen())
	}
}

func TestLRUPolicy(t *testing.T) {
	s := newSched(t, Config{Policy: LRU, HWM: 0}, 0, 1)
	want(t, "a", submit(s, Task{ID: "a"}), "a@0")
	want(t, "b", submit(s, Task{ID: "b"}), "b@1")
	want(t, "finish b", s.Finish("b", 1, true))
	// leastload would pick 1 (load 0); lru picks 0 (used before 1).
	want(t, "c", submit(s, Task{ID: "c"}), "c@0")
}

func TestRandomPoliciesUseRand(t *testing.T) {
	s := newSched(t, Config{Policy: PlainRandom, HWM: 0, Rand: scripted(2, 0, 1)}, 0, 1, 2)
	var got []Action
	for _, id := range []string{"a", "b", "c"} {
		got = append(got, submit(s, Task{ID: id})...)
	}
	want(t, "plainrandom", got, "a@2", "b@0", "c@1")
	s = newSched(t, Config{Policy: TwoBin, HWM: 0, Rand: scripted(0, 1)}, 0, 1)
	want(t, "twobin 1", submit(s, Task{ID: "a"}), "a@0")
	want(t, "twobin 2", submit(s, Task{ID: "b"}), "b@1") // 1 never used
	want(t, "twobin 3", submit(s, Task{ID: "c"}), "c@0") // 0 used before 1
}

func TestHWM(t *testing.T) {
	for _, tc := range []struct {
		hwm, assigned int
	}{{1, 2}, {4, 8}, {0, 10}} {
		s := newSched(t, Config{HWM: tc.hwm}, 0, 1)
		n := 0
		for i := range 10 {
			n += len(submit(s, Task{ID: fmt.Sprint(i)}))
		}
		if n != tc.assigned || s.QueueLen() != 10-tc.assigned {
			t.Errorf("hwm %d: assigned %d queued %d, want %d", tc.hwm, n, s.QueueLen(), tc.assigned)
		}
		if tc.hwm > 0 && (s.Load(0) != tc.hwm || s.Load(1) != tc.hwm) {
			t.Errorf("hwm %d: loads %d %d", tc.hwm, s.Load(0), s.Load(1))
		}
	}
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "fill", append(submit(s, Task{ID: "a"}), submit(s, Task{ID: "b"})...), "a@0", "b@1")
	want(t, "queue", submit(s, Task{ID: "c"}))
	want(t, "finish b", s.Finish("b", 1, true), "c@1")
	want(t, "finish c", s.Finish("c", 1, true))
	if s.QueueLen() != 0 || s.Running() != 1 {
		t.Errorf("queue %d running %d", s.QueueLen(), s.Running())
	}
}

func TestPriorityAndFIFO(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0)
	want(t, "first", submit(s, Task{ID: "a"}), "a@0")
	for _, tk := range []Task{{ID: "b"}, {ID: "c", Priority: 5}, {ID: "d", Priority: 5}, {ID: "e", Priority: -1}, {ID: "f"}, {ID: "g", Priority: 9}} {
		want(t, tk.ID, submit(s, tk))
	}
	var order []Action
	cur := "a"
	for range 6 {
		acts := s.Finish(cur, 0, true)
		if len(acts) != 1 {
			t.Fatalf("finish %s: %v", cur, show(acts))
		}
		order = append(order, acts...)
		cur = acts[0].TaskID
	}
	want(t, "order", order, "g@0", "c@0", "d@0", "b@0", "f@0", "e@0")
}

func TestNoHeadOfLineBlocking(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "t1", submit(s, Task{ID: "t1", Targets: []int{0}}), "t1@0")
	want(t, "t2 waits for 0", submit(s, Task{ID: "t2", Targets: []int{0}, Priority: 10}))
	want(t, "t3 runs on 1", submit(s, Task{ID: "t3"}), "t3@1")
	want(t, "t4 waits", submit(s, Task{ID: "t4"}))
	// Engine 1 frees: t2 is higher priority but may not run there.
	want(t, "finish t3", s.Finish("t3", 1, true), "t4@1")
	want(t, "finish t1", s.Finish("t1", 0, true), "t2@0")
	// Targets given as a set.
	want(t, "t5", submit(s, Task{ID: "t5", Targets: []int{1, 0, 1}}))
	want(t, "finish t2", s.Finish("t2", 0, true), "t5@0")
}

func TestAddEngineDrainsByPriority(t *testing.T) {
	s := newSched(t, Config{HWM: 2})
	for _, tk := range []Task{{ID: "a"}, {ID: "b", Priority: 1}, {ID: "d", Priority: 2}} {
		want(t, tk.ID, submit(s, tk))
	}
	want(t, "c", submit(s, Task{ID: "c", Targets: []int{7}}), "c!impossible")
	if s.QueueLen() != 3 {
		t.Errorf("queue %d, want 3 (c failed: target 7 not registered)", s.QueueLen())
	}
	want(t, "add 3", s.AddEngine(3), "d@3", "b@3")
	want(t, "add 3 again", s.AddEngine(3))
	want(t, "add 4", s.AddEngine(4), "a@4")
	if s.QueueLen() != 0 {
		t.Errorf("queue %d", s.QueueLen())
	}
}

func TestTargetsUnavailable(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "unregistered target", submit(s, Task{ID: "a", Targets: []int{5}}), "a!impossible")
	want(t, "one live target", submit(s, Task{ID: "b", Targets: []int{5, 1}}), "b@1")
}

func TestAfter(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0, 1)
	want(t, "a", submit(s, Task{ID: "a"}), "a@0")
	want(t, "b after a", submit(s, Task{ID: "b", After: []string{"a"}}))
	if s.QueueLen() != 1 {
		t.Errorf("queue %d", s.QueueLen())
	}
	want(t, "finish a", s.Finish("a", 0, true), "b@1")
	want(t, "c after finished a", submit(s, Task{ID: "c", After: []string{"a"}}), "c@0")
}

func TestDependencyOutcomes(t *testing.T) {
	// For each flag combination and outcome of dependency d: does the
	// dependent run or fail as impossible?
	for _, tc := range []struct {
		succ, fail, outcome bool
		want                string
	}{
		{false, false, true, "x@0"},
		{false, false, false, "x!impossible"},
		{true, false, true, "x@0"},
		{true, false, false, "x!impossible"},
		{false, true, true, "x!impossible"},
		{false, true, false, "x@0"},
		{true, true, true, "x@0"},
		{true, true, false, "x@0"},
	} {
		for _, pending := range []bool{true, false} {
			name := fmt.Sprintf("success=%v failure=%v outcome=%v pending=%v", tc.succ, tc.fail, tc.outcome, pending)
			s := newSched(t, Config{HWM: 0}, 0)
			submit(s, Task{ID: "d"})
			x := Task{ID: "x", After: []string{"d"}, DepSuccess: tc.succ, DepFailure: tc.fail}
			var got []Action
			if pending {
				got = append(got, submit(s, x)...)
				got = append(got, s.Finish("d", 0, tc.outcome)...)
			} else {
				got = append(got, s.Finish("d", 0, tc.outcome)...)
				got = append(got, submit(s, x)...)
			}
			want(t, name, got, tc.want)
		}
	}
}

func TestAllAny(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0)
	for _, id := range []string{"a", "b", "c", "d"} {
		submit(s, Task{ID: id})
	}
	want(t, "all", submit(s, Task{ID: "all", After: []string{"a", "b"}}))
	want(t, "any", submit(s, Task{ID: "any", After: []string{"a", "b"}, DepAny: true}))
	want(t, "anyfail", submit(s, Task{ID: "anyfail", After: []string{"c", "d"}, DepAny: true}))
	want(t, "a fails", s.Finish("a", 0, false), "all!impossible")
	want(t, "b ok", s.Finish("b", 0, true), "any@0")
	want(t, "c fails", s.Finish("c", 0, false))
	want(t, "d fails", s.Finish("d", 0, false), "anyfail!impossible")
}

func TestInvalidDependency(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0)
	submit(s, Task{ID: "a"})
	acts := submit(s, Task{ID: "b", After: []string{"a", "12345"}})
	want(t, "unknown", acts, "b!invalid")
	if !errors.Is(acts[0].Err, ErrImpossibleDependency) || !errors.Is(acts[0].Err, ErrUnmetDependency) {
		t.Errorf("error %v does not match the dependency hierarchy", acts[0].Err)
	}
	want(t, "self", submit(s, Task{ID: "c", Follow: []string{"c"}}), "c!invalid")
	// The failed ids are known now (as failures).
	want(t, "after failed b", submit(s, Task{ID: "e", After: []string{"b"}, DepFailure: true}), "e@0")
	if s.QueueLen() != 0 {
		t.Errorf("queue %d", s.QueueLen())
	}
}

func TestCascade(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0)
	submit(s, Task{ID: "a"})
	submit(s, Task{ID: "b", After: []string{"a"}})
	submit(s, Task{ID: "c", After: []string{"b"}})
	submit(s, Task{ID: "c2", After: []string{"b"}, DepFailure: true})
	want(t, "a fails", s.Finish("a", 0, false), "b!impossible", "c!impossible", "c2@0")
}

func TestFollow(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0, 1, 2)
	submit(s, Task{ID: "x"}) // on 0, keeps loads uneven
	want(t, "a", submit(s, Task{ID: "a"}), "a@1")
	var got []Action
	for i := range 5 {
		got = append(got, submit(s, Task{ID: fmt.Sprint("f", i), Follow: []string{"a"}})...)
	}
	want(t, "followers wait", got)
	want(t, "a done", s.Finish("a", 1, true), "f0@1", "f1@1", "f2@1", "f3@1", "f4@1")
}

func TestFollowHWM(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "a", submit(s, Task{ID: "a"}), "a@0")
	want(t, "a done", s.Finish("a", 0, true))
	want(t, "f1", submit(s, Task{ID: "f1", Follow: []string{"a"}}), "f1@0")
	want(t, "f2 waits for 0", submit(s, Task{ID: "f2", Follow: []string{"a"}}))
	want(t, "free task uses 1", submit(s, Task{ID: "g"}), "g@1")
	want(t, "f1 done", s.Finish("f1", 0, true), "f2@0")
}

func TestFollowImpossible(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0, 1, 2)
	want(t, "a b", append(submit(s, Task{ID: "a"}), submit(s, Task{ID: "b"})...), "a@0", "b@1")
	want(t, "all", submit(s, Task{ID: "all", Follow: []string{"a", "b"}}))
	want(t, "any", submit(s, Task{ID: "any", Follow: []string{"a", "b"}, DepAny: true}))
	want(t, "targets", submit(s, Task{ID: "tg", Follow: []string{"a"}, Targets: []int{1, 2}}))
	want(t, "a done", s.Finish("a", 0, true), "any@0", "tg!impossible")
	want(t, "b done", s.Finish("b", 1, true), "all!impossible")
	// Followed engine gone.
	want(t, "c", submit(s, Task{ID: "c"}), "c@2")
	want(t, "c done", s.Finish("c", 2, true))
	s.RemoveEngine(2)
	want(t, "follow gone", submit(s, Task{ID: "d", Follow: []string{"c"}}), "d!impossible")
	// A task that never ran has no location.
	want(t, "bad", submit(s, Task{ID: "bad", After: []string{"nope"}}), "bad!invalid")
	want(t, "follow unlocated", submit(s, Task{ID: "e", Follow: []string{"bad"}, DepFailure: true}), "e!impossible")
}

func TestRemoveEngineFailsQueuedFollowers(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "a", submit(s, Task{ID: "a"}), "a@0")
	want(t, "a done", s.Finish("a", 0, true))
	want(t, "f1", submit(s, Task{ID: "f1", Follow: []string{"a"}}), "f1@0")
	want(t, "f2", submit(s, Task{ID: "f2", Follow: []string{"a"}}))
	want(t, "t0", submit(s, Task{ID: "t0", Targets: []int{0}}))
	want(t, "any", submit(s, Task{ID: "any"}), "any@1")
	want(t, "q", submit(s, Task{ID: "q"}))
	lost, acts := s.RemoveEngine(0)
	if d := cmp.Diff([]string{"f1"}, lost); d != "" {
		t.Errorf("lost (-want +got):\n%s", d)
	}
	want(t, "remove 0", acts, "f2!impossible", "t0!impossible")
	if s.QueueLen() != 1 || s.Running() != 2 {
		t.Errorf("queue %d running %d", s.QueueLen(), s.Running())
	}
	// The lost task ends as a failure; its dependents see it.
	submit(s, Task{ID: "g", After: []string{"f1"}})
	want(t, "finish lost", s.Finish("f1", 0, false), "g!impossible")
	lost, acts = s.RemoveEngine(0)
	if lost != nil || acts != nil {
		t.Errorf("second remove: %v %v", lost, acts)
	}
}

func TestRetry(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1, 2)
	want(t, "a", submit(s, Task{ID: "a", Retries: 2}), "a@0")
	acts, ok := s.Retry("a", 0, t0)
	if !ok {
		t.Fatal("retry 1 refused")
	}
	want(t, "retry 1", acts, "a@1")
	if s.Load(0) != 0 || s.Load(1) != 1 {
		t.Errorf("loads %d %d", s.Load(0), s.Load(1))
	}
	want(t, "late finish from 0 ignored", s.Finish("a", 0, true))
	if _, ok := s.Retry("a", 0, t0); ok {
		t.Error("retry from the wrong engine accepted")
	}
	acts, _ = s.Retry("a", 1, t0)
	want(t, "retry 2", acts, "a@2")
	if acts, ok := s.Retry("a", 2, t0); ok || acts != nil {
		t.Errorf("retry 3 = %v, %v; want refused", show(acts), ok)
	}
	want(t, "finish", s.Finish("a", 2, false))
	if s.QueueLen() != 0 || s.Running() != 0 {
		t.Errorf("queue %d running %d", s.QueueLen(), s.Running())
	}
}

func TestRetryFillsFreedSlot(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "a", submit(s, Task{ID: "a", Retries: 1}), "a@0")
	want(t, "b", submit(s, Task{ID: "b"}), "b@1")
	want(t, "c", submit(s, Task{ID: "c"}))
	acts, _ := s.Retry("a", 0, t0)
	want(t, "retry", acts, "c@0") // a waits for 1 (0 is blacklisted)
	want(t, "b done", s.Finish("b", 1, true), "a@1")
}

func TestRetryBlacklist(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0, 1)
	want(t, "targeted", submit(s, Task{ID: "a", Targets: []int{0, 1}, Retries: 5}), "a@0")
	acts, _ := s.Retry("a", 0, t0)
	want(t, "retry", acts, "a@1")
	acts, ok := s.Retry("a", 1, t0)
	if !ok {
		t.Fatal("retry refused")
	}
	want(t, "all targets blacklisted", acts, "a!impossible")

	// Without targets it waits for a new engine or its deadline.
	want(t, "b", submit(s, Task{ID: "b", Retries: 5, Deadline: t0.Add(time.Second)}), "b@0")
	acts, _ = s.Retry("b", 0, t0)
	want(t, "b to 1", acts, "b@1")
	acts, _ = s.Retry("b", 1, t0)
	want(t, "b waits", acts)
	if s.QueueLen() != 1 {
		t.Errorf("queue %d", s.QueueLen())
	}
	want(t, "new engine", s.AddEngine(2), "b@2")
	acts, _ = s.Retry("b", 2, t0)
	want(t, "b waits again", acts)
	want(t, "timeout", s.Tick(t0.Add(time.Second)), "b!timeout")
	// A lost task can be retried too.
	want(t, "c", submit(s, Task{ID: "c", Retries: 1}), "c@0")
	lost, _ := s.RemoveEngine(0)
	if len(lost) != 1 || lost[0] != "c" {
		t.Fatalf("lost %v", lost)
	}
	acts, _ = s.Retry("c", 0, t0)
	want(t, "retry lost", acts, "c@1")
}

func TestDeadlines(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0)
	want(t, "running", submit(s, Task{ID: "r", Deadline: t0.Add(time.Second)}), "r@0")
	want(t, "queued", submit(s, Task{ID: "q", Deadline: t0.Add(2 * time.Second)}))
	want(t, "waiting", submit(s, Task{ID: "w", After: []string{"r"}, Deadline: t0.Add(time.Second)}))
	want(t, "no deadline", submit(s, Task{ID: "n"}))
	if d, ok := s.NextDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Errorf("NextDeadline = %v %v", d, ok)
	}
	want(t, "early tick", s.Tick(t0.Add(999*time.Millisecond)))
	want(t, "tick 1s", s.Tick(t0.Add(time.Second)), "w!timeout")
	want(t, "tick 3s", s.Tick(t0.Add(3*time.Second)), "q!timeout")
	if _, ok := s.NextDeadline(); ok {
		t.Error("deadline left")
	}
	want(t, "r done", s.Finish("r", 0, true), "n@0")
	// Submitted already late: assigned if possible, else failed at once.
	want(t, "late busy", s.Submit(Task{ID: "l1", Deadline: t0}, t0.Add(time.Minute)), "l1!timeout")
	want(t, "n done", s.Finish("n", 0, true))
	want(t, "late free", s.Submit(Task{ID: "l2", Deadline: t0}, t0.Add(time.Minute)), "l2@0")
}

func TestAbort(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0)
	submit(s, Task{ID: "a"})
	submit(s, Task{ID: "b"})
	submit(s, Task{ID: "c", After: []string{"b"}})
	submit(s, Task{ID: "d", Deadline: t0.Add(time.Second)})
	if _, ok := s.Abort("a"); ok {
		t.Error("aborted a running task")
	}
	acts, ok := s.Abort("b")
	if !ok {
		t.Fatal("abort b refused")
	}
	want(t, "abort b", acts, "c!impossible")
	if _, ok := s.Abort("d"); !ok {
		t.Error("abort d refused")
	}
	want(t, "no timeout after abort", s.Tick(t0.Add(time.Hour)))
	want(t, "finish a", s.Finish("a", 0, true))
	if _, ok := s.Abort("zz"); ok {
		t.Error("aborted unknown")
	}
	if s.QueueLen() != 0 || s.Running() != 0 {
		t.Errorf("queue %d running %d", s.QueueLen(), s.Running())
	}
}

func TestDuplicateAndEmpty(t *testing.T) {
	s := newSched(t, Config{HWM: 0}, 0)
	want(t, "a", submit(s, Task{ID: "a"}), "a@0")
	want(t, "dup running", submit(s, Task{ID: "a"}), "a!duplicate")
	s.Finish("a", 0, true)
	want(t, "dup finished", submit(s, Task{ID: "a"}), "a!duplicate")
	want(t, "b after a still sees success", submit(s, Task{ID: "b", After: []string{"a"}}), "b@0")
	want(t, "empty", submit(s, Task{}), "!badtask")
}

func TestHistoryLimit(t *testing.T) {
	s := newSched(t, Config{HWM: 0, History: 2}, 0)
	for _, id := range []string{"a", "b", "c"} {
		submit(s, Task{ID: id})
		s.Finish(id, 0, true)
	}
	want(t, "forgotten", submit(s, Task{ID: "x", After: []string{"a"}}), "x!invalid")
	want(t, "remembered", submit(s, Task{ID: "y", After: []string{"c"}}), "y@0")
}

func TestFinishIgnoresStrangers(t *testing.T) {
	s := newSched(t, Config{HWM: 1}, 0)
	submit(s, Task{ID: "a"})
	submit(s, Task{ID: "q"})
	want(t, "unknown", s.Finish("zz", 0, true))
	want(t, "queued", s.Finish("q", 0, true))
	want(t, "wrong engine", s.Finish("a", 3, true))
	if s.Load(0) != 1 || s.QueueLen() != 1 {
		t.Errorf("load %d queue %d", s.Load(0), s.QueueLen())
	}
	if d := cmp.Diff([]int{0}, s.Engines()); d != "" {
		t.Error(d)
	}
	if Assign.String() != "assign" || Fail.String() != "fail" || ActionKind(9).String() != "ActionKind(9)" {
		t.Error("ActionKind.String")
	}
}
