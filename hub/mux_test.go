package hub_test

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// TestSharedConnectionEnginesApart: the 3 engines of one process share
// its connection, yet a cancel reaches one engine's task only, and a
// shutdown of one engine lets it go at once while its siblings keep
// their namespaces and answer.
func TestSharedConnectionEnginesApart(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{PerProcess: 3})
	cl := c.Client()
	ctx := ctxT(t, 60*time.Second)
	if err := cl.View().Execute(ctx, "mine = engine.id * 10"); err != nil {
		t.Fatal(err)
	}
	// Engine 1's task still runs when the cancel comes, however late.
	ar, err := cl.View().ApplyAsync("lambda: [time.sleep(60 if engine.id == 1 else 0.5), engine.id][1]")
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "engine 1's task to start", func() bool {
		_, ok := ar.Tasks[1].Started()
		return ok
	})
	if err := cl.Cancel([]string{ar.Tasks[1].MsgID}); err != nil {
		t.Fatal(err)
	}
	for i, tk := range ar.Tasks {
		if err := tk.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		r, body := tk.Result()
		if i == 1 {
			if r.Error == nil || r.Error.Name != "TaskAborted" {
				t.Errorf("cancelled task on engine 1: %+v, want TaskAborted", r.Error)
			}
			continue
		}
		if v, err := client.Decode(body); r.Error != nil || err != nil || v != int64(i) {
			t.Errorf("task on engine %d: %v, %v, %+v; want %d", i, v, err, r.Error, i)
		}
	}
	if err := cl.Shutdown(ctx, []int{1}, false); err != nil {
		t.Fatal(err)
	}
	// The engine says goodbye on the shared connection: gone well within
	// the heartbeat bound, which it never reaches while the process runs.
	clustertest.Eventually(t, 10*time.Second, "engine 1 to leave", func() bool { return slices.Equal(cl.Ids(), []int{0, 2}) })
	got, err := cl.View(0, 2).Apply(ctx, "lambda: (engine.id, mine)")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{0, 2} {
		if tup := got[i].(client.Tuple); tup[0] != want || tup[1] != 10*want {
			t.Errorf("engine %d answered %v", want, tup)
		}
	}
	if _, err := cl.View(1).Apply(ctx, "lambda: 1"); err == nil {
		t.Error("apply on the engine shut down succeeded")
	}
}

// TestStoppedDenseProcessRejoins: a process of 2 engines stopped past
// DeadAfter is 2 deaths; resumed, its engines rejoin over a new shared
// connection with their ids and namespaces, and run none of the tasks
// whose clients were told they failed.
func TestStoppedDenseProcessRejoins(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	cmd := c.StartEngine(0, "--count", "2", "--verbose")
	cl := c.Client()
	c.WaitEngines(cl, 2)
	ctx := ctxT(t, 60*time.Second)
	if err := cl.View().Execute(ctx, "count = engine.id * 10"); err != nil {
		t.Fatal(err)
	}
	// Still running when the stop comes, however late: the rejoin's drop
	// cancels them.
	running, err := cl.View().ExecuteAsync("time.sleep(60)", true)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := cl.View().ExecuteAsync("count = count + 1", true)
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the sleeps to start", func() bool {
		_, a := running.Tasks[0].Started()
		_, b := running.Tasks[1].Started()
		return a && b
	})
	stop(t, cmd, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	for _, ar := range []*client.AsyncResult{running, queued} {
		_, err := ar.Get(ctx)
		if remoteName(t, err) != "EngineError" {
			t.Fatalf("task of the stopped process: %v, want EngineError", err)
		}
	}
	clustertest.Eventually(t, 20*time.Second, "both engines to leave", func() bool { return len(cl.Ids()) == 0 })
	stop(t, cmd, syscall.SIGCONT)
	stopped = false
	clustertest.Eventually(t, 20*time.Second, "both engines to rejoin", func() bool { return slices.Equal(cl.Ids(), []int{0, 1}) })
	got, err := cl.View().Pull(ctx, "count")
	if err != nil || !slices.Equal(got, []any{int64(0), int64(10)}) {
		t.Fatalf("count = %v, %v; want [0 10] (no failed task may run)", got, err)
	}
	if n := cl.Strays(); n != 0 {
		t.Errorf("%d results arrived for tasks already failed", n)
	}
}
