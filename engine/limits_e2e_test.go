package engine_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// limitsCluster starts a controller with a 1 MiB frame limit and one
// engine with small per-task limits.
func limitsCluster(t *testing.T) (*clustertest.Cluster, *client.Client, context.Context) {
	t.Helper()
	cl := clustertest.Start(t, 1, clustertest.Options{
		MaxFrame: 1 << 20, MaxValue: 1 << 20,
		// Busy engines answer heartbeats late on a loaded machine.
		DeadAfter: 2500 * time.Millisecond,
		EngineArgs: []string{"--max-memory", "64MiB", "--max-stack", "32MiB",
			"--max-output", "1KiB", "--max-depth", "64", "--max-steps", "5000000"},
	})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	t.Cleanup(cancel)
	return cl, c, ctx
}

// remoteErr runs fn on engine 0 and returns its RemoteError.
func remoteErr(t *testing.T, ctx context.Context, c *client.Client, fn client.Func, args ...any) *client.RemoteError {
	t.Helper()
	_, err := c.View(0).Apply(ctx, fn, args...)
	var re *client.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("%s: got %v, want a RemoteError", fn, err)
	}
	return re
}

// alive checks that engine 0 still serves tasks and kept its namespace.
func alive(t *testing.T, ctx context.Context, c *client.Client, pid any) {
	t.Helper()
	got, err := c.View(0).Apply(ctx, "lambda: (engine.pid, 6 * 7)")
	if err != nil {
		t.Fatalf("engine unusable after the failure: %v", err)
	}
	if l, ok := got[0].(client.Tuple); !ok || l[0] != pid || l[1] != int64(42) {
		t.Fatalf("after the failure: got %v, want (%v, 42) from the same engine", got, pid)
	}
}

func enginePID(t *testing.T, ctx context.Context, c *client.Client) any {
	t.Helper()
	got, err := c.View(0).Apply(ctx, "lambda: engine.pid")
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}

func TestEngineLimits(t *testing.T) {
	cl, c, ctx := limitsCluster(t)
	pid := enginePID(t, ctx, c)

	t.Run("Memory", func(t *testing.T) {
		re := remoteErr(t, ctx, c, "def grow():\n    x = []\n    for i in range(1 << 40):\n        x.append('x' * 100000 + str(i))\n    return len(x)\n")
		if re.Name != "MemoryError" || !strings.Contains(re.Message, "over the engine's limit of 64 MiB") {
			t.Fatalf("got %v, want a MemoryError naming the limit", re)
		}
		if got := re.Error(); !strings.HasPrefix(got, "[0:apply] MemoryError: ") {
			t.Errorf("error text %q", got)
		}
		// Top-level code too: the list being built is garbage afterwards.
		ar, err := c.View(0).ExecuteAsync("big = ['y' * 100000 + str(i) for i in range(1 << 40)]", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ar.Get(ctx); !errors.As(err, new(*client.RemoteError)) || !strings.Contains(err.Error(), "MemoryError") {
			t.Fatalf("execute: got %v, want MemoryError", err)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("Recursion", func(t *testing.T) {
		re := remoteErr(t, ctx, c, "def down(n):\n    return down(n + 1)\n", 0)
		if re.Name != "RecursionError" || !strings.Contains(re.Message, "limit of 32 MiB") {
			t.Fatalf("got %v, want a RecursionError", re)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("Steps", func(t *testing.T) {
		re := remoteErr(t, ctx, c, "def spin():\n    while True:\n        pass\n")
		if !strings.Contains(re.Message, "execution step budget of 5000000 steps exceeded") {
			t.Fatalf("got %v, want the step budget error", re)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("Output", func(t *testing.T) {
		ar, err := c.View(0).ApplyAsync("def chatty():\n    for i in range(100):\n        print('line', i, 'x' * 40)\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ar.Get(ctx); err != nil {
			t.Fatal(err)
		}
		out := ar.Metadata()[0].Stdout
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		marker := lines[len(lines)-1]
		if !strings.HasPrefix(out, "line 0 ") || !strings.HasPrefix(marker, "[output truncated: ") ||
			!strings.HasSuffix(marker, " bytes over the limit of 1024]") {
			t.Fatalf("stdout %q", out)
		}
		if len(out)-len(marker)-1 > 1025 {
			t.Errorf("kept %d bytes of output, limit 1024", len(out)-len(marker)-1)
		}
	})

	t.Run("JSONDepth", func(t *testing.T) {
		re := remoteErr(t, ctx, c, "lambda n: json.decode('[' * n)", 1000000)
		if re.Name != "ValueError" || !strings.Contains(re.Message, "nested deeper than the limit of 64 levels") {
			t.Fatalf("got %v", re)
		}
		got, err := c.View(0).Apply(ctx, "lambda: len(json.decode('[' * 60 + ']' * 60))")
		if err != nil || got[0] != int64(1) {
			t.Fatalf("json.decode within the limit: %v %v", got, err)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("ValueDepth", func(t *testing.T) {
		var deep any = 1
		for range 100 {
			deep = []any{deep}
		}
		err := c.View(0).Push(ctx, map[string]any{"deep": deep})
		var re *client.RemoteError
		if !errors.As(err, &re) || re.Name != "ValueError" || !strings.Contains(re.Message, "nested more than 64 levels") {
			t.Fatalf("push: got %v, want ValueError about nesting", err)
		}
		alive(t, ctx, c, pid)
	})
	_ = cl
}

// fails checks that err is a RemoteError ValueError naming what and the
// 1 MiB limit.
func tooLarge(t *testing.T, err error, what string) {
	t.Helper()
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "ValueError" || !strings.Contains(re.Message, what+" is ") ||
		!strings.Contains(re.Message, "over the limit of 1 MiB") {
		t.Fatalf("got %v, want ValueError: %s is ..., over the limit of 1 MiB", err, what)
	}
}

func TestSizeLimits(t *testing.T) {
	cl, c, ctx := limitsCluster(t)
	pid := enginePID(t, ctx, c)
	big := strings.Repeat("x", 2<<20)

	t.Run("Result", func(t *testing.T) {
		_, err := c.View(0).Apply(ctx, "lambda: 'x' * (3 << 20)")
		tooLarge(t, err, "the result")
		if !strings.Contains(err.Error(), "the result is 3.0 MiB") {
			t.Errorf("error %v does not name the size", err)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("Pull", func(t *testing.T) {
		if err := c.View(0).Execute(ctx, "pulled = 'y' * (2 << 20)"); err != nil {
			t.Fatal(err)
		}
		_, err := c.View(0).Pull(ctx, "pulled")
		tooLarge(t, err, "the pulled value")
		alive(t, ctx, c, pid)
	})

	t.Run("Push", func(t *testing.T) {
		err := c.View(0).Push(ctx, map[string]any{"a": big})
		var te *protocol.TooLargeError
		if !errors.As(err, &te) || te.Limit != 1<<20 || te.Size <= 2<<20 || !strings.Contains(err.Error(), "submit push: the pushed value is 2.0 MiB") {
			t.Fatalf("got %v, want an immediate TooLargeError", err)
		}
		alive(t, ctx, c, pid)
	})

	t.Run("ApplyArgs", func(t *testing.T) {
		_, err := c.View(0).ApplyAsync("lambda s: len(s)", big)
		var te *protocol.TooLargeError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "over the limit of 1 MiB") {
			t.Fatalf("got %v, want an immediate TooLargeError", err)
		}
	})

	t.Run("HubReplies", func(t *testing.T) {
		// Two results that fit alone but not together in one reply.
		ar, err := c.View(0, 0).ApplyAsync("lambda: 'z' * 600000")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ar.Get(ctx); err != nil {
			t.Fatal(err)
		}
		ids := []string{ar.Tasks[0].MsgID, ar.Tasks[1].MsgID}
		q := map[string]any{"msg_id": map[string]any{"$in": ids}}
		clustertest.Eventually(t, 10*time.Second, "results recorded", func() bool {
			rows, err := c.DBQuery(ctx, q, []string{"msg_id", "completed"})
			if err != nil || len(rows) != 2 {
				return false
			}
			for _, r := range rows {
				if r["completed"] == nil {
					return false
				}
			}
			return true
		})
		_, err = c.DBQuery(ctx, q, []string{"msg_id", "result"})
		if err == nil || !strings.Contains(err.Error(), "db_query: the reply is 1.1 MiB, over the limit of 1 MiB") {
			t.Fatalf("db_query: got %v, want an error naming the size", err)
		}
		other := cl.Client() // not its tasks: get_result asks the hub
		_, err = other.GetResult(ctx, ids...)
		if err == nil || !strings.Contains(err.Error(), "get_result: the reply is 1.1 MiB, over the limit of 1 MiB") {
			t.Fatalf("get_result: got %v, want an error naming the size", err)
		}
		one, err := other.GetResult(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if v, err := one.Get(ctx); err != nil || len(v[0].(string)) != 600000 {
			t.Fatalf("get_result of one: %v", err)
		}
	})
}

// TestDefaultResultLimit sends a result over the default 256 MiB limit:
// it fails at once instead of never arriving.
func TestDefaultResultLimit(t *testing.T) {
	if os.Getenv("PXSH_TEST_BIG") == "" {
		t.Skip("builds a 300 MB result (1.5 to 7 s here): set PXSH_TEST_BIG=1 to run")
	}
	cl := clustertest.Start(t, 1, clustertest.Options{Heartbeat: 500 * time.Millisecond, DeadAfter: 2500 * time.Millisecond})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	_, err := c.View(0).Apply(ctx, "lambda: 'x' * 300000000")
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "ValueError" || !strings.Contains(re.Message, "the result is 286.1 MiB, over the limit of 256 MiB") {
		t.Fatalf("got %v, want ValueError naming the size and the limit; logs: %s", err, cl.Logs())
	}
}

// TestEngineFrameBelowController gives an engine a lower --max-frame than
// the controller's: a request over the engine's limit fails with an error
// naming the size and the limit, instead of the engine dropping its
// connection on it, rejoining, being sent it again, forever.
func TestEngineFrameBelowController(t *testing.T) {
	cl := clustertest.Start(t, 1, clustertest.Options{EngineArgs: []string{"--max-frame", "1MiB", "--max-value", "1MiB"}})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	pid := enginePID(t, ctx, c)
	big := strings.Repeat("x", 2<<20)
	check := func(err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "is 2.0 MiB, over the limit of 1 MiB") {
			t.Fatalf("got %v, want an error naming the size and the engine's limit", err)
		}
		alive(t, ctx, c, pid)
	}
	check(c.View(0).Push(ctx, map[string]any{"a": big}))
	_, err := c.View(0).Apply(ctx, "lambda s: len(s)", big)
	check(err)
	_, err = c.LoadBalanced(client.TaskOptions{}).Apply(ctx, "lambda s: len(s)", big)
	check(err)
}
