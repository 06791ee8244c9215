package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// A request fanned out to several engines becomes one task per engine:
// each runs, answers with its own msg id, and is recorded in the task
// database as a direct task on its engine; a target that is not
// registered fails alone.
func TestFanOut(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	blob := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB: large parts are queued by reference
	if err := cl.View().Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	got, err := client.Values[int](ctx, mustAR(t)(cl.View().ApplyAsync("lambda: len(blob) * 10 + engine.id")))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{len(blob) * 10, len(blob)*10 + 1, len(blob)*10 + 2}; !slices.Equal(got, want) {
		t.Fatalf("values = %v, want %v", got, want)
	}

	body, err := client.Encode("engine.id")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := cl.SubmitFan(protocol.Request{Kind: protocol.KindExecute, Label: "fan"}, []int{2, 0, 99}, body)
	if err != nil {
		t.Fatal(err)
	}
	ar := &client.AsyncResult{Tasks: tasks}
	if err := ar.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{2, 0} {
		v, err := taskValue(ctx, tasks[i])
		if err != nil || v != want {
			t.Errorf("task %d on engine %d: %v, %v; want %d", i, tasks[i].Engine, v, err, want)
		}
	}
	_, err = taskValue(ctx, tasks[2])
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "EngineError" || re.Engine != 99 {
		t.Errorf("task on engine 99: %v, want EngineError", err)
	}
	ids := []string{tasks[0].MsgID, tasks[1].MsgID, tasks[2].MsgID}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("msg ids not distinct: %v", ids)
	}
	q := map[string]any{"msg_id": map[string]any{"$in": ids}}
	var rows []map[string]any
	clustertest.Eventually(t, 10*time.Second, "records of the fanned-out tasks", func() bool {
		rows, err = cl.DBQuery(ctx, q, []string{"msg_id", "engine_id", "view_kind", "label", "status", "completed"})
		if err != nil || len(rows) != 3 {
			return false
		}
		for _, r := range rows {
			if r["completed"] == nil {
				return false
			}
		}
		return true
	})
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r["msg_id"].(string)] = r
	}
	for i, e := range []int64{2, 0, 99} {
		r := byID[ids[i]]
		if fmt.Sprint(r["engine_id"]) != fmt.Sprint(e) || r["view_kind"] != "direct" || r["label"] != "fan" {
			t.Errorf("record of %s = %v, want engine %d, direct, label fan", ids[i], r, e)
		}
	}
	if byID[ids[0]]["status"] != "ok" || byID[ids[2]]["status"] != "error" {
		t.Errorf("statuses: %v, %v", byID[ids[0]]["status"], byID[ids[2]]["status"])
	}
	// Another client gets the same results from the database.
	hubTasks, err := c.Client().HubResults(ctx, ids[:2])
	if err != nil {
		t.Fatal(err)
	}
	for i, tk := range hubTasks {
		if v, err := taskValue(ctx, tk); err != nil || v != []int64{2, 0}[i] {
			t.Errorf("get_result %d: %v, %v", i, v, err)
		}
	}
	if n := cl.Strays(); n != 0 {
		t.Errorf("%d stray results", n)
	}
}

func taskValue(ctx context.Context, tk *client.Task) (any, error) {
	v, err := (&client.AsyncResult{Tasks: []*client.Task{tk}}).Get(ctx)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

func mustAR(t *testing.T) func(*client.AsyncResult, error) *client.AsyncResult {
	return func(ar *client.AsyncResult, err error) *client.AsyncResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ar
	}
}

// Request bodies over hub.MaxStoredRequest are recorded by their size only:
// resubmitting such a task fails naming the size and the bound. Results
// are kept whatever their size: get_result returns them in full.
func TestLargeBodiesInDatabase(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	big := bytes.Repeat([]byte{7}, hub.MaxStoredRequest+1)
	body, err := client.Encode(map[string]any{"big": big})
	if err != nil {
		t.Fatal(err)
	}
	push, err := cl.View().Submit(protocol.Request{Kind: protocol.KindPush}, body)
	if err != nil {
		t.Fatal(err)
	}
	small, err := cl.View(0).ApplyAsync("lambda n: len(big) + n", 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.View(1).ApplyAsync("lambda: big + big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&client.AsyncResult{Tasks: append(append(push.Tasks, small.Tasks...), res.Tasks...)}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []string{push.Tasks[0].MsgID, small.Tasks[0].MsgID, res.Tasks[0].MsgID}
	clustertest.Eventually(t, 10*time.Second, "records", func() bool {
		rows, err := cl.DBQuery(ctx, map[string]any{"msg_id": map[string]any{"$in": ids}, "completed": map[string]any{"$ne": nil}}, []string{"msg_id"})
		return err == nil && len(rows) == 3
	})
	_, err = cl.Resubmit(ctx, ids[:1])
	want := "its request body (1.0 MiB) was not kept: the task database keeps request bodies up to 1 MiB"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("resubmit of a large push: %v, want %q", err, want)
	}
	again, err := cl.Resubmit(ctx, ids[1:2]) // a small request is kept
	if err != nil {
		t.Fatal(err)
	}
	if v, err := taskValue(ctx, again[0]); err != nil || v != int64(len(big)+1) {
		t.Errorf("resubmitted: %v, %v", v, err)
	}
	other := c.Client()
	got, err := other.HubResults(ctx, ids[2:])
	if err != nil {
		t.Fatal(err)
	}
	v, err := taskValue(ctx, got[0])
	if b, ok := v.([]byte); err != nil || !ok || len(b) != 2*len(big) || b[len(b)-1] != 7 {
		t.Errorf("get_result of a %d-byte result: %T len %d, %v", 2*len(big), v, len(b), err)
	}
}

// A large push to an engine that does not read holds up nothing else: the
// same client's apply on another engine, and another client's, answer
// while the push waits; the push completes once the engine reads again.
func TestBulkPushDoesNotBlockOtherEngines(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{DeadAfter: 3 * time.Second * clustertest.Scale()})
	cmds, cl := engineCmds(t, c, 2)
	ctx := ctxT(t, 60*time.Second)
	stop(t, cmds[0], syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			cmds[0].Process.Signal(syscall.SIGCONT)
		}
	}()
	big := bytes.Repeat([]byte("pxsh"), 4<<20) // 16 MiB: over the socket buffers, on the bulk channel
	body, err := client.Encode(map[string]any{"big": big})
	if err != nil {
		t.Fatal(err)
	}
	push, err := cl.View(0).Submit(protocol.Request{Kind: protocol.KindPush}, body)
	if err != nil {
		t.Fatal(err)
	}
	other := c.Client()
	t0 := time.Now()
	for _, who := range []*client.Client{cl, other} {
		got, err := who.View(1).Apply(ctx, "lambda: engine.id")
		t.Logf("apply answered after %v", time.Since(t0))
		if err != nil || got[0] != int64(1) {
			t.Fatalf("apply on engine 1 during the push: %v, %v", got, err)
		}
		if push.Ready() {
			t.Fatal("the push finished although engine 0 is stopped")
		}
	}
	stop(t, cmds[0], syscall.SIGCONT)
	stopped = false
	if _, err := push.Get(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("push done after %v", time.Since(t0))
	got, err := cl.View(0).Apply(ctx, "lambda: len(big)")
	if err != nil || got[0] != int64(len(big)) {
		t.Fatalf("len(big) on engine 0: %v, %v", got, err)
	}
}
