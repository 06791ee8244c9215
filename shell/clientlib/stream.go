package clientlib

// This file holds what a running task sends before its result: streamed
// output (ar.stream_output(), and StreamPrinter for %px) and published
// data (ar.data).

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

var streamMethods = map[string]builtinFunc{
	"stream_output": arStreamOutput,
}

// dataValue is ar.data: the dict each task published with publish_data
// (later publications update earlier ones), as it stands now; one dict
// for a single result, else a list.
func (ar *AsyncResult) dataValue() (starlark.Value, error) {
	vals := make([]starlark.Value, len(ar.res.Tasks))
	for i, t := range ar.res.Tasks {
		d := starlark.NewDict(0)
		for _, body := range t.Data() {
			v, err := starlarklib.Decode(body, ar.rc.env.NS.DecodeOptions(&starlark.Thread{Name: "data"}))
			if err != nil {
				return nil, fmt.Errorf("data of %s: %w", t.MsgID, err)
			}
			pub, ok := v.(*starlark.Dict)
			if !ok {
				continue
			}
			for _, kv := range pub.Items() {
				d.SetKey(kv[0], kv[1])
			}
		}
		vals[i] = d
	}
	if ar.res.Single && len(vals) == 1 {
		return vals[0], nil
	}
	return starlark.NewList(vals), nil
}

// StreamPrinter prints the output of an AsyncResult's tasks while they
// run: each complete new line as "[stdout:N] line" (bare for a single
// result), and at the end what is left.
type StreamPrinter struct {
	ar      *AsyncResult
	w       io.Writer
	printed map[*client.Task]int
}

// NewStreamPrinter returns a printer of ar's output to w.
func (ar *AsyncResult) NewStreamPrinter(w io.Writer) *StreamPrinter {
	return &StreamPrinter{ar: ar, w: w, printed: map[*client.Task]int{}}
}

// Streamed reports whether some of t's output was printed while it ran.
func (p *StreamPrinter) Streamed(t *client.Task) bool { return p.printed[t] > 0 }

// Flush prints t's complete lines not printed yet; with final (t
// finished) the rest too.
func (p *StreamPrinter) Flush(t *client.Task, final bool) {
	out, _ := t.Output()
	done := p.printed[t]
	if done > len(out) {
		return
	}
	rest := out[done:]
	if !final {
		i := strings.LastIndexByte(rest, '\n')
		if i < 0 {
			return
		}
		rest = rest[:i+1]
	}
	if rest == "" {
		return
	}
	prefix := prefixFor(p.ar.res.Single, "stdout", t.Engine)
	for _, l := range strings.SplitAfter(strings.TrimSuffix(rest, "\n"), "\n") {
		fmt.Fprintf(p.w, "%s%s\n", prefix, strings.TrimSuffix(l, "\n"))
	}
	p.printed[t] = done + len(rest)
}

// arStreamOutput implements ar.stream_output(): it prints the tasks'
// output as it arrives ("[stdout:N] line" for several engines) and
// returns when they have all finished.
func arStreamOutput(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	ar := recvAR(b)
	p := ar.NewStreamPrinter(ar.rc.env.stdout(thread))
	ctx := ar.rc.env.ctx()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, t := range ar.res.Tasks {
		for !t.Ready() {
			for _, u := range ar.res.Tasks {
				if !u.Ready() {
					p.Flush(u, false)
				}
			}
			select {
			case <-t.Done():
			case <-tick.C:
			case <-ctx.Done():
				return nil, fmt.Errorf("stream_output: interrupted: %w", ctx.Err())
			}
		}
	}
	for _, t := range ar.res.Tasks {
		p.Flush(t, true)
	}
	return starlark.None, nil
}
