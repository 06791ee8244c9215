package taskdb

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// plainOutcome is r finished with a value and nothing printed.
func plainOutcome(r *Record, i int) *Record {
	f := *r
	f.EngineID = i % 2
	f.Started = r.Submitted.Add(time.Millisecond)
	f.Completed = r.Submitted.Add(2 * time.Millisecond)
	f.Status, f.Result, f.HasValue = StatusOK, []byte{0x18, byte(i)}, true
	return &f
}

// TestPlainRecordsManyRows writes runs of plain submits and outcomes
// (multi-row statements) mixed with records that are not plain, unknown
// tasks, a repeated submit and a repeated outcome, and reads every record back as written,
// in submission order.
func TestPlainRecordsManyRows(t *testing.T) {
	db := openT(t, Config{FlushInterval: time.Hour})
	ctx := ctxT(t)
	var recs []*Record
	var ids []string
	for i := range 150 {
		r := rec(i)
		recs = append(recs, r)
		ids = append(ids, r.MsgID)
		if i == 70 {
			// Folded with its outcome (printed output): a whole-record
			// insert between two runs of plain ones.
			f := finished(r, i)
			db.Submitted(r)
			db.Finished(f)
			recs[i] = f
			continue
		}
		db.Submitted(r)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A task submitted again in a run of new ones keeps its record; the
	// new ones around it are inserted.
	for i, n := range []int{2000, 145, 2001} {
		r := rec(n)
		if i == 1 {
			r.Label = "again"
		} else {
			recs = append(recs, r)
			ids = append(ids, r.MsgID)
		}
		db.Submitted(r)
	}
	for i := range 140 {
		if i == 70 {
			continue
		}
		f := plainOutcome(recs[i], i)
		if i == 5 {
			// An outcome given twice in one batch: the last one counts.
			db.Finished(plainOutcome(recs[i], 99))
		}
		if i%40 == 3 {
			// Unknown tasks' outcomes are inserted whole.
			u := plainOutcome(rec(1000+i), i)
			db.Finished(u)
			recs = append(recs, u)
			ids = append(ids, u.MsgID)
		}
		db.Finished(f)
		recs[i] = f
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(recs, got, cmpTime()); d != "" {
		t.Errorf("Get (-want +got):\n%s", d)
	}
	hist, err := db.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ids, hist); d != "" {
		t.Errorf("History (-want +got):\n%s", d)
	}
}

func TestChunk(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 63: 32, 64: 64, 65: 64, 1000: 64} {
		if got := chunk(n); got != want {
			t.Errorf("chunk(%d) = %d, want %d", n, got, want)
		}
	}
}
