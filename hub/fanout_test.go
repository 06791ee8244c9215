package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
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
