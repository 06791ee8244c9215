package taskdb

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchTasks writes b.N tasks (Submitted, Started, Finished each) to a file
// DB; lag delays a task's Started and Finished by that many tasks, so that
// they land in later batches than its Submitted and cannot be folded.
func benchTasks(b *testing.B, lag int, started bool) {
	db, err := Open(Config{Path: filepath.Join(b.TempDir(), "tasks.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	payload := make([]byte, 64)
	now := time.Now()
	ids := make([]string, b.N)
	for i := range ids {
		// Random-looking ids, like the hub's UUIDs.
		h := uint64(i+1) * 0x9e3779b97f4a7c15
		ids[i] = fmt.Sprintf("%016x-%08x", h^(h>>29), i)
	}
	finish := func(i int) {
		if started {
			db.Started(ids[i], i%8, now)
		}
		db.Finished(&Record{MsgID: ids[i], EngineID: i % 8, Started: now, Completed: now,
			Status: StatusOK, Result: payload[:16], HasValue: true})
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := range b.N {
		db.Submitted(&Record{MsgID: ids[i], ClientID: "client-1", EngineID: -1, ViewKind: "balanced",
			Kind: "apply", Name: "f", Submitted: now, Request: payload, RequestHeader: payload[:24]})
		if j := i - lag; j >= 0 {
			finish(j)
		}
	}
	for j := max(0, b.N-lag); j < b.N; j++ {
		finish(j)
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
	// CPU time of the whole process (writer and callers) per task: on a
	// shared machine this says more than wall time.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/task")
}

// BenchmarkWriteThroughput measures Submitted+Started+Finished per task on a
// file DB, each write in its own batch-amortised statement.
func BenchmarkWriteThroughput(b *testing.B) {
	b.Run("unfolded", func(b *testing.B) { benchTasks(b, 20000, true) })
	b.Run("folded", func(b *testing.B) { benchTasks(b, 0, true) })
	// As short tasks run: no started notice (sent only for tasks still
	// running after a while), the result in a later batch than the submit.
	b.Run("short", func(b *testing.B) { benchTasks(b, 20000, false) })
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
