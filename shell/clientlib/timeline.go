package clientlib

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"slices"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// kindColors colour the task stream by kind, as the dashboard does.
var kindColors = map[protocol.Kind]string{
	protocol.KindExecute: "#4263eb", protocol.KindApply: "#12b886", protocol.KindPush: "#fab005",
	protocol.KindPull: "#7950f2", protocol.KindClear: "#adb5bd", protocol.KindModules: "#e64980",
}

// span is one task of a timeline.
type span struct {
	id                            string
	engine                        int
	kind                          protocol.Kind
	status                        protocol.Status
	submitted, started, completed int64 // unix ns; 0 unknown
}

// spans returns the tasks' timings; unfinished tasks end now.
func (ar *AsyncResult) spans(now int64) []span {
	out := make([]span, 0, len(ar.tasks))
	for _, t := range ar.tasks {
		s := span{id: t.MsgID, engine: t.Engine, kind: t.Kind, submitted: now, completed: now}
		if st, ok := t.Started(); ok {
			s.started = st.UnixNano()
		}
		if t.Ready() {
			r, _ := t.Result()
			s.engine, s.status, s.submitted, s.started, s.completed = r.Engine, r.Status, r.Submitted, r.Started, r.Completed
			if r.Kind != "" {
				s.kind = r.Kind
			}
		}
		if s.started == 0 {
			s.started = s.submitted
		}
		out = append(out, s)
	}
	return out
}

// WriteTimeline writes the tasks as an SVG task-stream chart: one row per
// engine, a bar per task from start to completion, coloured by kind (red:
// error, grey: aborted, hatched: not finished).
func (ar *AsyncResult) WriteTimeline(path string) error {
	var buf bytes.Buffer
	writeTimelineSVG(&buf, ar.spans(time.Now().UnixNano()), ar.String())
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

func writeTimelineSVG(w io.Writer, spans []span, title string) {
	var engines []int
	t0, t1 := int64(0), int64(0)
	for i, s := range spans {
		if !slices.Contains(engines, s.engine) {
			engines = append(engines, s.engine)
		}
		if i == 0 || s.submitted < t0 {
			t0 = s.submitted
		}
		t1 = max(t1, s.completed)
	}
	slices.Sort(engines)
	const left, top, rowH, width = 70, 30, 18, 900
	height := top + rowH*max(len(engines), 1) + 40
	dur := max(float64(t1-t0)/1e9, 1e-6)
	x := func(ns int64) float64 { return left + float64(width-left-10)*(float64(ns-t0)/1e9)/dur }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprint(w, `<defs><pattern id="run" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#868e96"/></pattern></defs>`+"\n")
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="18" font-weight="bold">%s: %d tasks, %s</text>`+"\n",
		left, html.EscapeString(title), len(spans), time.Duration(dur*1e9).Round(time.Microsecond))
	row := map[int]int{}
	for i, e := range engines {
		row[e] = i
		label := fmt.Sprintf("engine %d", e)
		if e < 0 {
			label = "unassigned"
		}
		fmt.Fprintf(w, `<text x="4" y="%d">%s</text>`+"\n", top+i*rowH+13, label)
	}
	axis := top + rowH*len(engines) + 6
	for i := 0; i <= 5; i++ {
		xi := left + float64(width-left-10)*float64(i)/5
		anchor := "middle"
		if i == 5 {
			anchor = "end"
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" text-anchor="%s">%s</text>`+"\n",
			xi, top, xi, axis, xi, axis+14, anchor, fmtSeconds(dur*float64(i)/5))
	}
	for _, s := range spans {
		color := kindColors[s.kind]
		if color == "" {
			color = "#495057"
		}
		switch s.status {
		case protocol.StatusError:
			color = "#c92a2a"
		case protocol.StatusAborted:
			color = "#ced4da"
		case "":
			color = "url(#run)"
		}
		xa, xb := x(s.started), x(s.completed)
		fmt.Fprintf(w, `<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s"><title>%s %s on engine %d: %s</title></rect>`+"\n",
			xa, top+row[s.engine]*rowH+2, max(xb-xa, 1), rowH-4, color, html.EscapeString(s.id), s.kind, s.engine,
			time.Duration(s.completed-s.started).Round(time.Microsecond))
	}
	fmt.Fprintln(w, "</svg>")
}

func fmtSeconds(s float64) string {
	switch {
	case s == 0:
		return "0"
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}

// ar.timeline(path) writes the tasks as an SVG task-stream chart.
func arTimeline(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	if err := recvAR(b).WriteTimeline(path); err != nil {
		return nil, err
	}
	return starlark.None, nil
}
