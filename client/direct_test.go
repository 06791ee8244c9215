package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

func ints(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestDirect(t *testing.T) {
	cl := clustertest.Start(t, 4, clustertest.Options{})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	v := c.View()
	must := func(ar *client.AsyncResult, err error) *client.AsyncResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ar
	}

	t.Run("Map", func(t *testing.T) {
		for _, n := range []int{0, 1, 3, 32, 101} {
			ar, err := v.MapAsync("lambda x: x * x", ints(n))
			if err != nil {
				t.Fatal(err)
			}
			got, err := client.Values[int](ctx, ar)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, n)
			for i := range want {
				want[i] = i * i
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("n=%d (-want +got):\n%s", n, diff)
			}
		}
		got, err := v.Map(ctx, "lambda x, y: x + y", ints(5), []any{10, 20})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]any{int64(10), int64(21)}, got); diff != "" {
			t.Errorf("unequal lengths (-want +got):\n%s", diff)
		}
		one, err := c.View(2).Map(ctx, "lambda x: engine.id", ints(3))
		if err != nil || len(one) != 3 || one[0] != int64(2) {
			t.Errorf("single engine: %v %v", one, err)
		}
	})

	t.Run("ScatterGather", func(t *testing.T) {
		for _, n := range []int{16, 64, 101} {
			if err := v.Scatter(ctx, "part", ints(n), false); err != nil {
				t.Fatal(err)
			}
			lens, err := v.Apply(ctx, "lambda: len(part)")
			if err != nil {
				t.Fatal(err)
			}
			if n == 101 {
				if diff := cmp.Diff([]any{int64(26), int64(25), int64(25), int64(25)}, lens); diff != "" {
					t.Errorf("chunk sizes (-want +got):\n%s", diff)
				}
			}
			ar, err := v.GatherAsync("part")
			if err != nil {
				t.Fatal(err)
			}
			got, err := client.Values[int](ctx, ar)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n || got[n-1] != n-1 {
				t.Errorf("gather %d: %v", n, got)
			}
		}
		if err := v.Scatter(ctx, "rank", []any{0, 1, 2, 3}, true); err != nil {
			t.Fatal(err)
		}
		ranks, err := v.Pull(ctx, "rank")
		if err != nil || fmt.Sprint(ranks) != "[0 1 2 3]" {
			t.Errorf("flatten: %v %v", ranks, err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := c.View(1).Apply(ctx, "lambda: 1 // 0")
		var re *client.RemoteError
		if !errors.As(err, &re) || re.Engine != 1 || re.Name != "ZeroDivisionError" {
			t.Fatalf("got %v", err)
		}
		if got := re.Error(); got != "[1:apply] ZeroDivisionError: floored division by zero" {
			t.Errorf("Error() = %q", got)
		}
		_, err = v.Map(ctx, "lambda x: 1 // x", ints(8))
		var ce *client.CompositeError
		if !errors.As(err, &ce) || len(ce.Errors) != 1 || ce.Errors[0].Engine != 0 {
			t.Errorf("map failure: %v", err)
		}
		if _, err := client.Values[string](ctx, must(v.MapAsync("lambda x: x", ints(2)))); !errors.Is(err, client.ErrConvert) {
			t.Errorf("conversion: %v", err)
		}
	})

	t.Run("AbortWaitQueue", func(t *testing.T) {
		e0 := c.View(0)
		running := must(e0.ApplyAsync("lambda: time.sleep(10)"))
		queued := must(e0.ApplyAsync("lambda: time.sleep(10)"))
		st, err := c.QueueStatus(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if st.Engines[0].Queue < 1 || len(st.Engines[0].QueueIDs) != 2 || st.Unassigned != 0 {
			t.Errorf("queue status: %+v", st)
		}
		if err := queued.Abort(c); err != nil {
			t.Fatal(err)
		}
		if err := running.Abort(c); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx, append(running.Tasks, queued.Tasks...)...); err != nil {
			t.Fatal(err)
		}
		for _, ar := range []*client.AsyncResult{running, queued} {
			if _, err := ar.Get(ctx); !errors.Is(err, client.ErrTaskAborted) {
				t.Errorf("aborted task: %v", err)
			}
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	})

	// A failed execute aborts the executes of its client queued behind
	// it, and not one sent after its result arrived.
	t.Run("FailedExecuteAbortsQueued", func(t *testing.T) {
		e2 := c.View(2)
		blocker := must(e2.ApplyAsync("lambda: time.sleep(10)"))
		failing := must(e2.ExecuteAsync("1 // 0", false))
		behind := must(e2.ExecuteAsync("x = 1", false))
		if err := blocker.Abort(c); err != nil {
			t.Fatal(err)
		}
		var re *client.RemoteError
		if _, err := failing.Get(ctx); !errors.As(err, &re) || re.Name != "ZeroDivisionError" {
			t.Fatalf("failing execute: %v", err)
		}
		if _, err := behind.Get(ctx); !errors.Is(err, client.ErrTaskAborted) {
			t.Fatalf("execute queued behind it: %v, want aborted", err)
		}
		if err := e2.Execute(ctx, "x = 2"); err != nil {
			t.Fatalf("execute sent after the failure: %v", err)
		}
		if _, err := blocker.Get(ctx); !errors.Is(err, client.ErrTaskAborted) {
			t.Errorf("blocker: %v", err)
		}
	})

	t.Run("ClearGetResult", func(t *testing.T) {
		if err := v.Push(ctx, map[string]any{"k": 1}); err != nil {
			t.Fatal(err)
		}
		ar := must(v.ApplyAsync("lambda: k + 1"))
		ids := []string{ar.Tasks[0].MsgID, ar.Tasks[3].MsgID}
		if _, err := ar.Get(ctx); err != nil {
			t.Fatal(err)
		}
		again, err := c.GetResult(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := client.Values[int](ctx, again); err != nil || fmt.Sprint(got) != "[2 2]" {
			t.Errorf("get result: %v %v", got, err)
		}
		if err := v.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Pull(ctx, "k"); err == nil {
			t.Error("k survived clear")
		}
	})
}

func TestShutdown(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*clustertest.Scale())
	defer cancel()
	if err := c.Shutdown(ctx, []int{1}, false); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "engine 1 to leave", func() bool { return len(c.Ids()) == 1 })
	if ids := c.Ids(); ids[0] != 0 {
		t.Errorf("ids %v", ids)
	}
}

// TestEngineAt: rc[i] addresses the engine whose id is i, also after an
// engine left; negative indexes count from the end of the ids.
func TestEngineAt(t *testing.T) {
	cl := clustertest.Start(t, 3, clustertest.Options{})
	c := cl.Client()
	cl.Kill(1)
	clustertest.Eventually(t, 20*time.Second, "engine 1 to leave", func() bool { return len(c.Ids()) == 2 })
	for _, tc := range []struct{ i, want int }{{0, 0}, {2, 2}, {-1, 2}, {-2, 0}} {
		got, err := c.EngineAt(tc.i)
		if err != nil || got != tc.want {
			t.Errorf("EngineAt(%d) = %d, %v; want %d", tc.i, got, err, tc.want)
		}
	}
	for _, i := range []int{1, 3, -3} {
		if _, err := c.EngineAt(i); !errors.Is(err, client.ErrNoSuchEngine) {
			t.Errorf("EngineAt(%d): %v, want ErrNoSuchEngine", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*clustertest.Scale())
	defer cancel()
	id, _ := c.EngineAt(2)
	got, err := c.View(id).Apply(ctx, "lambda: engine.id")
	if err != nil || len(got) != 1 || got[0] != int64(2) {
		t.Fatalf("rc[2] ran on %v (%v), want engine 2", got, err)
	}
}
