package hub_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

func TestControllerCrashAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is long")
	}
	const n = 5000
	dir := t.TempDir()
	ctl := clustertest.Process(t, "controller", "--profile-dir", dir, "--restore-grace", "6s")
	clustertest.WaitListening(t, dir, ctl.Process.Pid)
	engFile := profile.ConnectionPath(dir, true)
	for i := 0; i < 4; i++ {
		clustertest.Process(t, "engine", "--file", engFile, "--id", strconv.Itoa(i), "--wait", "60s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second*clustertest.Scale())
	defer cancel()
	cl, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{Reconnect: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.WaitForEngines(ctx, 4); err != nil {
		t.Fatal(err)
	}
	lv := cl.LoadBalanced(client.TaskOptions{Retries: 1})
	tasks := make([]*client.Task, n)
	for i := range tasks {
		if tasks[i], err = lv.ApplyAsync("lambda x: (time.sleep(0.002), x)[1]", i); err != nil {
			t.Fatal(err)
		}
	}
	clustertest.Eventually(t, 30*time.Second, "a share of the tasks to finish", func() bool { return tasks[n/4].Ready() })
	ctl.Process.Kill()
	ctl.Wait()
	var before []string
	for _, tk := range tasks {
		if tk.Ready() {
			if r, _ := tk.Result(); r.Error == nil {
				before = append(before, tk.MsgID)
			}
		}
	}
	ctl2 := clustertest.Process(t, "controller", "--profile-dir", dir, "--restore", "--restore-grace", "6s")
	clustertest.WaitListening(t, dir, ctl2.Process.Pid)

	// The running client sees every task end.
	if err := (&client.AsyncResult{Tasks: tasks}).Wait(ctx); err != nil {
		t.Fatalf("tasks did not all end: %v", err)
	}
	ok, failed := 0, 0
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
		ok++
	}
	t.Logf("%d ok, %d failed with a reported error, %d finished before the kill", ok, failed, len(before))

	// Every task that finished before the kill is retrievable, unchanged.
	cl2, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	got, err := cl2.HubResults(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := (&client.AsyncResult{Tasks: got}).Get(ctx)
	if err != nil {
		t.Fatalf("results from before the kill: %v", err)
	}
	byID := map[string]int{}
	for i, tk := range tasks {
		byID[tk.MsgID] = i
	}
	for i, v := range vals {
		if v != int64(byID[before[i]]) {
			t.Fatalf("task %s = %v after restore, want %d", before[i], v, byID[before[i]])
		}
	}
	// The engines are back with their ids.
	if err := cl2.WaitForEngines(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if ids := cl2.Ids(); !slices.Equal(ids, []int{0, 1, 2, 3}) {
		t.Errorf("engines after restore: %v", ids)
	}
}

// A task submitted while the client reconnects to a restarted controller
// (after it noticed the old one gone) is not an error: the request that
// failed to go out is sent again on the new connection, and the task runs
// (load-balanced: it waits there for the engine to come back). First a
// load-balanced request, then a streamed one (a large argument).
func TestSubmitWhileReconnecting(t *testing.T) {
	if testing.Short() {
		t.Skip("restart test is long")
	}
	for _, first := range []string{"balanced", "streamed"} {
		t.Run(first, func(t *testing.T) { submitWhileReconnecting(t, first) })
	}
}

func submitWhileReconnecting(t *testing.T, first string) {
	dir := t.TempDir()
	ctl := clustertest.Process(t, "controller", "--profile-dir", dir)
	clustertest.WaitListening(t, dir, ctl.Process.Pid)
	clustertest.Process(t, "engine", "--file", profile.ConnectionPath(dir, true), "--id", "0", "--wait", "60s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	lost := &noticed{prefix: "lost the controller", ch: make(chan struct{})}
	cl, err := client.Dial(ctx, profile.ConnectionPath(dir, false), client.Options{Reconnect: 60 * time.Second, Logger: slog.New(lost)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.WaitForEngines(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v := cl.View(0)
	if _, err := v.Apply(ctx, "lambda: 1"); err != nil {
		t.Fatal(err)
	}
	ctl.Process.Kill()
	ctl.Wait()
	select {
	case <-lost.ch:
	case <-ctx.Done():
		t.Fatal("the client did not notice the controller's death")
	}

	type submitted struct {
		task, streamed *client.Task
		err            error
	}
	sub := make(chan submitted, 1)
	go func() {
		// One of the two goes out while the controller is down: the
		// first; both are sent again, a streamed request (a large
		// argument) too.
		streamed := v.ApplyAsync
		balanced := cl.LoadBalanced(client.TaskOptions{}).ApplyAsync
		var s submitted
		if first == "streamed" {
			ar, err := streamed("lambda s: len(s)", strings.Repeat("x", 300<<10))
			if err != nil {
				sub <- submitted{err: fmt.Errorf("streamed: %w", err)}
				return
			}
			s.streamed = ar.Tasks[0]
		}
		task, err := balanced("lambda x: x * 2", 21)
		if err != nil {
			sub <- submitted{err: err}
			return
		}
		s.task = task
		if s.streamed == nil {
			ar, err := streamed("lambda s: len(s)", strings.Repeat("x", 300<<10))
			if err != nil {
				sub <- submitted{err: fmt.Errorf("streamed: %w", err)}
				return
			}
			s.streamed = ar.Tasks[0]
		}
		sub <- s
	}()
	ctl2 := clustertest.Process(t, "controller", "--profile-dir", dir, "--restore", "--restore-grace", "6s")
	clustertest.WaitListening(t, dir, ctl2.Process.Pid)
	var s submitted
	select {
	case s = <-sub:
	case <-ctx.Done():
		t.Fatal("the submission did not return")
	}
	if s.err != nil {
		t.Fatalf("submit while reconnecting: %v", s.err)
	}
	vals, err := (&client.AsyncResult{Tasks: []*client.Task{s.task}}).Get(ctx)
	if err != nil || len(vals) != 1 || vals[0] != int64(42) {
		t.Fatalf("result %v, %v; want [42]", vals, err)
	}
	// The direct task may reach the new controller before its engine
	// registered again: then it fails as a direct task does.
	vals, err = (&client.AsyncResult{Tasks: []*client.Task{s.streamed}}).Get(ctx)
	var re *client.RemoteError
	if !(err == nil && len(vals) == 1 && vals[0] == int64(300<<10)) &&
		!(errors.As(err, &re) && re.Name == "EngineError" && strings.Contains(re.Message, "not registered")) {
		t.Fatalf("streamed result %v, %v; want [%d]", vals, err, 300<<10)
	}
}

// noticed is a log handler that closes ch at the first record whose
// message starts with prefix.
type noticed struct {
	prefix string
	ch     chan struct{}
	once   sync.Once
}

func (h *noticed) Enabled(context.Context, slog.Level) bool { return true }
func (h *noticed) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *noticed) WithGroup(string) slog.Handler            { return h }

func (h *noticed) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
