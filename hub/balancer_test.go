package hub_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

func remoteName(t *testing.T, err error) string {
	t.Helper()
	var re *client.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a remote error", err)
	}
	return re.Name
}

func TestBalancedUsesEveryEngine(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	cl := c.Client()
	lv := cl.LoadBalanced(client.TaskOptions{})
	seq := make([]any, 60)
	for i := range seq {
		seq[i] = i
	}
	ar, err := lv.MapAsync("lambda x: (x * 2, engine.id, time.sleep(0.005))", seq)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ar.Get(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	used := map[int64]bool{}
	for i, v := range vals {
		tup := v.(client.Tuple)
		if tup[0] != int64(2*i) {
			t.Fatalf("task %d = %v", i, tup[0])
		}
		used[tup[1].(int64)] = true
	}
	if len(used) != 3 {
		t.Errorf("engines used: %v, want all 3", used)
	}
}

func TestBalancedRetries(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	cl := c.Client()
	// retries < engines: the task's own error after trying 2 engines.
	_, err := cl.LoadBalanced(client.TaskOptions{Retries: 1}).Apply(ctxT(t, 10*time.Second), `lambda: fail("boom on %d" % engine.id)`)
	if remoteName(t, err) != "Error" {
		t.Fatalf("err = %v", err)
	}
	// retries >= engines: every engine is blacklisted and the task waits
	// until its timeout.
	_, err = cl.LoadBalanced(client.TaskOptions{Retries: 3, Timeout: 500 * time.Millisecond}).Apply(ctxT(t, 10*time.Second), `lambda: fail("boom")`)
	if n := remoteName(t, err); n != "TaskTimeout" {
		t.Fatalf("err = %v, want TaskTimeout", err)
	}
	// A task that fails once succeeds on its retry elsewhere.
	if err := cl.View().Execute(ctxT(t, 10*time.Second), "flaky = engine.id == 0"); err != nil {
		t.Fatal(err)
	}
	v, err := cl.LoadBalanced(client.TaskOptions{Retries: 1, Targets: []int{0, 1}}).Apply(ctxT(t, 10*time.Second),
		`def f():
    if flaky:
        fail("flaky")
    return engine.id`)
	if err != nil || (v != int64(1) && v != int64(0)) {
		t.Fatalf("retried task: %v, %v", v, err)
	}
}

func TestBalancedDependencies(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	cl := c.Client()
	first, err := cl.LoadBalanced(client.TaskOptions{}).ApplyAsync("lambda: (time.sleep(0.2), engine.id)[1]")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := cl.LoadBalanced(client.TaskOptions{After: []string{first.MsgID}}).ApplyAsync("lambda: engine.id")
	var follows []*client.Task
	for i := 0; i < 4; i++ {
		f, _ := cl.LoadBalanced(client.TaskOptions{Follow: []string{first.MsgID}}).ApplyAsync("lambda: engine.id")
		follows = append(follows, f)
	}
	ar := &client.AsyncResult{Tasks: append([]*client.Task{first, after}, follows...)}
	vals, err := ar.Get(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := first.Result()
	r2, _ := after.Result()
	if r2.Started < r1.Completed {
		t.Errorf("after: started %d before the first task completed %d", r2.Started, r1.Completed)
	}
	for i, v := range vals[2:] {
		if v != vals[0] {
			t.Errorf("follower %d ran on engine %v, want %v", i, v, vals[0])
		}
	}
	// Following two tasks that ran on different engines is impossible.
	a, _ := cl.LoadBalanced(client.TaskOptions{Targets: []int{0}}).ApplyAsync("lambda: 0")
	b, _ := cl.LoadBalanced(client.TaskOptions{Targets: []int{1}}).ApplyAsync("lambda: 1")
	(&client.AsyncResult{Tasks: []*client.Task{a, b}}).Wait(ctxT(t, 10*time.Second))
	_, err = cl.LoadBalanced(client.TaskOptions{Follow: []string{a.MsgID, b.MsgID}}).Apply(ctxT(t, 10*time.Second), "lambda: 2")
	if n := remoteName(t, err); n != "ImpossibleDependency" {
		t.Errorf("follow on two engines: %v", err)
	}
	_, err = cl.LoadBalanced(client.TaskOptions{After: []string{"no-such-task"}}).Apply(ctxT(t, 10*time.Second), "lambda: 3")
	if n := remoteName(t, err); n != "InvalidDependency" {
		t.Errorf("unknown dependency: %v", err)
	}
}

func TestBalancedTimeoutCancelsRunningTask(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	cl := c.Client()
	start := time.Now()
	_, err := cl.LoadBalanced(client.TaskOptions{Timeout: 300 * time.Millisecond}).Apply(ctxT(t, 10*time.Second),
		"def spin():\n    n = 0\n    while True:\n        n += 1")
	if n := remoteName(t, err); n != "TaskTimeout" {
		t.Fatalf("err = %v, want TaskTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second*clustertest.Scale() {
		t.Errorf("timeout took %v", d)
	}
	v, err := cl.LoadBalanced(client.TaskOptions{}).Apply(ctxT(t, 10*time.Second), "lambda: 5")
	if err != nil || v != int64(5) {
		t.Fatalf("engine after timeout: %v, %v", v, err)
	}
}

func TestBalancedPriorities(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	cl := c.Client()
	// The engine is busy until the five tasks wait in the controller: the
	// cancel follows them on the connection.
	block, _ := cl.LoadBalanced(client.TaskOptions{}).ApplyAsync("lambda: time.sleep(60)")
	var tasks []*client.Task
	for i, prio := range []int{0, 0, 5, 1, 5} {
		tk, err := cl.LoadBalanced(client.TaskOptions{Priority: prio}).ApplyAsync("lambda x: x", i)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, tk)
	}
	if err := cl.Cancel([]string{block.MsgID}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&client.AsyncResult{Tasks: []*client.Task{block}}).Get(ctxT(t, 10*time.Second)); remoteName(t, err) != "TaskAborted" {
		t.Fatalf("cancelled blocking task: %v, want TaskAborted", err)
	}
	if _, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	order := make([]int, len(tasks))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, _ := tasks[a].Result()
		rb, _ := tasks[b].Result()
		return int(ra.Started - rb.Started)
	})
	if want := []int{2, 4, 3, 0, 1}; !slices.Equal(order, want) {
		t.Errorf("run order %v, want %v (priority, then FIFO)", order, want)
	}
}

func TestBalancedSurvivesEngineKill(t *testing.T) {
	const n = 2000
	c := clustertest.Start(t, 4, clustertest.Options{})
	cl := c.Client()
	lv := cl.LoadBalanced(client.TaskOptions{Retries: 1})
	tasks := make([]*client.Task, n)
	for i := range tasks {
		tk, err := lv.ApplyAsync("lambda x: (time.sleep(0.001), x)[1]", i)
		if err != nil {
			t.Fatal(err)
		}
		tasks[i] = tk
	}
	clustertest.Eventually(t, 10*time.Second, "some tasks done", func() bool { return tasks[n/5].Ready() })
	c.Kill(2)
	killed := time.Now()
	clustertest.Eventually(t, 5*time.Second, "engine 2 to leave", func() bool { return !slices.Contains(cl.Ids(), 2) })
	if d := time.Since(killed); d > 3*time.Second*clustertest.Scale() {
		t.Errorf("engine death noticed after %v", d)
	}
	ar := &client.AsyncResult{Tasks: tasks}
	if err := ar.Wait(ctxT(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i, tk := range tasks {
		r, body := tk.Result()
		if r.Error != nil {
			failed++
			continue
		}
		v, err := client.Decode(body)
		if err != nil || v != int64(i) {
			t.Fatalf("task %d = %v, %v", i, v, err)
		}
	}
	if cl.Strays() != 0 {
		t.Errorf("%d results arrived twice", cl.Strays())
	}
	if failed > 0 {
		t.Errorf("%d tasks failed despite retries", failed)
	}
	fmt.Println("engines after kill:", cl.Ids())
}
