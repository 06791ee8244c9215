package taskdb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// An on-disk database keeps results over LargeResult in files: the row
// holds a marker, Get and Query return the whole result, and purging or
// culling the record removes the file.
func TestLargeResultsInFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	db := openT(t, Config{Path: path, MaxRecords: 1})
	ctx := ctxT(t)
	big := bytes.Repeat([]byte{0x5a}, LargeResult+1)
	for i := range 3 {
		r := rec(i)
		db.Submitted(r)
		f := finished(r, i)
		f.Result = big
		if i == 1 {
			f.Result = []byte{0x18, 1} // small: in the row
		}
		db.Finished(f)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	files := func() int {
		ents, err := os.ReadDir(BlobDir(path))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	// m0000 may already be culled (MaxRecords 1 applies once a second);
	// m0002, the newest, is kept.
	var n int64
	if err := db.sql.QueryRowContext(ctx, `SELECT length(result) FROM tasks WHERE msg_id = 'm0002'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 16 {
		t.Errorf("row holds %d bytes of the result, want a marker", n)
	}
	recs, err := db.Get(ctx, []string{"m0002", "m0001"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(recs[0].Result, big) || !bytes.Equal(recs[1].Result, []byte{0x18, 1}) {
		t.Errorf("Get: results of %d and %d bytes", len(recs[0].Result), len(recs[1].Result))
	}
	rows, err := db.Query(ctx, map[string]any{"msg_id": "m0002"}, []string{"result"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !bytes.Equal(rows[0]["result"].([]byte), big) {
		t.Errorf("Query: %d rows", len(rows))
	}
	if err := db.cullNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := files(); got != 1 {
		t.Errorf("%d result files after culling to one record, want 1", got)
	}
	if err := db.Purge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := files(); got != 0 {
		t.Errorf("%d result files after purging, want 0", got)
	}
}

// An in-memory database keeps large results in its rows.
func TestLargeResultsInMemory(t *testing.T) {
	db := openT(t, Config{})
	ctx := ctxT(t)
	r := rec(0)
	db.Submitted(r)
	f := finished(r, 0)
	f.Result = bytes.Repeat([]byte{1}, LargeResult+1)
	db.Finished(f)
	recs, err := db.Get(ctx, []string{"m0000"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(recs[0].Result, f.Result) {
		t.Errorf("Get: %d bytes", len(recs[0].Result))
	}
}

// BenchmarkLargeResult stores results of 512 KiB (a map chunk's) and
// 10 MB in an on-disk database, in files (the default) and in the rows,
// in the same run; cpu-ms/op is the process's CPU time per result.
func BenchmarkLargeResult(b *testing.B) {
	for _, size := range []int{512 << 10, 10 << 20} {
		for _, inRow := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/file", size>>10)
			if inRow {
				name = fmt.Sprintf("%dKiB/row", size>>10)
			}
			b.Run(name, func(b *testing.B) { benchResults(b, size, inRow) })
		}
	}
}

func benchResults(b *testing.B, size int, inRow bool) {
	db := openT(b, Config{Path: filepath.Join(b.TempDir(), "tasks.db"), noBlobs: inRow})
	ctx := ctxT(b)
	big := bytes.Repeat([]byte{0x5a}, size)
	b.SetBytes(int64(len(big)))
	cpu0 := cpuTime()
	for i := range b.N {
		r := rec(i)
		db.Submitted(r)
		f := finished(r, 0)
		f.Result = big
		db.Finished(f)
		if err := db.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}
