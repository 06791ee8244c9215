package shell

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/shell/clientlib"
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
	var bar *clientlib.ProgressBar
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	failures := 0
	live := stream && groupBy != "engine"
	printer := ar.NewStreamPrinter(s.cfg.Stdout)
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
				if live {
					if bar != nil {
						bar.Clear()
					}
					for _, u := range tasks {
						if !u.Ready() {
							printer.Flush(u, false)
						}
					}
				}
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
			ar.WriteStreams(s.cfg.Stdout, s.cfg.Stderr, t, printer)
			if err := t.Err(); err != nil {
				failures++
				fmt.Fprintln(s.cfg.Stderr, clientlib.ErrorReport(err, s.color))
			}
		}
	}
	if bar != nil {
		bar.Clear()
	}
	if stream && groupBy != "engine" {
		ar.Display(s.cfg.Stdout, clientlib.DisplayOptions{ResultOnly: true, ShowResult: true, Color: s.color})
		if failures > 0 {
			return &alreadyDisplayed{failures}
		}
		return nil
	}
	ar.Display(s.cfg.Stdout, clientlib.DisplayOptions{GroupBy: groupBy, ShowResult: true, Color: s.color, Stderr: s.cfg.Stderr})
	return ar.Err()
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
