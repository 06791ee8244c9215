package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/protocol"
)

// openDB opens the task database the config asks for.
func openDB(cfg Config) (*taskdb.DB, error) {
	path := cfg.Database
	switch {
	case cfg.MemoryDB:
		path = ""
	case path == "" && cfg.ProfileDir != "":
		path = dbPath(cfg.ProfileDir)
	}
	db, err := taskdb.Open(taskdb.Config{Path: path, MaxRecords: cfg.MaxRecords, MaxAge: cfg.MaxAge, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("open task database: %w", err)
	}
	return db, nil
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// MaxStoredRequest is the largest request body the task database keeps.
// A larger one (a pushed value, a function's large arguments) is sent to
// its engine but recorded only by its size: storing it cost more than
// moving it (100 MB pushed to 4 engines spent about three quarters of its
// time and 3 GB of the controller's memory in the database). Results are
// always kept in full, so get_result returns them whatever their size.
const MaxStoredRequest = 1 << 20

// tagOmittedBody marks, in the database's request column, a request body
// over MaxStoredRequest that was not kept; its content is the body's size.
// No request body is a CBOR tag at its top level, so it cannot be confused
// with one.
const tagOmittedBody = 40390

// storedRequest is what the task database keeps of a request body.
func storedRequest(body []byte) []byte {
	if len(body) <= MaxStoredRequest {
		return body
	}
	return omittedMarker(int64(len(body)))
}

// omittedMarker stands for a request body of n bytes that was not kept.
func omittedMarker(n int64) []byte {
	b, _ := protocol.MarshalValue(cbor.Tag{Number: tagOmittedBody, Content: uint64(n)})
	return b
}

// omittedRequest reports the size of a request body the database did not
// keep, or 0 when it kept it.
func omittedRequest(stored []byte) int64 {
	if len(stored) == 0 || len(stored) > 16 || stored[0]>>5 != 6 {
		return 0
	}
	var tag cbor.Tag
	if err := protocol.UnmarshalValue(stored, &tag); err != nil || tag.Number != tagOmittedBody {
		return 0
	}
	n, _ := tag.Content.(uint64)
	return int64(n)
}

// errOmitted explains why a task whose request body was not kept cannot
// be sent again.
func errOmitted(size int64) error {
	return fmt.Errorf("its request body (%s) was not kept: the task database keeps request bodies up to %s",
		protocol.FormatSize(size), protocol.FormatSize(MaxStoredRequest))
}

// recordSubmitted records a new task.
func (h *Hub) recordSubmitted(t *task) {
	hdr, _ := protocol.MarshalValue(&t.req)
	h.recordSubmittedHeader(t, hdr)
}

// recordSubmittedHeader records a new task whose request header, encoded,
// is hdr (the forwarded frame's, when it is the same).
func (h *Hub) recordSubmittedHeader(t *task, hdr []byte) {
	h.stats.noteSubmitted(&t.req, t.body)
	h.stats.bytesIn.Add(uint64(t.streamed))
	stored := storedRequest(recordedBody(t))
	if t.streamed > 0 && t.req.BodyOf == "" {
		stored = omittedMarker(t.streamed)
	}
	kind := "direct"
	if t.balanced {
		kind = "balanced"
	}
	h.db.Submitted(&taskdb.Record{
		MsgID: t.req.MsgID, ClientID: t.client, EngineID: t.req.Engine, ViewKind: kind,
		Label: t.req.Label, Kind: string(t.req.Kind), Name: t.req.Name,
		Submitted: unixTime(t.req.Submitted), Request: stored, RequestHeader: hdr,
	})
}

// recordResult records a task's outcome.
func (h *Hub) recordResult(r *protocol.Result, body []byte) {
	h.stats.noteResult(r, body)
	status := taskdb.StatusOK
	switch r.Status {
	case protocol.StatusError:
		status = taskdb.StatusError
	case protocol.StatusAborted:
		status = taskdb.StatusAborted
	}
	h.db.Finished(&taskdb.Record{
		MsgID: r.MsgID, ClientID: r.Client, EngineID: r.Engine, Label: r.Label, Kind: string(r.Kind),
		Submitted: unixTime(r.Submitted), Started: unixTime(r.Started), Completed: unixTime(r.Completed),
		Status: status, Result: body, HasValue: r.HasValue, Stdout: r.Stdout, Stderr: r.Stderr, Error: r.Error,
	})
}

// resultOf rebuilds a result header from a finished record.
func resultOf(rec *taskdb.Record) protocol.Result {
	st := protocol.StatusOK
	switch rec.Status {
	case taskdb.StatusError:
		st = protocol.StatusError
	case taskdb.StatusAborted:
		st = protocol.StatusAborted
	}
	ns := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixNano()
	}
	return protocol.Result{
		MsgID: rec.MsgID, Engine: rec.EngineID, Status: st, Submitted: ns(rec.Submitted),
		Started: ns(rec.Started), Completed: ns(rec.Completed), Stdout: rec.Stdout, Stderr: rec.Stderr,
		Error: rec.Error, Kind: protocol.Kind(rec.Kind), HasValue: rec.HasValue, Client: rec.ClientID, Label: rec.Label,
	}
}

// getResultIDs returns the msg ids a get_result asks for; nil for
// another op or a body that does not decode (the op reports it).
func getResultIDs(op string, body []byte) []string {
	if op != "get_result" {
		return nil
	}
	var a protocol.GetResultArgs
	if protocol.UnmarshalValue(body, &a) != nil {
		return nil
	}
	return a.MsgIDs
}

// recordingOf returns, for a get_result, the channels of the results it
// asks for that are being recorded (recordStreamedResult).
func (h *Hub) recordingOf(op string, body []byte) []chan struct{} {
	ids := getResultIDs(op, body)
	if len(ids) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var waits []chan struct{}
	for _, id := range ids {
		if ch := h.recording[id]; ch != nil {
			waits = append(waits, ch)
		}
	}
	return waits
}

func (h *Hub) getResult(cl *client, a protocol.GetResultArgs) ([]protocol.ResultRecord, error) {
	out := make([]protocol.ResultRecord, len(a.MsgIDs))
	var rest []string
	h.mu.Lock()
	for i, id := range a.MsgIDs {
		out[i].MsgID = id
		if t := h.tasks[id]; t != nil {
			out[i].Found = true
			if t.client != cl.id {
				t.watchers = append(t.watchers, cl.id)
			}
			continue
		}
		rest = append(rest, id)
	}
	h.mu.Unlock()
	if len(rest) == 0 {
		return out, nil
	}
	recs, err := h.db.GetLazy(context.Background(), rest)
	if err != nil {
		return nil, fmt.Errorf("get_result: %w", err)
	}
	byID := byMsgID(recs)
	for i := range out {
		if r := byID[out[i].MsgID]; r != nil && r.Status != taskdb.StatusPending && r.Status != taskdb.StatusRunning {
			out[i].Found, out[i].Done = true, true
			out[i].Result, out[i].Body = resultOf(r), r.Result
		}
	}
	return out, nil
}

func (h *Hub) resultStatus(ids []string) (*protocol.ResultStatus, error) {
	var st protocol.ResultStatus
	var rest []string
	h.mu.Lock()
	for _, id := range ids {
		if h.tasks[id] != nil || h.recording[id] != nil {
			st.Pending = append(st.Pending, id)
		} else {
			rest = append(rest, id)
		}
	}
	h.mu.Unlock()
	recs, err := h.db.Get(context.Background(), rest)
	if err != nil {
		return nil, fmt.Errorf("result_status: %w", err)
	}
	known := map[string]bool{}
	for _, r := range recs {
		if r == nil {
			continue
		}
		known[r.MsgID] = true
		if r.Status == taskdb.StatusPending || r.Status == taskdb.StatusRunning {
			st.Pending = append(st.Pending, r.MsgID)
		} else {
			st.Completed = append(st.Completed, r.MsgID)
		}
	}
	for _, id := range rest {
		if !known[id] {
			st.Unknown = append(st.Unknown, id)
		}
	}
	return &st, nil
}

func (h *Hub) dbQuery(a protocol.QueryArgs) ([]map[string]any, error) {
	rows, err := h.db.Query(context.Background(), a.Query, a.Keys)
	if err != nil {
		return nil, fmt.Errorf("db_query: %w", err)
	}
	for _, row := range rows {
		for k, v := range row {
			switch x := v.(type) {
			case time.Time:
				row[k] = float64(x.UnixNano()) / 1e9
			case *protocol.RemoteError:
				if x == nil {
					row[k] = nil
				} else {
					row[k] = map[string]any{"ename": x.Name, "evalue": x.Message, "traceback": x.Traceback, "engine_id": x.Engine}
				}
			}
		}
	}
	return rows, nil
}

// recordedBody is the body the database keeps for t: none when another
// task of its fan-out keeps it (Request.BodyOf).
func recordedBody(t *task) []byte {
	if t.req.BodyOf != "" {
		return nil
	}
	return t.body
}

// bodyOf fetches the body recorded with task id, for a task whose record
// says BodyOf.
func (h *Hub) bodyOf(id string) ([]byte, error) {
	recs, err := h.db.Get(context.Background(), []string{id})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0] == nil {
		return nil, fmt.Errorf("the task %s that holds its body is not recorded", id)
	}
	return recs[0].Request, nil
}

func (h *Hub) resubmit(cl *client, a protocol.ResubmitArgs) error {
	if len(a.MsgIDs) != len(a.NewIDs) {
		return fmt.Errorf("resubmit: %d ids but %d new ids", len(a.MsgIDs), len(a.NewIDs))
	}
	recs, err := h.db.Get(context.Background(), a.MsgIDs)
	if err != nil {
		return fmt.Errorf("resubmit: %w", err)
	}
	byID := byMsgID(recs)
	for _, id := range a.MsgIDs {
		if rec := byID[id]; rec != nil {
			if n := omittedRequest(rec.Request); n > 0 {
				return fmt.Errorf("resubmit %s: %w", id, errOmitted(n))
			}
		}
	}
	for i, id := range a.MsgIDs {
		rec := byID[id]
		if rec == nil {
			return fmt.Errorf("resubmit: no task %s", id)
		}
		var req protocol.Request
		if err := protocol.UnmarshalHeader(rec.RequestHeader, &req); err != nil {
			return fmt.Errorf("resubmit %s: %w", id, err)
		}
		req.MsgID, req.Submitted = a.NewIDs[i], 0
		if rec.ViewKind == "balanced" {
			req.Engine = -1
		}
		body := rec.Request
		if req.BodyOf != "" {
			if body, err = h.bodyOf(req.BodyOf); err != nil {
				return fmt.Errorf("resubmit %s: %w", id, err)
			}
			req.BodyOf = ""
		}
		h.db.Resubmitted(id, req.MsgID)
		h.request(cl, &req, body)
	}
	return nil
}

// byMsgID indexes records, skipping the nil entries of unknown ids.
func byMsgID(recs []*taskdb.Record) map[string]*taskdb.Record {
	m := make(map[string]*taskdb.Record, len(recs))
	for _, r := range recs {
		if r != nil {
			m[r.MsgID] = r
		}
	}
	return m
}
