package taskdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pxsh/pxsh/internal/waittest"
	"github.com/pxsh/pxsh/protocol"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// rec makes a pending record submitted i seconds after base.
func rec(i int) *Record {
	return &Record{
		MsgID: fmt.Sprintf("m%04d", i), ClientID: "c1", EngineID: -1, ViewKind: "balanced",
		Label: fmt.Sprintf("L%d", i%3), Kind: "apply", Name: "f",
		Submitted: base.Add(time.Duration(i) * time.Second), Status: StatusPending,
		Request: []byte{1, 2, byte(i)}, RequestHeader: []byte{0xa0},
	}
}

// finished returns the outcome of r on engine i%4.
func finished(r *Record, i int) *Record {
	f := *r
	f.EngineID = i % 4
	f.Started = r.Submitted.Add(100 * time.Millisecond)
	f.Completed = r.Submitted.Add(200 * time.Millisecond)
	f.Status = StatusOK
	f.Result, f.HasValue = []byte{0x18, byte(i)}, true
	f.Stdout = "out\n"
	if i%5 == 4 {
		f.Status = StatusError
		f.Result, f.HasValue = nil, false
		f.Error = &protocol.RemoteError{Name: "ZeroDivisionError", Message: "division by zero",
			Traceback: "tb", Engine: i % 4, Method: "apply"}
	}
	return &f
}

func cmpTime() cmp.Option {
	return cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
}

func TestRoundTrip(t *testing.T) {
	for _, path := range []string{"", "file"} {
		t.Run("path="+path, func(t *testing.T) {
			cfg := Config{}
			if path != "" {
				cfg.Path = filepath.Join(t.TempDir(), "tasks.db")
			}
			db := openT(t, cfg)
			ctx := ctxT(t)
			r0, r1, r2 := rec(0), rec(1), rec(2)
			db.Submitted(r0)
			db.Submitted(r1)
			db.Submitted(r2)
			// r1 is folded with its submit in one batch or written after:
			// either way the outcome must match.
			st := base.Add(time.Second)
			db.Started("m0001", 2, st)
			f1 := finished(r1, 4)
			db.Finished(f1)
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// r2 finishes after its submit was committed (the upsert path).
			db.Started("m0002", 3, st)
			f2 := finished(r2, 2)
			db.Finished(f2)
			got, err := db.Get(ctx, []string{"m0000", "m0001", "nope", "m0002"})
			if err != nil {
				t.Fatal(err)
			}
			want := []*Record{r0, f1, nil, f2}
			if d := cmp.Diff(want, got, cmpTime()); d != "" {
				t.Errorf("Get (-want +got):\n%s", d)
			}
		})
	}
}

func TestStartedThenFinishedSeparateBatches(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	r := rec(7)
	db.Submitted(r)
	db.Flush(ctx)
	db.Started(r.MsgID, 1, base.Add(time.Minute))
	db.Flush(ctx)
	got, err := db.Get(ctx, []string{r.MsgID})
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Status != StatusRunning || g.EngineID != 1 || !g.Started.Equal(base.Add(time.Minute)) {
		t.Fatalf("after Started: %+v", g)
	}
	f := &Record{MsgID: r.MsgID, EngineID: -1, Status: StatusAborted, Completed: base.Add(2 * time.Minute),
		Error: &protocol.RemoteError{Name: "TaskAborted", Message: "aborted", Engine: 1}}
	db.Finished(f)
	got, _ = db.Get(ctx, []string{r.MsgID})
	g := got[0]
	if g.Status != StatusAborted || g.EngineID != 1 || !g.Started.Equal(base.Add(time.Minute)) ||
		g.Error == nil || g.Error.Name != "TaskAborted" || string(g.Request) != string(r.Request) {
		t.Fatalf("after Finished: %+v", g)
	}
	db.Resubmitted(r.MsgID, "new1")
	got, _ = db.Get(ctx, []string{r.MsgID})
	if got[0].Resubmitted != "new1" {
		t.Fatalf("Resubmitted = %q", got[0].Resubmitted)
	}
}

func TestFinishedFolds(t *testing.T) {
	db := openT(t, Config{FlushInterval: time.Second})
	ctx := ctxT(t)
	a, b := rec(1), rec(2)
	db.Submitted(a)
	db.Submitted(b)
	db.Flush(ctx)
	// Started and Finished in one batch: Finished without a start time
	// takes the Started one.
	at := base.Add(time.Hour)
	db.Started(a.MsgID, 3, at)
	db.Finished(&Record{MsgID: a.MsgID, EngineID: -1, Status: StatusOK, Completed: at.Add(time.Second)})
	// Finished of a task never submitted inserts it whole.
	c := finished(rec(3), 3)
	db.Finished(c)
	// A late Started after Finished does not reopen the task.
	db.Finished(&Record{MsgID: b.MsgID, EngineID: 1, Status: StatusAborted, Completed: at})
	db.Flush(ctx)
	db.Started(b.MsgID, 2, at.Add(time.Minute))
	got, err := db.Get(ctx, []string{a.MsgID, b.MsgID, c.MsgID})
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Status != StatusOK || g.EngineID != 3 || !g.Started.Equal(at) || g.Label != a.Label {
		t.Errorf("folded start+finish = %+v", g)
	}
	if g := got[1]; g.Status != StatusAborted || g.EngineID != 1 || !g.Started.IsZero() {
		t.Errorf("late start changed a finished task: %+v", g)
	}
	if d := cmp.Diff(c, got[2], cmpTime()); d != "" {
		t.Errorf("finish without submit (-want +got):\n%s", d)
	}
}

func TestGroupCommit(t *testing.T) {
	db := openT(t, Config{Path: filepath.Join(t.TempDir(), "t.db"), FlushInterval: 50 * time.Millisecond})
	ctx := ctxT(t)
	const n = 5000
	for i := range n {
		r := rec(i)
		db.Submitted(r)
		db.Started(r.MsgID, i%4, r.Submitted)
		if i%2 == 0 {
			db.Finished(finished(r, i))
		}
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n {
		t.Fatalf("history has %d ids, want %d", len(h), n)
	}
	un, err := db.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != n/2 {
		t.Fatalf("unfinished = %d, want %d", len(un), n/2)
	}
}

func TestHistoryOrder(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	var want []string
	for i := range 50 {
		r := rec(i)
		r.MsgID = fmt.Sprintf("z%02d", 49-i) // ids not sorted by name
		want = append(want, r.MsgID)
		db.Submitted(r)
		if i == 20 {
			db.Flush(ctx)
		}
	}
	got, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("History (-want +got):\n%s", d)
	}
	// The last entry is the latest msg id.
	if got[len(got)-1] != want[len(want)-1] {
		t.Error("last history entry is not the latest")
	}
}

// fill submits n records and finishes those with i%2 == 0.
func fill(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		r := rec(i)
		db.Submitted(r)
		if i%2 == 0 {
			db.Finished(finished(r, i))
		}
	}
	if err := db.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func ids(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["msg_id"].(string))
	}
	return out
}

func TestQueryOperators(t *testing.T) {
	db := openT(t, Config{})
	fill(t, db, 20)
	ctx := ctxT(t)
	mid := base.Add(10 * time.Second)
	mk := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, fmt.Sprintf("m%04d", i))
		}
		return out
	}
	rng := func(lo, hi int) []string {
		var out []string
		for i := lo; i < hi; i++ {
			out = append(out, fmt.Sprintf("m%04d", i))
		}
		return out
	}
	tests := []struct {
		name  string
		query map[string]any
		want  []string
	}{
		{"all", nil, rng(0, 20)},
		{"eq", map[string]any{"msg_id": "m0003"}, mk(3)},
		{"$eq", map[string]any{"msg_id": map[string]any{"$eq": "m0003"}}, mk(3)},
		{"label", map[string]any{"label": "L1"}, mk(1, 4, 7, 10, 13, 16, 19)},
		{"$ne", map[string]any{"label": map[string]any{"$ne": "L0"}}, mk(1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19)},
		{"$lt time", map[string]any{"submitted": map[string]any{"$lt": mid}}, rng(0, 10)},
		{"$lte time", map[string]any{"submitted": map[string]any{"$lte": mid}}, rng(0, 11)},
		{"$gt time", map[string]any{"submitted": map[string]any{"$gt": mid}}, rng(11, 20)},
		{"$gte float seconds", map[string]any{"submitted": map[string]any{"$gte": float64(mid.Unix())}}, rng(10, 20)},
		{"$gte rfc3339", map[string]any{"submitted": map[string]any{"$gte": mid.Format(time.RFC3339)}}, rng(10, 20)},
		{"range", map[string]any{"submitted": map[string]any{"$gte": base.Add(5 * time.Second), "$lt": mid}}, rng(5, 10)},
		{"$in", map[string]any{"msg_id": map[string]any{"$in": []string{"m0001", "m0005", "x"}}}, mk(1, 5)},
		{"$in any", map[string]any{"msg_id": map[string]any{"$in": []any{"m0002"}}}, mk(2)},
		{"$in empty", map[string]any{"msg_id": map[string]any{"$in": []string{}}}, nil},
		{"$nin", map[string]any{"label": map[string]any{"$nin": []string{"L0", "L1"}}}, mk(2, 5, 8, 11, 14, 17)},
		{"$nin empty label", map[string]any{"label": map[string]any{"$nin": []string{""}}}, rng(0, 20)},
		{"status", map[string]any{"status": "error"}, mk(4, 14)},
		{"engine eq", map[string]any{"engine_id": 2}, mk(2, 6, 10, 14, 18)},
		{"engine $in", map[string]any{"engine_id": map[string]any{"$in": []int{0, 2}}}, mk(0, 2, 4, 6, 8, 10, 12, 14, 16, 18)},
		{"engine none", map[string]any{"engine_id": nil}, mk(1, 3, 5, 7, 9, 11, 13, 15, 17, 19)},
		{"engine $nin keeps none", map[string]any{"engine_id": map[string]any{"$nin": []int{0}}}, mk(1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19)},
		{"completed unset", map[string]any{"completed": nil}, mk(1, 3, 5, 7, 9, 11, 13, 15, 17, 19)},
		{"completed $ne unset", map[string]any{"completed": map[string]any{"$ne": nil}}, mk(0, 2, 4, 6, 8, 10, 12, 14, 16, 18)},
		{"$glob", map[string]any{"msg_id": map[string]any{"$glob": "m001?"}}, rng(10, 20)},
		{"two fields", map[string]any{"label": "L2", "status": "ok"}, mk(2, 8)},
		{"map[any]any ops", map[string]any{"msg_id": map[any]any{"$in": []any{"m0009"}}}, mk(9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Query(ctx, tc.query, []string{"msg_id"})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, ids(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestQueryDateSplit(t *testing.T) {
	db := openT(t, Config{})
	fill(t, db, 30)
	ctx := ctxT(t)
	all, _ := db.History(ctx)
	for _, at := range []any{base.Add(7 * time.Second), base.Add(7*time.Second + 1), float64(base.Unix()) + 13.5, base} {
		lt, err := db.Query(ctx, map[string]any{"submitted": map[string]any{"$lt": at}}, []string{"msg_id"})
		if err != nil {
			t.Fatal(err)
		}
		ge, err := db.Query(ctx, map[string]any{"submitted": map[string]any{"$gte": at}}, []string{"msg_id"})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(all, append(ids(lt), ids(ge)...)); d != "" {
			t.Errorf("split at %v: $lt + $gte != all (-all +got):\n%s", at, d)
		}
	}
}

func TestQueryKeys(t *testing.T) {
	db := openT(t, Config{})
	fill(t, db, 5)
	ctx := ctxT(t)
	got, err := db.Query(ctx, map[string]any{"msg_id": "m0004"}, []string{"label", "completed", "error", "engine_id"})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{
		"msg_id": "m0004", "label": "L1", "engine_id": 0,
		"completed": base.Add(4*time.Second + 200*time.Millisecond),
		"error": &protocol.RemoteError{Name: "ZeroDivisionError", Message: "division by zero",
			Traceback: "tb", Engine: 0, Method: "apply"},
	}}
	if d := cmp.Diff(want, got, cmpTime()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// Default keys leave out the buffers; unset values are nil.
	got, err = db.Query(ctx, map[string]any{"msg_id": "m0001"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	for _, k := range []string{"request", "result", "request_header"} {
		if _, ok := r[k]; ok {
			t.Errorf("default keys include %q", k)
		}
	}
	if r["completed"] != nil || r["engine_id"] != nil || r["error"] != nil || r["status"] != "pending" {
		t.Errorf("pending record = %v", r)
	}
	// Buffers on request.
	got, _ = db.Query(ctx, map[string]any{"msg_id": "m0002"}, []string{"result", "request"})
	if d := cmp.Diff(map[string]any{"msg_id": "m0002", "result": []byte{0x18, 2}, "request": []byte{1, 2, 2}}, got[0]); d != "" {
		t.Errorf("buffers (-want +got):\n%s", d)
	}
}

func TestQueryErrors(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	for _, tc := range []struct {
		query map[string]any
		keys  []string
	}{
		{map[string]any{"msg_id": map[string]any{"$regex": "x"}}, nil},
		{map[string]any{"nope": 1}, nil},
		{map[string]any{"error": "x"}, nil},
		{map[string]any{"label": 3}, nil},
		{map[string]any{"engine_id": "x"}, nil},
		{map[string]any{"submitted": map[string]any{"$lt": "yesterday"}}, nil},
		{map[string]any{"submitted": map[string]any{"$lt": nil}}, nil},
		{map[string]any{"msg_id": map[string]any{"$in": "abc"}}, nil},
		{map[string]any{"msg_id": map[string]any{"a": "b"}}, nil},
		{map[string]any{"engine_id": map[string]any{"$glob": "1*"}}, nil},
		{nil, []string{"secret"}},
	} {
		_, err := db.Query(ctx, tc.query, tc.keys)
		if !errors.Is(err, ErrBadQuery) {
			t.Errorf("Query(%v, %v) error = %v, want ErrBadQuery", tc.query, tc.keys, err)
		}
	}
	_, err := db.Query(ctx, map[string]any{"msg_id": map[string]any{"$where": 1}}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown operator "$where"`) {
		t.Errorf("error = %v", err)
	}
}

func TestQueryInjectionHarmless(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	evil := []string{
		"x'; DROP TABLE tasks; --",
		`" OR 1=1 --`,
		"') OR ('1'='1",
		"m0001' OR '1'='1",
		`"]`,
	}
	fill(t, db, 3)
	r := rec(100)
	r.MsgID, r.Label = evil[0], evil[1]
	db.Submitted(r)
	for _, e := range evil {
		for _, q := range []map[string]any{
			{"label": e},
			{"msg_id": map[string]any{"$in": []string{e}}},
			{"msg_id": map[string]any{"$nin": []string{e}}},
			{"label": map[string]any{"$gt": e}},
			{"msg_id": map[string]any{"$glob": e}},
		} {
			if _, err := db.Query(ctx, q, nil); err != nil {
				t.Errorf("Query(%v): %v", q, err)
			}
		}
	}
	got, err := db.Query(ctx, map[string]any{"label": evil[1]}, nil)
	if err != nil || len(got) != 1 || got[0]["msg_id"] != evil[0] {
		t.Fatalf("exact match on hostile label = %v, %v", got, err)
	}
	h, _ := db.History(ctx)
	if len(h) != 4 {
		t.Fatalf("history = %v, want 4 records (table intact)", h)
	}
	if err := db.Purge(ctx, []string{"m0000' OR '1'='1"}); err != nil {
		t.Fatal(err)
	}
	if h, _ := db.History(ctx); len(h) != 4 {
		t.Fatalf("purge with hostile id deleted records: %v", h)
	}
}

func TestPurge(t *testing.T) {
	db := openT(t, Config{})
	fill(t, db, 10) // even ids finished
	ctx := ctxT(t)
	// Unfinished ids are kept.
	if err := db.Purge(ctx, []string{"m0000", "m0001", "m0004"}); err != nil {
		t.Fatal(err)
	}
	h, _ := db.History(ctx)
	want := []string{"m0001", "m0002", "m0003", "m0005", "m0006", "m0007", "m0008", "m0009"}
	if d := cmp.Diff(want, h); d != "" {
		t.Errorf("after purge by ids (-want +got):\n%s", d)
	}
	if err := db.Purge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	h, _ = db.History(ctx)
	want = []string{"m0001", "m0003", "m0005", "m0007", "m0009"}
	if d := cmp.Diff(want, h); d != "" {
		t.Errorf("after purge all (-want +got):\n%s", d)
	}
	// Once every task is finished, purging everything leaves no history.
	for _, id := range want {
		db.Finished(&Record{MsgID: id, EngineID: 0, Status: StatusOK})
	}
	if err := db.Purge(ctx, []string{}); err != nil {
		t.Fatal(err)
	}
	if h, _ = db.History(ctx); len(h) != 0 {
		t.Errorf("history after purging everything = %v", h)
	}
}

// cullNow applies retention synchronously.
func (db *DB) cullNow(ctx context.Context) error {
	return db.call(ctx, op{kind: opCull, reply: make(chan error, 1)})
}

func TestRetentionByCount(t *testing.T) {
	db := openT(t, Config{MaxRecords: 4})
	fill(t, db, 20) // 10 finished (even), 10 pending
	ctx := ctxT(t)
	if err := db.cullNow(ctx); err != nil {
		t.Fatal(err)
	}
	done, err := db.Query(ctx, map[string]any{"completed": map[string]any{"$ne": nil}}, []string{"msg_id"})
	if err != nil {
		t.Fatal(err)
	}
	// The newest four finished records remain.
	if d := cmp.Diff([]string{"m0012", "m0014", "m0016", "m0018"}, ids(done)); d != "" {
		t.Errorf("finished after cull (-want +got):\n%s", d)
	}
	un, _ := db.Unfinished(ctx)
	if len(un) != 10 {
		t.Errorf("unfinished after cull = %d, want 10 (never culled)", len(un))
	}
}

func TestRetentionByAge(t *testing.T) {
	db := openT(t, Config{MaxAge: time.Hour})
	ctx := ctxT(t)
	now := time.Now()
	for i := range 6 {
		r := rec(i)
		db.Submitted(r)
		f := finished(r, i)
		f.Completed = now.Add(-time.Duration(i) * 30 * time.Minute) // 0, 30, 60, 90... minutes ago
		db.Finished(f)
	}
	old := rec(99) // old but unfinished: kept
	old.Submitted = now.Add(-48 * time.Hour)
	db.Submitted(old)
	if err := db.cullNow(ctx); err != nil {
		t.Fatal(err)
	}
	h, _ := db.History(ctx)
	if d := cmp.Diff([]string{"m0000", "m0001", "m0099"}, h); d != "" {
		t.Errorf("after cull by age (-want +got):\n%s", d)
	}
}

func TestRetentionPeriodic(t *testing.T) {
	db := openT(t, Config{MaxRecords: 2})
	fill(t, db, 10)
	ctx := ctxT(t)
	var h []string
	waittest.Until(t, 10*time.Second, func() bool {
		var err error
		if h, err = db.History(ctx); err != nil {
			t.Fatal(err)
		}
		return len(h) == 7 // 5 unfinished + 2 finished
	}, func() string { return fmt.Sprintf("the periodic cull: %d records", len(h)) })
}

func TestUnfinished(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	for i := range 4 {
		db.Submitted(rec(i))
	}
	db.Started("m0001", 3, base)
	db.Finished(finished(rec(2), 2))
	un, err := db.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range un {
		got = append(got, r.MsgID+":"+r.Status)
	}
	if d := cmp.Diff([]string{"m0000:pending", "m0001:running", "m0003:pending"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if string(un[0].RequestHeader) != "\xa0" || string(un[0].Request) != "\x01\x02\x00" {
		t.Errorf("unfinished record lacks its request: %+v", un[0])
	}
}

func TestReopenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	db, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := rec(i)
		db.Submitted(r)
		if i < 5 {
			db.Finished(finished(r, i))
		}
	}
	// No Flush: Close must commit what is queued.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db.Submitted(rec(50)) // dropped, must not panic
	if err := db.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s mode = %v, want 0600", filepath.Base(p), m)
			}
		} else if p == path {
			t.Error(err)
		}
	}

	db = openT(t, Config{Path: path})
	ctx := ctxT(t)
	db.Submitted(rec(60))
	db.Flush(ctx)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), m)
		}
	}
	h, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 11 {
		t.Fatalf("history after reopen = %v", h)
	}
	got, _ := db.Get(ctx, []string{"m0004"})
	if d := cmp.Diff(finished(rec(4), 4), got[0], cmpTime()); d != "" {
		t.Errorf("record after reopen (-want +got):\n%s", d)
	}
	un, _ := db.Unfinished(ctx)
	if len(un) != 6 {
		t.Errorf("unfinished after reopen = %d, want 6", len(un))
	}
}

func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a b?c#d%20e.db")
	db := openT(t, Config{Path: path})
	db.Submitted(rec(1))
	if err := db.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
}

func TestMemoryDBsAreSeparate(t *testing.T) {
	a := openT(t, Config{Path: ":memory:"})
	b := openT(t, Config{})
	ctx := ctxT(t)
	a.Submitted(rec(1))
	// Concurrent reads while the writer commits.
	for i := range 200 {
		a.Submitted(rec(100 + i))
		if i%50 == 0 {
			if _, err := a.Query(ctx, map[string]any{"label": "L1"}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	ha, _ := a.History(ctx)
	hb, _ := b.History(ctx)
	if len(ha) != 201 || len(hb) != 0 {
		t.Fatalf("history a=%d b=%d, want 201 and 0", len(ha), len(hb))
	}
	if !slices.Contains(ha, "m0001") {
		t.Error("missing m0001")
	}
}

func TestConcurrentWritersAndClose(t *testing.T) {
	db, err := Open(Config{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				r := rec(g*10000 + i)
				db.Submitted(r)
				db.Started(r.MsgID, g, r.Submitted)
				db.Finished(finished(r, i))
			}
		}()
	}
	<-done
	if err := db.Close(); err != nil { // the others may still be writing
		t.Fatal(err)
	}
	for range 3 {
		<-done
	}
}
