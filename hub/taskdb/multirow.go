package taskdb

import (
	"context"
	"fmt"
	"strings"
)

// Most records are plain: a submit with the request and, when the task
// finished within the same batch, its value; an outcome with a value and
// nothing printed. The writer writes those many rows per statement, with
// only the columns they have: a statement's fixed cost (its execution,
// halt, bound NULLs) is paid once per chunk instead of once per task.

// chunkRows is the most rows one multi-row statement writes; a run of
// records is written in chunks of powers of two, so that at most seven
// statements of each kind are ever prepared.
const chunkRows = 64

// chunk returns the size of the next chunk of a run of n records.
func chunk(n int) int {
	c := chunkRows
	for c > n {
		c /= 2
	}
	return c
}

// submitCols are the columns a plain submit has.
const submitCols = `msg_id, client_id, engine_id, view_kind, label, kind, name,
	submitted, status, request, request_header, started, completed, result, has_value`

const submitRow = `(?, coalesce(?, ''), ?, coalesce(?, ''), coalesce(?, ''), coalesce(?, ''),
	coalesce(?, ''), ?, ?, ?, ?, ?, ?, ?, ?)`

// finishRow is a plain outcome: msg id, engine, started, completed,
// status, result, has_value.
const finishRow = `(?, ?, ?, ?, ?, ?, ?)`

// plain reports whether r has no output, error or resubmission to
// record: a submit, perhaps with its outcome folded in, or an outcome.
func plain(r *Record) bool {
	return r.Stdout == "" && r.Stderr == "" && r.Error == nil && r.Resubmitted == ""
}

// rowsStmt is a multi-row statement and its rows.
type rowsStmt struct {
	prefix, row, suffix string
	stmts               map[int]*rawStmt // by row count, prepared when first used
}

func newRowsStmt(prefix, row, suffix string) *rowsStmt {
	return &rowsStmt{prefix: prefix, row: row, suffix: suffix, stmts: map[int]*rawStmt{}}
}

// stmt returns the statement for n rows.
func (m *rowsStmt) stmt(ctx context.Context, c *rawConn, n int) (*rawStmt, error) {
	if s := m.stmts[n]; s != nil {
		return s, nil
	}
	rows := strings.TrimSuffix(strings.Repeat(m.row+",", n), ",")
	s, err := c.prepare(ctx, m.prefix+rows+m.suffix)
	if err != nil {
		return nil, err
	}
	m.stmts[n] = s
	return s, nil
}

func (m *rowsStmt) close() {
	for n, s := range m.stmts {
		s.Close()
		delete(m.stmts, n)
	}
}

func newSubmitRows() *rowsStmt {
	return newRowsStmt(`INSERT OR IGNORE INTO tasks (`+submitCols+`) VALUES `, submitRow, ``)
}

// newFinishRows updates known tasks with plain outcomes; unknown ones are
// left to writeFinish (the statement's count of changed rows tells).
func newFinishRows() *rowsStmt {
	return newRowsStmt(`WITH v(id, eng, st, co, stat, res, hv) AS (VALUES `, finishRow, `)
		UPDATE OR IGNORE tasks SET
			engine_id = coalesce(v.eng, engine_id),
			started = coalesce(v.st, started),
			completed = v.co, status = v.stat, result = v.res, has_value = v.hv,
			stdout = '', stderr = '',
			err_name = NULL, err_message = NULL, err_traceback = NULL, err_engine = NULL, err_method = NULL
		FROM v WHERE tasks.msg_id = v.id`)
}

// rowBatch gathers the arguments of plain records for one multi-row
// statement.
type rowBatch struct {
	recs []*Record
	args []any
	ids  map[string]bool // msg ids gathered (outcomes only)
}

func (b *rowBatch) reset() {
	clear(b.ids)
	clear(b.recs)
	b.recs = b.recs[:0]
	clear(b.args)
	b.args = b.args[:0]
}

func (b *rowBatch) addSubmit(r *Record) {
	b.recs = append(b.recs, r)
	b.args = append(b.args, r.MsgID, text(r.ClientID), nullEngine(r.EngineID), text(r.ViewKind),
		text(r.Label), text(r.Kind), text(r.Name), nullTime(r.Submitted), r.Status, r.Request, r.RequestHeader,
		nullTime(r.Started), nullTime(r.Completed), r.Result, r.HasValue)
}

func (b *rowBatch) addFinish(r *Record) {
	if b.ids == nil {
		b.ids = map[string]bool{}
	}
	b.ids[r.MsgID] = true
	b.recs = append(b.recs, r)
	b.args = append(b.args, r.MsgID, nullEngine(r.EngineID), nullTime(r.Started), nullTime(r.Completed),
		r.Status, r.Result, r.HasValue)
}

// flushRows writes what was gathered: submits first (no gathered outcome
// is one of theirs: those are folded into the submit).
func (w *writer) flushRows(ctx context.Context) error {
	if err := w.flushSubmits(ctx); err != nil {
		return err
	}
	return w.flushFinishes(ctx)
}

// flushSubmits inserts the gathered plain submits, in order (their seq
// is their submission order). The statement skips rows it cannot insert
// (OR IGNORE: it needs no statement journal); a chunk that did not insert
// all its rows (a task already recorded, or a record SQLite refuses) is
// written again one by one, which skips the known ones and logs the bad
// one.
func (w *writer) flushSubmits(ctx context.Context) error {
	b := &w.subRows
	defer b.reset()
	per := len(b.args) / max(1, len(b.recs))
	for i, j := 0, 0; i < len(b.recs); i = j {
		j = i + chunk(len(b.recs)-i)
		s, err := w.submits.stmt(ctx, w.conn, j-i)
		var n int64
		if err == nil {
			n, err = s.exec(ctx, b.args[i*per:j*per]...)
		}
		if err == nil && n == int64(j-i) {
			continue
		}
		if err != nil && storageError(err) {
			return fmt.Errorf("write %s: %w", b.recs[i].MsgID, err)
		}
		for _, r := range b.recs[i:j] {
			_, err := w.insert.exec(ctx, recordArgs(r)...)
			if err := w.recordErr(r, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushFinishes updates the gathered plain outcomes; a chunk that did not
// change as many rows as it has (a task unknown to the database, or a
// row the statement skipped) is written again one by one, which inserts
// the unknown ones.
func (w *writer) flushFinishes(ctx context.Context) error {
	b := &w.finRows
	defer b.reset()
	per := len(b.args) / max(1, len(b.recs))
	for i, j := 0, 0; i < len(b.recs); i = j {
		j = i + chunk(len(b.recs)-i)
		s, err := w.finishes.stmt(ctx, w.conn, j-i)
		var n int64
		if err == nil {
			n, err = s.exec(ctx, b.args[i*per:j*per]...)
		}
		if err == nil && n == int64(j-i) {
			continue
		}
		if err != nil && storageError(err) {
			return fmt.Errorf("write %s: %w", b.recs[i].MsgID, err)
		}
		for _, r := range b.recs[i:j] {
			if err := w.recordErr(r, w.writeFinish(ctx, r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordErr returns a storage failure writing r; any other error is
// logged and kept, and the record skipped.
func (w *writer) recordErr(r *Record, err error) error {
	if err == nil {
		return nil
	}
	if storageError(err) {
		return fmt.Errorf("write %s: %w", r.MsgID, err)
	}
	// One bad record must not lose the rest of the batch.
	w.log.Error("taskdb: write record", "msg_id", r.MsgID, "err", err)
	w.db.setErr(fmt.Errorf("write %s: %w", r.MsgID, err))
	return nil
}
