package hub_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// TestDenseProcessDeath runs 9 engines in 3 processes (pxsh engine
// --count 3) and kills one process: its 3 engines die (their tasks fail
// with EngineError), the other 6 keep their ids and namespaces.
func TestDenseProcessDeath(t *testing.T) {
	c := clustertest.Start(t, 9, clustertest.Options{PerProcess: 3})
	cl := c.Client()
	if got := cl.Ids(); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("ids = %v", got)
	}
	if err := cl.View().Execute(ctxT(t, 20*time.Second), "mine = engine.id * 10"); err != nil {
		t.Fatal(err)
	}
	// One engine of the doomed process runs a long task, one is idle.
	ar, err := cl.View(4).ExecuteAsync("time.sleep(30)", true)
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 5*time.Second, "task to reach engine 4", func() bool {
		var qs map[string]any
		cl.Control(ctxT(t, time.Second), "queue_status", nil, &qs)
		e4, _ := qs["4"].(map[any]any)
		return e4["queue"] == uint64(1)
	})
	c.Kill(3) // the process of engines 3, 4 and 5
	_, err = ar.Get(ctxT(t, 10*time.Second))
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "EngineError" {
		t.Fatalf("task on engine 4: err = %v, want EngineError", err)
	}
	want := []int{0, 1, 2, 6, 7, 8}
	clustertest.Eventually(t, 10*time.Second, "engines 3-5 to leave", func() bool { return slices.Equal(cl.Ids(), want) })
	got, err := cl.View(want...).Apply(ctxT(t, 20*time.Second), "lambda: (engine.id, mine)")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		tup := v.(client.Tuple)
		if tup[0] != int64(want[i]) || tup[1] != int64(10*want[i]) {
			t.Errorf("engine %d answered %v", want[i], tup)
		}
	}
}

// TestScale200 is the reduced scale check CI runs (make bench-scale runs
// 1,000 and measures): 200 engines in 5 processes register, execute and
// apply on all (values in engine order), take a broadcast push, and a
// killed process is 40 engine deaths while the other 160 keep working.
// It asserts correctness, never time.
func TestScale200(t *testing.T) {
	if testing.Short() {
		t.Skip("200 engines")
	}
	const n, per = 200, 40
	c := clustertest.Start(t, n, clustertest.Options{PerProcess: per, Heartbeat: 500 * time.Millisecond, DeadAfter: 2500 * time.Millisecond})
	cl := c.Client()
	ctx := ctxT(t, 120*time.Second)
	if err := cl.View().Execute(ctx, "a = engine.id"); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 256<<10)
	if err := cl.BroadcastView().Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	check := func(want []int) {
		t.Helper()
		got, err := cl.View().Apply(ctx, "lambda: (engine.id, a, len(blob))")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d values, want %d", len(got), len(want))
		}
		for i, v := range got {
			tup := v.(client.Tuple)
			if tup[0] != int64(want[i]) || tup[1] != int64(want[i]) || tup[2] != int64(len(blob)) {
				t.Fatalf("value %d = %v, want engine %d", i, tup, want[i])
			}
		}
	}
	var all, rest []int
	for i := range n {
		all = append(all, i)
		if i < per || i >= 2*per {
			rest = append(rest, i)
		}
	}
	check(all)
	c.Kill(per) // engines 40..79
	clustertest.Eventually(t, 30*time.Second, "engines 40-79 to leave", func() bool { return slices.Equal(cl.Ids(), rest) })
	check(rest)
}

// TestSharedBodyResubmit pushes a large value to 3 engines of one process
// (the body crosses and is recorded once) and resubmits the task of an
// engine that got only the body's name: the hub finds the body recorded
// with the carrier's task.
func TestSharedBodyResubmit(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{PerProcess: 3})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	blob := make([]byte, 200<<10)
	blob[7] = 42
	body, err := client.Encode(map[string]any{"blob": blob})
	if err != nil {
		t.Fatal(err)
	}
	push, err := cl.BroadcastView().Submit(protocol.Request{Kind: protocol.KindPush}, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.View().Execute(ctx, "blob = None"); err != nil {
		t.Fatal(err)
	}
	again, err := cl.Resubmit(ctx, []string{push.Tasks[2].MsgID})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&client.AsyncResult{Tasks: again}).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := cl.View(2).Pull(ctx, "list(blob[7:8].elems())[0] + len(blob)")
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != int64(42+len(blob)) {
		t.Fatalf("engine 2 after resubmit: %v", got)
	}
}

// TestEngineMemoryReported: engines report their memory in their pongs,
// so the controller (and its dashboard) knows it for engines on any host.
func TestEngineMemoryReported(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	clustertest.Eventually(t, 10*time.Second, "engine 0 to report its memory", func() bool {
		s := c.Hub.Snapshot()
		return len(s.Engines) == 1 && s.Engines[0].Memory > 0
	})
}
