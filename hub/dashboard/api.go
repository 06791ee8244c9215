package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/protocol"
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) apiSnapshot(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.view()) }

// taskRow is a row of the task table.
type taskRow struct {
	MsgID     string  `json:"id"`
	Client    string  `json:"client"`
	Engine    *int    `json:"engine"`
	Kind      string  `json:"kind"`
	Label     string  `json:"label"`
	Name      string  `json:"name"`
	Status    string  `json:"status"`
	Submitted float64 `json:"submitted"` // unix seconds; 0 unset
	Started   float64 `json:"started"`
	Completed float64 `json:"completed"`
	Error     string  `json:"error,omitempty"`
}

// taskQuery builds a task database query from the table's filters:
// status, label (a glob when it has * or ?), client, since (seconds ago).
func taskQuery(q map[string][]string) (map[string]any, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	query := map[string]any{}
	if st := get("status"); st != "" {
		query["status"] = st
	}
	for _, k := range []string{"label", "client"} {
		v := get(k)
		if v == "" {
			continue
		}
		key := k
		if k == "client" {
			key = "client_id"
		}
		if strings.ContainsAny(v, "*?[") {
			query[key] = map[string]any{"$glob": v}
		} else {
			query[key] = v
		}
	}
	if since := get("since"); since != "" {
		sec, err := strconv.ParseFloat(since, 64)
		if err != nil || sec <= 0 {
			return nil, fmt.Errorf("since: got %q, want a positive number of seconds", since)
		}
		query["submitted"] = map[string]any{"$gte": float64(time.Now().Add(-time.Duration(sec*float64(time.Second))).UnixNano()) / 1e9}
	}
	return query, nil
}

func secs(v any) float64 {
	if t, ok := v.(time.Time); ok {
		return float64(t.UnixNano()) / 1e9
	}
	return 0
}

func (s *Server) apiTasks(w http.ResponseWriter, r *http.Request) {
	query, err := taskQuery(r.URL.Query())
	if err != nil {
		http.Error(w, "tasks: "+err.Error(), http.StatusBadRequest)
		return
	}
	limit := 1000
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 100000 {
		limit = n
	}
	keys := []string{"client_id", "engine_id", "kind", "label", "name", "status", "submitted", "started", "completed", "error"}
	rows, err := s.h.QueryTasks(r.Context(), query, keys, limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := make([]taskRow, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- { // newest first
		m := rows[i]
		row := taskRow{MsgID: m["msg_id"].(string), Client: str(m["client_id"]), Kind: str(m["kind"]), Label: str(m["label"]),
			Name: str(m["name"]), Status: str(m["status"]), Submitted: secs(m["submitted"]), Started: secs(m["started"]),
			Completed: secs(m["completed"])}
		if e, ok := m["engine_id"].(int); ok {
			row.Engine = &e
		}
		if e, ok := m["error"].(*protocol.RemoteError); ok && e != nil {
			row.Error = e.Name + ": " + e.Message
		}
		out = append(out, row)
	}
	writeJSON(w, out)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// taskDetail is what the page shows of one task.
type taskDetail struct {
	taskRow
	ViewKind    string `json:"view_kind"`
	Args        string `json:"args"`
	Result      string `json:"result"`
	Stdout      string `json:"stdout"`
	Stderr      string `json:"stderr"`
	Traceback   string `json:"traceback,omitempty"`
	Resubmitted string `json:"resubmitted,omitempty"`
}

func (s *Server) apiTask(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	rec, err := s.h.Task(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if rec == nil {
		http.Error(w, fmt.Sprintf("task %q: not found", id), http.StatusNotFound)
		return
	}
	writeJSON(w, detailOf(rec))
}

func detailOf(rec *taskdb.Record) taskDetail {
	ts := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	d := taskDetail{
		taskRow: taskRow{MsgID: rec.MsgID, Client: rec.ClientID, Kind: rec.Kind, Label: rec.Label, Name: rec.Name,
			Status: rec.Status, Submitted: ts(rec.Submitted), Started: ts(rec.Started), Completed: ts(rec.Completed)},
		ViewKind: rec.ViewKind, Args: summarize(rec.Request), Stdout: rec.Stdout, Stderr: rec.Stderr, Resubmitted: rec.Resubmitted,
	}
	if rec.EngineID >= 0 {
		e := rec.EngineID
		d.Engine = &e
	}
	if rec.HasValue {
		d.Result = summarize(rec.Result)
	}
	if rec.Error != nil {
		d.Error = rec.Error.Name + ": " + rec.Error.Message
		d.Traceback = rec.Error.Traceback
	}
	return d
}

func (s *Server) apiAbort(w http.ResponseWriter, r *http.Request) {
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.IDs) == 0 {
		http.Error(w, `abort: want {"ids": [msg ids]}`, http.StatusBadRequest)
		return
	}
	s.h.Abort(req.IDs, "aborted from the dashboard")
	writeJSON(w, map[string]int{"asked": len(req.IDs)})
}

func (s *Server) apiPurge(w http.ResponseWriter, r *http.Request) {
	if err := s.h.PurgeFinished(r.Context(), nil); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]bool{"purged": true})
}

// summarize renders a CBOR body (a request's code or call, or a value)
// as short readable text, without the Starlark codec: strings, numbers,
// lists and maps as such, functions by their source, the rest by tag.
func summarize(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	dm, _ := cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20, MaxNestedLevels: 64}.DecMode()
	if err := dm.Unmarshal(b, &v); err != nil {
		return fmt.Sprintf("<%d bytes>", len(b))
	}
	var sb strings.Builder
	render(&sb, v, 0)
	out := sb.String()
	if len(out) > 4000 {
		out = out[:4000] + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return out
}

func render(sb *strings.Builder, v any, depth int) {
	if sb.Len() > 4000 || depth > 8 {
		sb.WriteString("…")
		return
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("None")
	case string:
		if len(x) > 500 {
			x = x[:500] + "…"
		}
		if strings.Contains(x, "\n") {
			sb.WriteString(x)
		} else {
			sb.WriteString(strconv.Quote(x))
		}
	case []byte:
		fmt.Fprintf(sb, "<%d bytes>", len(x))
	case bool:
		if x {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case []any:
		sb.WriteString("[")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			if i == 20 {
				fmt.Fprintf(sb, "… %d more", len(x)-20)
				break
			}
			render(sb, e, depth+1)
		}
		sb.WriteString("]")
	case map[any]any:
		keys := make([]string, 0, len(x))
		byKey := map[string]any{}
		for k, e := range x {
			ks := fmt.Sprint(k)
			keys = append(keys, ks)
			byKey[ks] = e
		}
		sort.Strings(keys)
		sb.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(k + ": ")
			render(sb, byKey[k], depth+1)
		}
		sb.WriteString("}")
	case cbor.Tag:
		if m, ok := x.Content.(map[any]any); ok && m[uint64(2)] != nil {
			// protocol.Function: key 2 is the source.
			if src, ok := m[uint64(2)].(string); ok {
				sb.WriteString(src)
				return
			}
		}
		fmt.Fprintf(sb, "tag%d(", x.Number)
		render(sb, x.Content, depth+1)
		sb.WriteString(")")
	default:
		fmt.Fprint(sb, x)
	}
}
