package clientlib

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
)

// DisplayOptions control AsyncResult.Display.
type DisplayOptions struct {
	// GroupBy orders the outputs of several engines: "type" (the
	// default: every stdout, then every stderr, then every Out), "engine"
	// (each engine's stdout, stderr and Out together) or "order" (as
	// "type"; each engine has at most one output of each kind).
	GroupBy string
	// Color puts ANSI colour on the Out[...] prompts and error headers.
	Color bool
	// ShowResult shows the value of an execute(silent=False) as
	// "Out[engine:count]: value".
	ShowResult bool
	// ResultOnly leaves out stdout and stderr.
	ResultOnly bool
	// Errors renders failures after the outputs, on Stderr: a single
	// failure as "[0:execute] Name: message" and the engine's traceback,
	// several as a CompositeError report.
	Errors bool
	// Stderr receives the engines' stderr and the errors; nil means w.
	Stderr io.Writer
}

const (
	ansiRed   = "\x1b[0;31m"
	ansiReset = "\x1b[0m"
)

// displayItem is what one finished task shows.
type displayItem struct {
	engine         int
	stdout, stderr string
	out            string // Out[...] text, "" for none
	count          int
	hasOut         bool
}

// Display writes the outputs of the result's finished tasks in
// ipyparallel's format: a single result's (an int target's) streams are written bare; with
// several, each engine's stream is headed "[stdout:N]" (on the same line
// for single-line output, alone on its line otherwise) and engines come in
// id order; never a blank line between blocks. An execute(silent=False)
// value shows as "Out[N:C]: value". It returns only write errors; the
// tasks' failure is Err.
func (ar *AsyncResult) Display(w io.Writer, o DisplayOptions) error {
	ew := o.Stderr
	if ew == nil {
		ew = w
	}
	items := ar.displayItems()
	bare := ar.res.Single
	pw := &errWriter{w: w}
	pe := &errWriter{w: ew}
	stream := func(it displayItem) {
		if o.ResultOnly {
			return
		}
		p1, p2 := "", ""
		if !bare {
			p1, p2 = fmt.Sprintf("[stdout:%d] ", it.engine), fmt.Sprintf("[stderr:%d] ", it.engine)
		}
		writeStream(pw, it.stdout, p1)
		writeStream(pe, it.stderr, p2)
	}
	outs := func(it displayItem) {
		if !o.ShowResult || !it.hasOut {
			return
		}
		prompt := fmt.Sprintf("Out[%d:%d]:", it.engine, it.count)
		if o.Color {
			prompt = ansiRed + prompt + ansiReset
		}
		if strings.Contains(it.out, "\n") {
			fmt.Fprintf(pw, "%s\n%s\n", prompt, strings.TrimRight(it.out, "\n"))
		} else {
			fmt.Fprintf(pw, "%s %s\n", prompt, it.out)
		}
	}
	if o.GroupBy == "engine" {
		for _, it := range items {
			stream(it)
			outs(it)
		}
	} else {
		if !o.ResultOnly {
			for _, it := range items {
				writeStream(pw, it.stdout, prefixFor(bare, "stdout", it.engine))
			}
			for _, it := range items {
				writeStream(pe, it.stderr, prefixFor(bare, "stderr", it.engine))
			}
		}
		for _, it := range items {
			outs(it)
		}
	}
	if o.Errors {
		if err := ar.Err(); err != nil {
			io.WriteString(pe, ErrorReport(err, o.Color)+"\n")
		}
	}
	if pw.err != nil {
		return pw.err
	}
	return pe.err
}

func prefixFor(bare bool, stream string, engine int) string {
	if bare {
		return ""
	}
	return fmt.Sprintf("[%s:%d] ", stream, engine)
}

// displayItems returns the finished tasks' outputs in engine order.
func (ar *AsyncResult) displayItems() []displayItem {
	var items []displayItem
	for _, t := range ar.res.Tasks {
		if !t.Ready() {
			continue
		}
		r, body := t.Result()
		it := displayItem{engine: r.Engine, stdout: r.Stdout, stderr: r.Stderr, count: r.ExecCount}
		if r.Kind == protocol.KindExecute && r.HasValue && r.Error == nil && len(body) > 0 {
			if v, err := starlarklib.Decode(body, &starlarklib.DecodeOptions{}); err == nil {
				it.out, it.hasOut = v.String(), true
			}
			runtime.KeepAlive(t) // body may be t's mapping
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].engine < items[j].engine })
	return items
}

// writeStream writes one engine's stream text after prefix, in
// ipyparallel's layout: single-line text on the prefix's line, multi-line
// text on the lines after it, always ending with a newline.
func writeStream(w io.Writer, text, prefix string) {
	if text == "" {
		return
	}
	trailing := 0
	if strings.HasSuffix(text, "\n") {
		trailing = 1
	}
	multiline := strings.Count(text, "\n") > trailing
	if prefix != "" && multiline && !strings.HasPrefix(text, "\n") {
		prefix = strings.TrimRight(prefix, " ") + "\n"
	}
	io.WriteString(w, prefix+text)
	if trailing == 0 {
		io.WriteString(w, "\n")
	}
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}

// ErrorReport renders an error as pxsh shows it: a remote error's header
// "[0:apply] Name: message" and the engine's traceback, a composite's
// first tracebacks and the count of the rest, or the error's text.
func ErrorReport(err error, color bool) string {
	var ce *client.CompositeError
	if errors.As(err, &ce) {
		return ce.Report()
	}
	var re *client.RemoteError
	if errors.As(err, &re) {
		s := re.Report()
		if color {
			head, rest, _ := strings.Cut(s, "\n")
			s = ansiRed + head + ansiReset
			if rest != "" {
				s += "\n" + rest
			}
		}
		return s
	}
	return err.Error()
}
