package taskdb

import (
	"errors"
	"fmt"
	"time"
)

// ErrFailing wraps the error of a database whose writes fail (disk full,
// read-only file system...). Writes are then held in memory and retried
// every RetryInterval; reads fail with it until a retry succeeds.
var ErrFailing = errors.New("task database failing")

// Backlog bounds: beyond them the oldest held writes are dropped (and
// counted in the error).
const (
	maxBacklogOps   = 1 << 20
	maxBacklogBytes = 256 << 20
)

// reportEvery is how often a failing database is logged again.
const reportEvery = 30 * time.Second

// failure is the state of a failing database, as readers see it.
type failure struct {
	err     error
	since   time.Time
	held    int
	dropped int
}

func (f *failure) error() error {
	lost := ""
	if f.dropped > 0 {
		lost = fmt.Sprintf(", %d lost", f.dropped)
	}
	return fmt.Errorf("%w since %s (%d writes held in memory%s, retried every %v): %v",
		ErrFailing, f.since.Format(time.TimeOnly), f.held, lost, retryInterval, f.err)
}

// Health returns nil, or an error wrapping ErrFailing that names the
// failure while writes fail.
func (db *DB) Health() error {
	db.errMu.Lock()
	defer db.errMu.Unlock()
	if db.failing == nil {
		return nil
	}
	return db.failing.error()
}

func (db *DB) setFailing(f *failure) {
	db.errMu.Lock()
	db.failing = f
	db.errMu.Unlock()
}

// storageError reports whether a record's write failed because of the
// storage (full, read-only, I/O error, locked...) rather than the record:
// the batch is then held and retried instead of the record dropped.
func storageError(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.Code() & 0xff {
	case 5, 6, 7, 8, 10, 13, 14, 15: // BUSY LOCKED NOMEM READONLY IOERR FULL CANTOPEN PROTOCOL
		return true
	}
	return false
}

// hold keeps the ops of a batch that could not be written, in order,
// dropping the oldest beyond the backlog bounds.
func (w *writer) hold(ops []op) {
	for _, o := range ops {
		w.backlog = append(w.backlog, o)
		w.backlogBytes += o.size()
	}
	drop := 0
	for drop < len(w.backlog) && (len(w.backlog)-drop > maxBacklogOps || w.backlogBytes > maxBacklogBytes) {
		w.backlogBytes -= w.backlog[drop].size()
		drop++
	}
	if drop > 0 {
		clear(w.backlog[:drop])
		w.backlog = w.backlog[drop:]
		w.dropped += drop
	}
}

func (o op) size() int {
	if o.rec == nil {
		return 64
	}
	r := o.rec
	return 256 + len(r.Request) + len(r.RequestHeader) + len(r.Result) + len(r.Stdout) + len(r.Stderr)
}

// failed records a storage failure: the batch is held, the failure
// logged loudly (again every reportEvery) and shown to readers.
func (w *writer) failed(err error, batch []op) {
	w.hold(batch)
	now := time.Now()
	if w.failErr == nil {
		w.failSince = now
	}
	if w.failErr == nil || now.Sub(w.lastReport) >= reportEvery {
		w.log.Error("TASK DATABASE WRITES FAILING: records are held in memory and retried; queries fail until it recovers",
			"path", w.cfg.Path, "since", w.failSince, "held", len(w.backlog), "dropped", w.dropped, "err", err)
		w.lastReport = now
	}
	w.failErr = err
	w.db.setFailing(&failure{err: err, since: w.failSince, held: len(w.backlog), dropped: w.dropped})
}

// retry writes the held ops again; on success the database is healthy.
func (w *writer) retry() {
	if len(w.backlog) == 0 {
		return
	}
	if err := w.writeBatch(w.backlog); err != nil {
		held := w.backlog
		w.backlog, w.backlogBytes = nil, 0
		w.failed(err, held)
		return
	}
	w.log.Warn("task database recovered: held records written", "path", w.cfg.Path,
		"written", len(w.backlog), "dropped", w.dropped, "failing_for", time.Since(w.failSince).Round(time.Millisecond))
	clear(w.backlog)
	w.backlog, w.backlogBytes, w.failErr = w.backlog[:0], 0, nil
	w.db.setFailing(nil)
}
