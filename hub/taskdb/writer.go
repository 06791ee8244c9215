package taskdb

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

type opKind uint8

const (
	opSubmit opKind = iota
	opStart
	opFinish
	opResubmitted
	opBarrier // reply after everything before it is committed
	opPurge
	opCull // apply retention now (tests)
)

// op is one queued write. rec is a private copy owned by the writer.
type op struct {
	kind  opKind
	rec   *Record
	ids   []string
	all   bool
	reply chan error
}

// writer owns the write connection; only its goroutine touches it.
type writer struct {
	db     *DB
	conn   *rawConn
	cfg    Config
	log    *slog.Logger
	insert *rawStmt // submit (and submits with folded outcomes)
	finish *rawStmt // upsert of an outcome (for a task never submitted)
	update *rawStmt // update of a submitted task with its outcome
	start  *rawStmt
	resub  *rawStmt

	// Plain submits and outcomes, written many rows per statement
	// (multirow.go).
	submits, finishes *rowsStmt
	subRows, finRows  rowBatch

	batch    []op
	pending  map[string]*Record // submits in the current batch, by msg id
	starts   map[string]int     // index in batch of unfolded starts, by msg id
	replies  []op               // barriers and other calls answered after commit
	nextCull time.Time
	blobDir  string // large results' files (blobs.go)

	// While the storage fails, batches are held here, in order, and
	// retried every retryInterval (health.go).
	backlog      []op
	backlogBytes int
	dropped      int
	failErr      error
	failSince    time.Time
	lastReport   time.Time
}

// retryInterval is how often held writes are retried.
const retryInterval = time.Second

const insertCols = `msg_id, client_id, engine_id, view_kind, label, kind, name,
	submitted, started, completed, status, request, request_header, result, has_value,
	stdout, stderr, err_name, err_message, err_traceback, err_engine, err_method, resubmitted`

// insertValues binds empty strings as NULL (cheaper to bind) and stores an empty string.
const insertValues = `VALUES (?, coalesce(?, ''), ?, coalesce(?, ''), coalesce(?, ''), coalesce(?, ''),
	coalesce(?, ''), ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, ''), coalesce(?, ''), ?, ?, ?, ?, ?, coalesce(?, ''))`

func newWriter(ctx context.Context, c *rawConn, cfg Config, log *slog.Logger) (*writer, error) {
	w := &writer{conn: c, cfg: cfg, log: log, pending: make(map[string]*Record), starts: make(map[string]int),
		submits: newSubmitRows(), finishes: newFinishRows()}
	var err error
	prep := func(q string) *rawStmt {
		if err != nil {
			return nil
		}
		var s *rawStmt
		s, err = c.prepare(ctx, q)
		return s
	}
	w.insert = prep(`INSERT INTO tasks (` + insertCols + `) ` + insertValues + ` ON CONFLICT(msg_id) DO NOTHING`)
	w.finish = prep(`INSERT INTO tasks (` + insertCols + `) ` + insertValues + `
		ON CONFLICT(msg_id) DO UPDATE SET
			engine_id = coalesce(excluded.engine_id, engine_id),
			started = coalesce(excluded.started, started),
			completed = excluded.completed,
			status = excluded.status,
			result = excluded.result,
			has_value = excluded.has_value,
			stdout = excluded.stdout,
			stderr = excluded.stderr,
			err_name = excluded.err_name,
			err_message = excluded.err_message,
			err_traceback = excluded.err_traceback,
			err_engine = excluded.err_engine,
			err_method = excluded.err_method,
			resubmitted = CASE WHEN excluded.resubmitted != '' THEN excluded.resubmitted ELSE resubmitted END`)
	w.update = prep(`UPDATE tasks SET
			engine_id = coalesce(?, engine_id),
			started = coalesce(?, started),
			completed = ?, status = ?, result = ?, has_value = ?,
			stdout = coalesce(?, ''), stderr = coalesce(?, ''),
			err_name = ?, err_message = ?, err_traceback = ?, err_engine = ?, err_method = ?,
			resubmitted = coalesce(nullif(?, ''), resubmitted)
		WHERE msg_id = ?`)
	w.start = prep(`UPDATE tasks SET
			engine_id = coalesce(?, engine_id),
			started = ?,
			status = CASE WHEN status = 'pending' THEN 'running' ELSE status END
		WHERE msg_id = ? AND completed IS NULL`)
	w.resub = prep(`UPDATE tasks SET resubmitted = ? WHERE msg_id = ?`)
	if err != nil {
		w.closeStmts()
		return nil, err
	}
	return w, nil
}

func (w *writer) run() {
	defer close(w.db.done)
	defer w.closeStmts()
	var tick <-chan time.Time
	if w.cfg.MaxRecords > 0 || w.cfg.MaxAge > 0 {
		t := time.NewTicker(cullInterval)
		defer t.Stop()
		tick = t.C
		w.nextCull = time.Now().Add(cullInterval)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
			w.retry()
		case o, ok := <-w.db.ops:
			if !ok {
				return
			}
			closing := w.collect(o, timer)
			w.commit()
			if closing {
				w.retry() // a last chance for held writes
			}
			if tick != nil && !time.Now().Before(w.nextCull) {
				w.cull()
			}
			if closing {
				return
			}
		case <-tick:
			if !time.Now().Before(w.nextCull) {
				w.cull()
			}
		}
	}
}

func (w *writer) closeStmts() {
	w.submits.close()
	w.finishes.close()
	for _, s := range []*rawStmt{w.insert, w.finish, w.update, w.start, w.resub} {
		s.Close()
	}
}

// collect gathers a batch starting with first and reports whether the
// queue was closed. It sleeps for FlushInterval, unless a call is waiting,
// then takes what was queued meanwhile: writers queue without waking it,
// so a batch costs one wake-up, not one per write.
func (w *writer) collect(first op, timer *time.Timer) (closing bool) {
	if !w.add(first) {
		return false
	}
	timer.Reset(w.cfg.FlushInterval)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-w.db.urgent:
	}
	for len(w.batch) < maxBatch {
		select {
		case o, ok := <-w.db.ops:
			if !ok {
				return true
			}
			if !w.add(o) {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// add folds o into the batch; it reports false when the batch must be
// committed now (a call is waiting).
func (w *writer) add(o op) bool {
	switch o.kind {
	case opSubmit:
		w.pending[o.rec.MsgID] = o.rec
		w.batch = append(w.batch, o)
	case opStart:
		if r := w.pending[o.rec.MsgID]; r != nil {
			if o.rec.EngineID >= 0 {
				r.EngineID = o.rec.EngineID
			}
			r.Started = o.rec.Started
			if r.Status == StatusPending {
				r.Status = StatusRunning
			}
			return true
		}
		w.starts[o.rec.MsgID] = len(w.batch)
		w.batch = append(w.batch, o)
	case opFinish:
		if r := w.pending[o.rec.MsgID]; r != nil {
			f := o.rec
			if f.EngineID >= 0 {
				r.EngineID = f.EngineID
			}
			if !f.Started.IsZero() {
				r.Started = f.Started
			}
			r.Completed, r.Status = f.Completed, f.Status
			r.Result, r.HasValue = f.Result, f.HasValue
			r.Stdout, r.Stderr, r.Error = f.Stdout, f.Stderr, f.Error
			if f.Resubmitted != "" {
				r.Resubmitted = f.Resubmitted
			}
			return true
		}
		if j, ok := w.starts[o.rec.MsgID]; ok {
			// Fold with the task's start earlier in this batch.
			delete(w.starts, o.rec.MsgID)
			s := w.batch[j].rec
			if o.rec.Started.IsZero() {
				o.rec.Started = s.Started
			}
			if o.rec.EngineID < 0 {
				o.rec.EngineID = s.EngineID
			}
			w.batch[j] = o
			return true
		}
		w.batch = append(w.batch, o)
	case opResubmitted:
		if r := w.pending[o.rec.MsgID]; r != nil {
			r.Resubmitted = o.rec.Resubmitted
			return true
		}
		w.batch = append(w.batch, o)
	default:
		w.replies = append(w.replies, o)
		return false
	}
	return true
}

// commit writes the batch in one transaction, then answers waiting calls.
func (w *writer) commit() {
	switch {
	case len(w.batch) == 0:
	case len(w.backlog) > 0:
		w.hold(w.batch) // behind the held writes, in order
		w.db.setFailing(&failure{err: w.failErr, since: w.failSince, held: len(w.backlog), dropped: w.dropped})
	default:
		if err := w.writeBatch(w.batch); err != nil {
			w.failed(err, w.batch)
		}
	}
	clear(w.batch)
	w.batch = w.batch[:0]
	clear(w.pending)
	clear(w.starts)
	for i, o := range w.replies {
		var err error
		switch o.kind {
		case opPurge:
			if err = w.db.Health(); err == nil {
				err = w.purge(o.ids, o.all)
			}
		case opCull:
			w.cull()
		}
		o.reply <- err
		w.replies[i] = op{}
	}
	w.replies = w.replies[:0]
}

// writeBatch writes ops in one transaction. A record SQLite refuses is
// logged and skipped; a storage failure fails the whole batch.
func (w *writer) writeBatch(ops []op) (err error) {
	ctx := context.Background()
	if h := w.cfg.FailWrites; h != nil {
		if err := h(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	if _, err := w.conn.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			w.conn.exec(ctx, "ROLLBACK")
		}
	}()
	w.subRows.reset()
	w.finRows.reset()
	for _, o := range ops {
		if err := w.writeOp(ctx, o); err != nil {
			return err
		}
	}
	if err := w.flushRows(ctx); err != nil {
		return err
	}
	if _, err := w.conn.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writeOp writes o, or gathers it for a multi-row statement when it is
// plain. What was gathered is written first when o may insert a row, or
// concerns a task with a gathered outcome, so that records keep the order
// of their events (and seq the order of submission).
func (w *writer) writeOp(ctx context.Context, o op) error {
	r := o.rec
	switch o.kind {
	case opSubmit:
		w.externalize(r)
		if plain(r) {
			w.subRows.addSubmit(r)
			return nil
		}
	case opFinish:
		w.externalize(r)
		if plain(r) && !w.finRows.ids[r.MsgID] {
			w.finRows.addFinish(r)
			return nil
		}
	}
	if o.kind == opSubmit || o.kind == opFinish || w.finRows.ids[r.MsgID] {
		// Inserted rows keep their order; an outcome is not overtaken.
		if err := w.flushRows(ctx); err != nil {
			return err
		}
	}
	var err error
	switch o.kind {
	case opSubmit:
		_, err = w.insert.exec(ctx, recordArgs(r)...)
	case opFinish:
		err = w.writeFinish(ctx, r)
	case opStart:
		_, err = w.start.exec(ctx, nullEngine(r.EngineID), nullTime(r.Started), r.MsgID)
	case opResubmitted:
		_, err = w.resub.exec(ctx, r.Resubmitted, r.MsgID)
	}
	return w.recordErr(r, err)
}

// writeFinish updates a submitted task with its outcome, or inserts the
// whole record when the task is unknown.
func (w *writer) writeFinish(ctx context.Context, r *Record) error {
	var en, em, et, ee, emeth any
	if e := r.Error; e != nil {
		en, em, et, ee, emeth = e.Name, e.Message, e.Traceback, int64(e.Engine), e.Method
	}
	n, err := w.update.exec(ctx, nullEngine(r.EngineID), nullTime(r.Started),
		nullTime(r.Completed), r.Status, r.Result, r.HasValue, text(r.Stdout), text(r.Stderr),
		en, em, et, ee, emeth, text(r.Resubmitted), r.MsgID)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err = w.finish.exec(ctx, recordArgs(r)...)
	return err
}

func recordArgs(r *Record) []any {
	var en, em, et, ee, emeth any
	if e := r.Error; e != nil {
		en, em, et, ee, emeth = e.Name, e.Message, e.Traceback, int64(e.Engine), e.Method
	}
	return []any{
		r.MsgID, text(r.ClientID), nullEngine(r.EngineID), text(r.ViewKind), text(r.Label),
		text(r.Kind), text(r.Name), nullTime(r.Submitted), nullTime(r.Started),
		nullTime(r.Completed), r.Status, r.Request, r.RequestHeader, r.Result, r.HasValue,
		text(r.Stdout), text(r.Stderr), en, em, et, ee, emeth, text(r.Resubmitted),
	}
}

// text binds "" as NULL, which the statements store as an empty string.
func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nullEngine(id int) any {
	if id < 0 {
		return nil
	}
	return int64(id)
}

func (w *writer) purge(ids []string, all bool) error {
	ctx := context.Background()
	var err error
	if all {
		_, err = w.conn.exec(ctx, `DELETE FROM tasks WHERE completed IS NOT NULL`)
	} else {
		_, err = w.conn.exec(ctx, `DELETE FROM tasks WHERE completed IS NOT NULL
			AND msg_id IN (SELECT value FROM json_each(?))`, jsonStrings(ids))
	}
	if err == nil {
		w.collectBlobs(ctx)
	}
	return err
}

// cullLimit bounds the records one cull deletes, so that the writer never
// stalls for long; a cull that hits it runs again after the next batch.
const cullLimit = 50000

// cull applies MaxAge and MaxRecords, deleting the oldest finished records.
func (w *writer) cull() {
	ctx := context.Background()
	more, deleted := false, false
	if w.cfg.MaxAge > 0 {
		cutoff := time.Now().Add(-w.cfg.MaxAge).UnixNano()
		n, err := w.conn.exec(ctx, `DELETE FROM tasks WHERE seq IN
			(SELECT seq FROM tasks WHERE completed < ? LIMIT ?)`, cutoff, int64(cullLimit))
		if err != nil {
			w.log.Error("taskdb: cull by age", "err", err)
		} else if n > 0 {
			deleted = true
			w.log.Debug("taskdb: culled by age", "records", n)
			more = more || n == cullLimit
		}
	}
	if w.cfg.MaxRecords > 0 {
		n, err := w.conn.queryInt(ctx, `SELECT count(*) FROM tasks WHERE completed IS NOT NULL`)
		if err != nil {
			w.log.Error("taskdb: cull by count", "err", err)
		} else if excess := n - int64(w.cfg.MaxRecords); excess > 0 {
			lim := min(excess, cullLimit)
			_, err := w.conn.exec(ctx, `DELETE FROM tasks WHERE seq IN
				(SELECT seq FROM tasks WHERE completed IS NOT NULL ORDER BY seq LIMIT ?)`, lim)
			if err != nil {
				w.log.Error("taskdb: cull by count", "err", err)
			} else {
				deleted = true
				w.log.Debug("taskdb: culled by count", "records", lim)
				more = more || excess > lim
			}
		}
	}
	if deleted {
		w.collectBlobs(ctx)
	}
	if more {
		w.nextCull = time.Now()
	} else {
		w.nextCull = time.Now().Add(cullInterval)
	}
}
