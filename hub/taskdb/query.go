package taskdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pxsh/pxsh/protocol"
)

// ErrBadQuery is wrapped by Query's errors about the query itself (unknown
// field, key or operator, or a value of the wrong type).
var ErrBadQuery = errors.New("bad query")

type fieldType uint8

const (
	tString fieldType = iota
	tEngine           // integer, NULL for none (-1)
	tTime             // unix nanoseconds, NULL for unset
	tBool
	tBytes
	tError // the err_* columns, as *protocol.RemoteError
)

type field struct {
	col       string
	typ       fieldType
	queryable bool
}

var fields = map[string]field{
	"msg_id":         {"msg_id", tString, true},
	"client_id":      {"client_id", tString, true},
	"engine_id":      {"engine_id", tEngine, true},
	"view_kind":      {"view_kind", tString, true},
	"label":          {"label", tString, true},
	"kind":           {"kind", tString, true},
	"name":           {"name", tString, true},
	"status":         {"status", tString, true},
	"submitted":      {"submitted", tTime, true},
	"started":        {"started", tTime, true},
	"completed":      {"completed", tTime, true},
	"resubmitted":    {"resubmitted", tString, true},
	"has_value":      {"has_value", tBool, true},
	"stdout":         {"stdout", tString, true},
	"stderr":         {"stderr", tString, true},
	"error":          {"", tError, false},
	"request":        {"request", tBytes, false},
	"request_header": {"request_header", tBytes, false},
	"result":         {"result", tBytes, false},
}

// defaultKeys are returned when Query gets no keys: everything but the
// payload buffers.
var defaultKeys = []string{"msg_id", "client_id", "engine_id", "view_kind", "label", "kind", "name",
	"status", "submitted", "started", "completed", "has_value", "stdout", "stderr", "error", "resubmitted"}

// Query returns the records matching a Mongo-style query, in submission
// order, as maps from key to value.
//
// A query maps a field to a value (equality) or to a map of operators:
// $eq $ne $lt $lte $gt $gte $in $nin (a list) and $glob (a shell pattern,
// strings only); several operators on one field must all hold. Fields are
// msg_id, client_id, engine_id, view_kind, label, kind, name, status,
// submitted, started, completed, resubmitted, has_value, stdout, stderr.
// Times are given as time.Time, unix seconds (float or integer) or RFC 3339
// strings; nil matches an unset time or engine.
//
// keys selects the returned fields (the queryable ones plus error, request,
// request_header and result); nil means every field but the payloads.
// msg_id is always returned. Returned times are time.Time, engine_id an int,
// error a *protocol.RemoteError; unset ones are nil.
func (db *DB) Query(ctx context.Context, query map[string]any, keys []string) ([]map[string]any, error) {
	return db.query(ctx, query, keys, 0)
}

// Latest is Query limited to the last limit matching records (still in
// submission order); limit <= 0 means no limit.
func (db *DB) Latest(ctx context.Context, query map[string]any, keys []string, limit int) ([]map[string]any, error) {
	return db.query(ctx, query, keys, limit)
}

func (db *DB) query(ctx context.Context, query map[string]any, keys []string, limit int) ([]map[string]any, error) {
	where, args, err := buildWhere(query)
	if err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	if keys == nil {
		keys = defaultKeys
	}
	sel := []string{"msg_id"}
	var outKeys []string
	for _, k := range keys {
		f, ok := fields[k]
		if !ok {
			return nil, fmt.Errorf("query tasks: %w: unknown key %q", ErrBadQuery, k)
		}
		if k == "msg_id" || slices.Contains(outKeys, k) {
			continue
		}
		outKeys = append(outKeys, k)
		if f.typ == tError {
			sel = append(sel, "err_name", "err_message", "err_traceback", "err_engine", "err_method")
		} else {
			sel = append(sel, f.col)
		}
	}
	if err := db.Flush(ctx); err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	from := " FROM tasks"
	if where != "" {
		from += " WHERE " + where
	}
	cols := strings.Join(sel, ", ")
	q := "SELECT " + cols + from + " ORDER BY seq"
	if limit > 0 {
		q = fmt.Sprintf("SELECT %s FROM (SELECT seq, %s%s ORDER BY seq DESC LIMIT %d) ORDER BY seq", cols, cols, from, limit)
	}
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	defer rows.Close()
	out := []map[string]any{}
	dest := make([]any, len(sel))
	for rows.Next() {
		for i := range dest {
			dest[i] = new(any)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query tasks: %w", err)
		}
		val := func(i int) any { return *(dest[i].(*any)) }
		m := make(map[string]any, len(outKeys)+1)
		m["msg_id"] = asString(val(0))
		i := 1
		for _, k := range outKeys {
			f := fields[k]
			switch f.typ {
			case tString:
				m[k] = asString(val(i))
			case tEngine:
				if v, ok := val(i).(int64); ok {
					m[k] = int(v)
				} else {
					m[k] = nil
				}
			case tTime:
				if v, ok := val(i).(int64); ok {
					m[k] = time.Unix(0, v)
				} else {
					m[k] = nil
				}
			case tBool:
				v, _ := val(i).(int64)
				m[k] = v != 0
			case tBytes:
				switch v := val(i).(type) {
				case []byte:
					m[k] = v
				default:
					m[k] = nil
				}
			case tError:
				if val(i) == nil {
					m[k] = nil
				} else {
					eng, _ := val(i + 3).(int64)
					m[k] = &protocol.RemoteError{Name: asString(val(i)), Message: asString(val(i + 1)),
						Traceback: asString(val(i + 2)), Engine: int(eng), Method: asString(val(i + 4))}
				}
				i += 4
			}
			i++
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	return out, nil
}

func asString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// buildWhere turns a query into a parameterised SQL condition. Only column
// names from the fields table and fixed operators reach the SQL text;
// every value is a parameter.
func buildWhere(query map[string]any) (string, []any, error) {
	names := make([]string, 0, len(query))
	for k := range query {
		names = append(names, k)
	}
	slices.Sort(names)
	var conds []string
	var args []any
	for _, name := range names {
		f, ok := fields[name]
		if !ok {
			return "", nil, fmt.Errorf("%w: unknown field %q", ErrBadQuery, name)
		}
		if !f.queryable {
			return "", nil, fmt.Errorf("%w: field %q cannot be queried", ErrBadQuery, name)
		}
		v := query[name]
		ops, isOps, err := asOps(v)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %s: %v", ErrBadQuery, name, err)
		}
		if !isOps {
			ops = map[string]any{"$eq": v}
		}
		opNames := make([]string, 0, len(ops))
		for o := range ops {
			opNames = append(opNames, o)
		}
		slices.Sort(opNames)
		for _, o := range opNames {
			c, a, err := condition(f, o, ops[o])
			if err != nil {
				return "", nil, fmt.Errorf("%w: %s: %v", ErrBadQuery, name, err)
			}
			conds = append(conds, c)
			args = append(args, a...)
		}
	}
	return strings.Join(conds, " AND "), args, nil
}

// asOps reports whether v is an operator map, and returns it.
func asOps(v any) (map[string]any, bool, error) {
	switch m := v.(type) {
	case map[string]any:
		for k := range m {
			if !strings.HasPrefix(k, "$") {
				return nil, false, fmt.Errorf("got key %q in an operator map, want an operator such as $lt", k)
			}
		}
		return m, true, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			s, ok := k.(string)
			if !ok || !strings.HasPrefix(s, "$") {
				return nil, false, fmt.Errorf("got key %v in an operator map, want an operator such as $lt", k)
			}
			out[s] = x
		}
		return out, true, nil
	}
	return nil, false, nil
}

func condition(f field, op string, v any) (string, []any, error) {
	col := f.col
	switch op {
	case "$eq", "$ne":
		x, err := convert(f.typ, v)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", op, err)
		}
		if op == "$eq" {
			if x == nil {
				return col + " IS NULL", nil, nil
			}
			return col + " = ?", []any{x}, nil
		}
		return col + " IS NOT ?", []any{x}, nil
	case "$lt", "$lte", "$gt", "$gte":
		x, err := convert(f.typ, v)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", op, err)
		}
		if x == nil {
			return "", nil, fmt.Errorf("%s: got null, want a value", op)
		}
		sym := map[string]string{"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}[op]
		return col + " " + sym + " ?", []any{x}, nil
	case "$in", "$nin":
		items, err := asList(v)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", op, err)
		}
		vals := make([]any, 0, len(items))
		hasNull := false
		for _, it := range items {
			x, err := convert(f.typ, it)
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", op, err)
			}
			if x == nil {
				hasNull = true
				continue
			}
			if b, ok := x.(bool); ok { // stored as 0/1
				x = 0
				if b {
					x = 1
				}
			}
			vals = append(vals, x)
		}
		js, err := json.Marshal(vals)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", op, err)
		}
		in := col + " IN (SELECT value FROM json_each(?))"
		if op == "$in" {
			if hasNull {
				return "(" + in + " OR " + col + " IS NULL)", []any{string(js)}, nil
			}
			return in, []any{string(js)}, nil
		}
		if hasNull {
			return "(" + col + " IS NOT NULL AND NOT " + in + ")", []any{string(js)}, nil
		}
		return "(" + col + " IS NULL OR NOT " + in + ")", []any{string(js)}, nil
	case "$glob":
		if f.typ != tString {
			return "", nil, fmt.Errorf("$glob: applies to text fields only")
		}
		s, ok := v.(string)
		if !ok {
			return "", nil, fmt.Errorf("$glob: got %T, want string", v)
		}
		return col + " GLOB ?", []any{s}, nil
	}
	return "", nil, fmt.Errorf("unknown operator %q (want $eq, $ne, $lt, $lte, $gt, $gte, $in, $nin or $glob)", op)
}

func asList(v any) ([]any, error) {
	if l, ok := v.([]any); ok {
		return l, nil
	}
	rv := reflect.ValueOf(v)
	if v == nil || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, fmt.Errorf("got %T, want a list", v)
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// convert turns a query value into the stored representation of typ; nil
// stays nil (SQL NULL).
func convert(typ fieldType, v any) (any, error) {
	if v == nil {
		if typ == tString || typ == tBool {
			return nil, fmt.Errorf("got null, want %s", typeName(typ))
		}
		return nil, nil
	}
	switch typ {
	case tString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case tBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case tEngine:
		if n, ok := toInt(v); ok {
			if n < 0 {
				return nil, nil
			}
			return n, nil
		}
	case tTime:
		switch t := v.(type) {
		case time.Time:
			return t.UnixNano(), nil
		case string:
			p, err := time.Parse(time.RFC3339Nano, t)
			if err != nil {
				return nil, fmt.Errorf("got %q, want an RFC 3339 time", t)
			}
			return p.UnixNano(), nil
		case float64:
			return secondsToNanos(t)
		case float32:
			return secondsToNanos(float64(t))
		}
		if n, ok := toInt(v); ok {
			return secondsToNanos(float64(n))
		}
	}
	return nil, fmt.Errorf("got %T, want %s", v, typeName(typ))
}

func secondsToNanos(s float64) (any, error) {
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) > math.MaxInt64/1e9 {
		return nil, fmt.Errorf("time %v out of range", s)
	}
	return int64(math.Round(s * 1e9)), nil
}

func toInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return 0, false
		}
		return int64(u), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func typeName(t fieldType) string {
	switch t {
	case tString:
		return "string"
	case tBool:
		return "bool"
	case tEngine:
		return "int"
	case tTime:
		return "time (time.Time, unix seconds or RFC 3339 string)"
	}
	return "value"
}
