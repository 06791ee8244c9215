package hub_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

func TestAnotherClientGetsIdenticalResults(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	a, b := c.Client(), c.Client()
	ar, err := a.View().ApplyAsync("lambda x: {'x': x, 'e': engine.id, 'l': [1.5, None]}", 7)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ar.Get(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{ar.Tasks[0].MsgID, ar.Tasks[1].MsgID}
	tasks, err := b.HubResults(ctxT(t, 10*time.Second), ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values differ (-first +second):\n%s", diff)
	}
	ma, mb := ar.Metadata(), (&client.AsyncResult{Tasks: tasks}).Metadata()
	for i := range ma {
		if !ma[i].Started.Equal(mb[i].Started) || !ma[i].Completed.Equal(mb[i].Completed) || ma[i].EngineID != mb[i].EngineID {
			t.Errorf("task %d metadata differ: %+v vs %+v", i, ma[i], mb[i])
		}
	}
}

func TestDepartedClientsResultsCollected(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	a := c.Client()
	lv := a.LoadBalanced(client.TaskOptions{})
	var ids []string
	for i := 0; i < 6; i++ {
		tk, err := lv.ApplyAsync("lambda x: (time.sleep(0.1), x * x)[1]", i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.MsgID)
	}
	a.Close() // leaves before its tasks finish
	b := c.Client()
	tasks, err := b.HubResults(ctxT(t, 10*time.Second), ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{int64(0), int64(1), int64(4), int64(9), int64(16), int64(25)}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Unknown ids fail with KeyError.
	tasks, err = b.HubResults(ctxT(t, 10*time.Second), []string{"nope"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 5*time.Second)); remoteName(t, err) != "KeyError" {
		t.Errorf("unknown id: %v", err)
	}
}

func TestQueryPurgeResubmit(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	var all []string
	for i := 0; i < 6; i++ {
		label := "even"
		if i%2 == 1 {
			label = "odd"
		}
		tk, err := cl.LoadBalanced(client.TaskOptions{Label: label}).ApplyAsync("lambda x: x + 100", i)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Wait(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		all = append(all, tk.MsgID)
	}
	hist, err := cl.HubHistory(ctxT(t, 10*time.Second))
	if err != nil || !slices.Equal(hist, all) {
		t.Fatalf("hub_history = %v, %v; want %v", hist, err, all)
	}
	// A $lt and a $gte split on one instant add up to the whole history.
	rows, err := cl.DBQuery(ctxT(t, 10*time.Second), map[string]any{"msg_id": all[3]}, []string{"submitted"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("query by msg_id: %v, %v", rows, err)
	}
	split := rows[0]["submitted"]
	before, err := cl.DBQuery(ctxT(t, 10*time.Second), map[string]any{"submitted": map[string]any{"$lt": split}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := cl.DBQuery(ctxT(t, 10*time.Second), map[string]any{"submitted": map[string]any{"$gte": split}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(before)+len(after) != len(all) || len(before) == 0 || len(after) == 0 {
		t.Errorf("split %d + %d, want %d in all", len(before), len(after), len(all))
	}
	odd, err := cl.DBQuery(ctxT(t, 10*time.Second), map[string]any{"label": "odd"}, []string{"label"})
	if err != nil || len(odd) != 3 {
		t.Fatalf("by label: %v, %v", odd, err)
	}
	for _, r := range odd {
		if r["msg_id"] == nil || r["label"] != "odd" || len(r) != 2 {
			t.Errorf("row %v: want msg_id and label only", r)
		}
	}
	// Resubmit: a new msg id and a fresh result.
	tasks, err := cl.Resubmit(ctxT(t, 10*time.Second), all[:1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 10*time.Second))
	if err != nil || got[0] != int64(100) || tasks[0].MsgID == all[0] {
		t.Fatalf("resubmit: %v, %v (id %s)", got, err, tasks[0].MsgID)
	}
	if err := cl.PurgeResults(ctxT(t, 10*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	if hist, err := cl.HubHistory(ctxT(t, 10*time.Second)); err != nil || len(hist) != 0 {
		t.Errorf("after purge: hub_history = %v, %v", hist, err)
	}
}
