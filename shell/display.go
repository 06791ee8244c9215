package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
)

// alreadyDisplayed is the error of a streamed %px whose failures were
// printed as they arrived; it renders as "N errors".
type alreadyDisplayed struct{ n int }

func (e *alreadyDisplayed) Error() string { return fmt.Sprintf("%d errors", e.n) }

// display waits for a %px result and prints it in ipyparallel's format.
// Streaming (the default when blocking) writes each engine's streams and
// failure as soon as it and every lower engine are done, so output comes
// as it arrives yet in engine order; the Out[...] values follow.
func (s *Shell) display(ctx context.Context, pv *pxView, ar *clientlib.AsyncResult, o pxOpts, recall bool) error {
	stream := pv.stream
	if o.stream != nil {
		stream = *o.stream
	}
	if recall {
		stream = false
	}
	groupBy := pv.groupBy
	if o.groupBy != "" {
		groupBy = o.groupBy
	}
	progressAfter := pv.progressAfter
	if o.progressAfter != nil {
		progressAfter = *o.progressAfter
	}
	tasks := append([]*client.Task(nil), ar.Tasks()...)
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].Engine < tasks[j].Engine })
	bare := len(tasks) == 1
	var bar *clientlib.ProgressBar
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	failures := 0
	for _, t := range tasks {
	wait:
		for {
			select {
			case <-t.Done():
				break wait
			case <-ctx.Done():
				if bar != nil {
					bar.Clear()
				}
				return fmt.Errorf("%%px: interrupted: %w", ctx.Err())
			case <-tick.C:
				if s.terminal && progressAfter >= 0 && time.Since(start) >= progressAfter {
					if bar == nil {
						bar = clientlib.NewProgressBar(s.cfg.Stderr, "%px", len(tasks), true)
					}
					bar.Update(countReady(tasks))
				}
			}
		}
		if stream && groupBy != "engine" {
			if bar != nil {
				bar.Clear()
			}
			r, _ := t.Result()
			s.writeStreams(r, bare)
			if r.Error != nil {
				failures++
				fmt.Fprintln(s.cfg.Stderr, errorReport(&client.RemoteError{RemoteError: *r.Error}, s.color))
			}
		}
	}
	if bar != nil {
		bar.Clear()
	}
	if stream && groupBy != "engine" {
		s.writeOuts(tasks)
		if failures > 0 {
			return &alreadyDisplayed{failures}
		}
		return nil
	}
	s.displayAll(tasks, groupBy, bare)
	return tasksErr(tasks)
}

func countReady(tasks []*client.Task) int {
	n := 0
	for _, t := range tasks {
		if t.Ready() {
			n++
		}
	}
	return n
}

// writeStreams writes one task's stdout and stderr blocks.
func (s *Shell) writeStreams(r protocol.Result, bare bool) {
	writeStream(s.cfg.Stdout, r.Stdout, prefixFor(bare, "stdout", r.Engine))
	writeStream(s.cfg.Stderr, r.Stderr, prefixFor(bare, "stderr", r.Engine))
}

// The rest of this file is a stand-in for clientlib's AsyncResult.Display
// until it is committed.

// writeOuts writes the Out[N:C] values of finished execute tasks.
func (s *Shell) writeOuts(tasks []*client.Task) {
	for _, t := range tasks {
		r, body := t.Result()
		if r.Kind != protocol.KindExecute && r.Kind != "" || !r.HasValue || r.Error != nil || len(body) == 0 {
			continue
		}
		v, err := starlarklib.Decode(body, s.ns.DecodeOptions(s.thread))
		if err != nil {
			continue
		}
		prompt := fmt.Sprintf("Out[%d:%d]:", r.Engine, r.ExecCount)
		if s.color {
			prompt = "\x1b[0;31m" + prompt + "\x1b[0m"
		}
		text := v.String()
		if strings.Contains(text, "\n") {
			fmt.Fprintf(s.cfg.Stdout, "%s\n%s\n", prompt, strings.TrimRight(text, "\n"))
		} else {
			fmt.Fprintf(s.cfg.Stdout, "%s %s\n", prompt, text)
		}
	}
}

// displayAll writes finished tasks' outputs grouped by type or engine.
func (s *Shell) displayAll(tasks []*client.Task, groupBy string, bare bool) {
	if groupBy == "engine" {
		for _, t := range tasks {
			r, _ := t.Result()
			s.writeStreams(r, bare)
			s.writeOuts([]*client.Task{t})
		}
		return
	}
	for _, t := range tasks {
		r, _ := t.Result()
		writeStream(s.cfg.Stdout, r.Stdout, prefixFor(bare, "stdout", r.Engine))
	}
	for _, t := range tasks {
		r, _ := t.Result()
		writeStream(s.cfg.Stderr, r.Stderr, prefixFor(bare, "stderr", r.Engine))
	}
	s.writeOuts(tasks)
}

// tasksErr combines the failures of finished tasks.
func tasksErr(tasks []*client.Task) error {
	var errs []*client.RemoteError
	for _, t := range tasks {
		if r, _ := t.Result(); r.Error != nil {
			errs = append(errs, &client.RemoteError{RemoteError: *r.Error})
		}
	}
	switch {
	case len(errs) == 1 && len(tasks) == 1:
		return errs[0]
	case len(errs) > 0:
		return &client.CompositeError{Errors: errs}
	}
	return nil
}

func prefixFor(bare bool, stream string, engine int) string {
	if bare {
		return ""
	}
	return fmt.Sprintf("[%s:%d] ", stream, engine)
}

// writeStream writes a stream's text after prefix: single-line text on
// the prefix's line, multi-line text on the lines after it, always ending
// with a newline.
func writeStream(w io.Writer, text, prefix string) {
	if text == "" {
		return
	}
	trailing := 0
	if strings.HasSuffix(text, "\n") {
		trailing = 1
	}
	if prefix != "" && strings.Count(text, "\n") > trailing && !strings.HasPrefix(text, "\n") {
		prefix = strings.TrimRight(prefix, " ") + "\n"
	}
	io.WriteString(w, prefix+text)
	if trailing == 0 {
		io.WriteString(w, "\n")
	}
}

// errorReport renders an error, as clientlib.ErrorReport will.
func errorReport(err error, color bool) string {
	var ce *client.CompositeError
	if errors.As(err, &ce) {
		return ce.Report()
	}
	var re *client.RemoteError
	if errors.As(err, &re) {
		s := re.Report()
		if color {
			head, rest, _ := strings.Cut(s, "\n")
			s = "\x1b[0;31m" + head + "\x1b[0m"
			if rest != "" {
				s += "\n" + rest
			}
		}
		return s
	}
	return err.Error()
}
