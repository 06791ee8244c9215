package taskdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// Resubmitted queues recording that msgID was resubmitted as newID.
func (db *DB) Resubmitted(msgID, newID string) {
	if !db.send(op{kind: opResubmitted, rec: &Record{MsgID: msgID, Resubmitted: newID}}) {
		db.log.Warn("taskdb: write after close dropped", "msg_id", msgID)
	}
}

const recordCols = `msg_id, client_id, engine_id, view_kind, label, kind, name,
	submitted, started, completed, status, request, request_header, result, has_value,
	stdout, stderr, err_name, err_message, err_traceback, err_engine, err_method, resubmitted`

func scanRecord(rows *sql.Rows) (*Record, error) {
	var (
		r                   Record
		engine, errEngine   sql.NullInt64
		sub, start, done    sql.NullInt64
		en, em, et, emethod sql.NullString
	)
	err := rows.Scan(&r.MsgID, &r.ClientID, &engine, &r.ViewKind, &r.Label, &r.Kind, &r.Name,
		&sub, &start, &done, &r.Status, &r.Request, &r.RequestHeader, &r.Result, &r.HasValue,
		&r.Stdout, &r.Stderr, &en, &em, &et, &errEngine, &emethod, &r.Resubmitted)
	if err != nil {
		return nil, err
	}
	r.EngineID = -1
	if engine.Valid {
		r.EngineID = int(engine.Int64)
	}
	r.Submitted, r.Started, r.Completed = fromNull(sub), fromNull(start), fromNull(done)
	if en.Valid {
		r.Error = &protocol.RemoteError{Name: en.String, Message: em.String, Traceback: et.String,
			Engine: int(errEngine.Int64), Method: emethod.String}
	}
	return &r, nil
}

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64)
}

func jsonStrings(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // strings always marshal
	return string(b)
}

// Get returns the full records of msgIDs, pending ones included, in the
// order asked: the result has len(msgIDs) entries, nil for an unknown id.
// It flushes first, so it sees every write queued before it.
func (db *DB) Get(ctx context.Context, msgIDs []string) ([]*Record, error) {
	return db.get(ctx, msgIDs, true)
}

// GetLazy is Get that leaves the results kept in files there: such a
// record's Result is a marker (LargeSize gives its size, OpenLarge its
// file).
func (db *DB) GetLazy(ctx context.Context, msgIDs []string) ([]*Record, error) {
	return db.get(ctx, msgIDs, false)
}

func (db *DB) get(ctx context.Context, msgIDs []string, blobs bool) ([]*Record, error) {
	if err := db.Flush(ctx); err != nil {
		return nil, fmt.Errorf("get tasks: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+recordCols+` FROM tasks
		WHERE msg_id IN (SELECT value FROM json_each(?))`, jsonStrings(msgIDs))
	if err != nil {
		return nil, fmt.Errorf("get tasks: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("get tasks: %w", err)
	}
	byID := make(map[string]*Record, len(recs))
	for _, r := range recs {
		if !blobs {
			byID[r.MsgID] = r
			continue
		}
		if r.Result, err = db.readBlob(r.MsgID, r.Result); err != nil {
			return nil, fmt.Errorf("get tasks: %w", err)
		}
		byID[r.MsgID] = r
	}
	out := make([]*Record, len(msgIDs))
	for i, id := range msgIDs {
		out[i] = byID[id]
	}
	return out, nil
}

func scanAll(rows *sql.Rows) ([]*Record, error) {
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Unfinished returns the pending and running records in submission order,
// for a restarted hub to resubmit or abort.
func (db *DB) Unfinished(ctx context.Context) ([]*Record, error) {
	if err := db.Flush(ctx); err != nil {
		return nil, fmt.Errorf("unfinished tasks: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+recordCols+` FROM tasks
		WHERE status IN ('pending', 'running') ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("unfinished tasks: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("unfinished tasks: %w", err)
	}
	return recs, nil
}

// History returns every msg id in submission order.
func (db *DB) History(ctx context.Context) ([]string, error) {
	if err := db.Flush(ctx); err != nil {
		return nil, fmt.Errorf("task history: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT msg_id FROM tasks ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("task history: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("task history: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("task history: %w", err)
	}
	return ids, nil
}
