package hub_test

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// ran is a finished task as its result's metadata tells it.
type ran struct {
	engine                      int
	received, started, complete int64
	long                        bool
}

func ranTasks(t *testing.T, tasks []*client.Task, long func(i int) bool) []ran {
	t.Helper()
	out := make([]ran, len(tasks))
	for i, tk := range tasks {
		if err := tk.Err(); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		r, _ := tk.Result()
		if r.Received == 0 || r.Started < r.Received || r.Completed < r.Started {
			t.Fatalf("task %d: times received %d started %d completed %d", i, r.Received, r.Started, r.Completed)
		}
		out[i] = ran{r.Engine, r.Received, r.Started, r.Completed, long(i)}
	}
	return out
}

// TestPrefetchKeepsLongTasksBalanced submits no-op tasks (so that engines
// prefetch), then 1,000 tasks of 1 ms mixed with 20 of 500 ms on 4
// engines. Whatever the timing, no task may wait in an engine's queue
// behind a long task: it is handed back and placed again. The makespan
// against the ideal computed from the measured durations is logged.
func TestPrefetchKeepsLongTasksBalanced(t *testing.T) {
	c := clustertest.Start(t, 4, clustertest.Options{})
	cl := c.Client()
	lv := cl.LoadBalanced(client.TaskOptions{})
	submit := func(fn client.Func) *client.Task {
		tk, err := lv.ApplyAsync(fn)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	wait := func(tasks []*client.Task) {
		if err := (&client.AsyncResult{Tasks: tasks}).Wait(ctxT(t, 120*time.Second*clustertest.Scale())); err != nil {
			t.Fatal(err)
		}
	}
	var warm []*client.Task
	for range 2000 {
		warm = append(warm, submit("lambda: None"))
	}
	wait(warm)
	if !anyQueued(ranTasks(t, warm, func(int) bool { return false })) {
		t.Error("no no-op task was prefetched: adaptive prefetch did not engage")
	}

	var mix []*client.Task
	var isLong []bool
	for range 20 {
		for range 50 {
			mix = append(mix, submit("lambda: time.sleep(0.001)"))
			isLong = append(isLong, false)
		}
		mix = append(mix, submit("lambda: time.sleep(0.5)"))
		isLong = append(isLong, true)
	}
	wait(mix)
	rs := ranTasks(t, mix, func(i int) bool { return isLong[i] })
	for _, r := range rs {
		if r.engine < 0 || r.engine > 3 {
			t.Fatalf("engine %d", r.engine)
		}
	}
	for _, l := range rs {
		if !l.long {
			continue
		}
		for _, x := range rs {
			if x.engine == l.engine && x.started > l.started && x.received < l.complete {
				t.Errorf("a task (long %v) waited on engine %d behind a long task: received %v before it completed",
					x.long, l.engine, time.Duration(l.complete-x.received))
			}
		}
	}
	first, last := rs[0].started, rs[0].complete
	var work int64
	var longest int64
	for _, r := range rs {
		first, last = min(first, r.started), max(last, r.complete)
		work += r.complete - r.started
		longest = max(longest, r.complete-r.started)
	}
	ideal := max(work/4, longest)
	t.Logf("makespan %v, ideal %v (measured work / 4 engines): %.1f%% over",
		time.Duration(last-first), time.Duration(ideal), 100*(float64(last-first)/float64(ideal)-1))
}

// anyQueued reports whether some task was received by its engine before
// the previous task there completed.
func anyQueued(rs []ran) bool {
	byEngine := map[int][]ran{}
	for _, r := range rs {
		byEngine[r.engine] = append(byEngine[r.engine], r)
	}
	for _, l := range byEngine {
		slices.SortFunc(l, func(a, b ran) int { return cmp.Compare(a.started, b.started) })
		for i := 1; i < len(l); i++ {
			if l[i].received < l[i-1].complete {
				return true
			}
		}
	}
	return false
}
