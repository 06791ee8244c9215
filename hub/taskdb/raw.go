package taskdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// rawConn runs statements on the driver connection directly, skipping
// database/sql's per-call conversions; the writer uses it inside
// sql.Conn.Raw for the whole of its life.
type rawConn struct {
	c driver.Conn
}

// rawStmt is a prepared statement on a rawConn, with a reused argument
// buffer. Not safe for concurrent use.
type rawStmt struct {
	st driver.Stmt
	nv []driver.NamedValue
}

func newRawConn(dc any) (*rawConn, error) {
	c, ok := dc.(driver.Conn)
	if !ok {
		return nil, fmt.Errorf("driver connection %T is not a driver.Conn", dc)
	}
	if _, ok := c.(driver.ExecerContext); !ok {
		return nil, fmt.Errorf("driver connection %T cannot exec", dc)
	}
	if _, ok := c.(driver.QueryerContext); !ok {
		return nil, fmt.Errorf("driver connection %T cannot query", dc)
	}
	return &rawConn{c: c}, nil
}

func named(buf []driver.NamedValue, args []any) []driver.NamedValue {
	buf = buf[:0]
	for i, a := range args {
		if b, ok := a.(bool); ok { // stored as 0/1
			a = int64(0)
			if b {
				a = int64(1)
			}
		}
		buf = append(buf, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	return buf
}

func (r *rawConn) prepare(ctx context.Context, q string) (*rawStmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := r.c.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, q)
	} else {
		st, err = r.c.Prepare(q)
	}
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	if _, ok := st.(driver.StmtExecContext); !ok {
		st.Close()
		return nil, fmt.Errorf("prepare %q: statement %T cannot exec", q, st)
	}
	return &rawStmt{st: st}, nil
}

// exec runs the statement and returns the number of rows it changed.
// Arguments must be driver values (int64, string, []byte, nil, bool).
func (s *rawStmt) exec(ctx context.Context, args ...any) (int64, error) {
	s.nv = named(s.nv, args)
	res, err := s.st.(driver.StmtExecContext).ExecContext(ctx, s.nv)
	clear(s.nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *rawStmt) Close() error {
	if s == nil {
		return nil
	}
	return s.st.Close()
}

// exec runs a one-off statement and returns the rows it changed.
func (r *rawConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := r.c.(driver.ExecerContext).ExecContext(ctx, q, named(nil, args))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryInt runs a query returning one integer.
func (r *rawConn) queryInt(ctx context.Context, q string, args ...any) (int64, error) {
	rows, err := r.c.(driver.QueryerContext).QueryContext(ctx, q, named(nil, args))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("query %q: no rows", q)
		}
		return 0, err
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("query %q: got %T, want an integer", q, dest[0])
	}
	return n, nil
}
