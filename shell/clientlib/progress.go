package clientlib

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pxsh/pxsh/client"
	"go.starlark.net/starlark"
)

// ProgressBar shows how many of a set of tasks are done: on a terminal a
// bar redrawn in place (done/total, percentage, elapsed, ETA, rate), and
// otherwise a plain line per update. It is not safe for concurrent use.
type ProgressBar struct {
	w        io.Writer
	desc     string
	unit     string
	total    int
	terminal bool
	start    time.Time
	drawn    bool
	last     int
}

// NewProgressBar returns a bar for total tasks described by desc (e.g.
// "%px"), written to w; terminal selects the redrawn bar.
func NewProgressBar(w io.Writer, desc string, total int, terminal bool) *ProgressBar {
	return &ProgressBar{w: w, desc: desc, unit: "tasks", total: total, terminal: terminal, start: time.Now(), last: -1}
}

// barWidth is the number of cells of the bar itself.
const barWidth = 10

// Line renders the bar's text for done tasks after elapsed, in tqdm's
// layout: "%px:  50%|█████     | 2/4 [00:01<00:01,  1.90tasks/s]".
func (p *ProgressBar) Line(done int, elapsed time.Duration) string {
	frac := 0.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	full := int(frac * barWidth)
	bar := strings.Repeat("█", full) + strings.Repeat(" ", barWidth-full)
	rate, eta := "?", "?"
	if s := elapsed.Seconds(); s > 0 && done > 0 {
		r := float64(done) / s
		rate = fmt.Sprintf("%5.2f", r)
		eta = clock(time.Duration(float64(p.total-done) / r * float64(time.Second)))
	}
	prefix := ""
	if p.desc != "" {
		prefix = p.desc + ": "
	}
	return fmt.Sprintf("%s%3d%%|%s| %d/%d [%s<%s, %s%s/s]", prefix, int(frac*100), bar, done, p.total, clock(elapsed), eta, rate, p.unit)
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// Update shows done tasks. Off a terminal it writes a line only when the
// count changed.
func (p *ProgressBar) Update(done int) {
	elapsed := time.Since(p.start)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.Line(done, elapsed))
		p.drawn = true
		return
	}
	if done != p.last {
		fmt.Fprintf(p.w, "%4d/%d tasks finished after %4d s\n", done, p.total, int(elapsed.Seconds()))
		p.last = done
	}
}

// Clear erases a drawn bar so that other output can be written.
func (p *ProgressBar) Clear() {
	if p.terminal && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// Finish draws the final state and ends the bar's line.
func (p *ProgressBar) Finish(done int) {
	if p.terminal {
		if p.drawn {
			p.Update(done)
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		return
	}
	p.Update(done)
	fmt.Fprintln(p.w, "done")
}

// WaitInteractive waits for tasks, showing progress on w every interval,
// up to timeout (<= 0: no limit). It returns false when time ran out and
// ctx's error when it was cancelled.
func WaitInteractive(ctx context.Context, tasks []*client.Task, w io.Writer, desc string, terminal bool, interval, timeout time.Duration) (bool, error) {
	if interval <= 0 {
		interval = time.Second
	}
	p := NewProgressBar(w, desc, len(tasks), terminal)
	tick := interval
	if terminal && tick > 100*time.Millisecond {
		tick = 100 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var deadline <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	lastPlain := time.Now()
	p.Update(countDone(tasks))
	for {
		done := countDone(tasks)
		if done == len(tasks) {
			p.Finish(done)
			return true, nil
		}
		select {
		case <-ctx.Done():
			p.Clear()
			return false, ctx.Err()
		case <-deadline:
			p.Finish(countDone(tasks))
			return false, nil
		case <-t.C:
			if terminal || time.Since(lastPlain) >= interval {
				p.Update(countDone(tasks))
				lastPlain = time.Now()
			}
		case <-firstPending(tasks):
		}
	}
}

func countDone(tasks []*client.Task) int {
	n := 0
	for _, t := range tasks {
		if t.Ready() {
			n++
		}
	}
	return n
}

// firstPending returns the Done channel of the first unfinished task.
func firstPending(tasks []*client.Task) <-chan struct{} {
	for _, t := range tasks {
		if !t.Ready() {
			return t.Done()
		}
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// waitInteractiveArgs unpacks wait_interactive(interval=1.0, timeout=-1).
func waitInteractiveArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (interval, timeout time.Duration, err error) {
	var iv, tv starlark.Value = starlark.Float(1), starlark.MakeInt(-1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "interval?", &iv, "timeout?", &tv); err != nil {
		return 0, 0, err
	}
	i, _, err := seconds(iv)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: interval: %w", b.Name(), err)
	}
	t, ok, err := seconds(tv)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: timeout: %w", b.Name(), err)
	}
	if !ok {
		t = -1
	}
	return i, t, nil
}

// arWaitInteractive implements ar.wait_interactive(interval=1.0,
// timeout=-1): wait for the result while showing progress.
func arWaitInteractive(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ar := b.Receiver().(*AsyncResult)
	interval, timeout, err := waitInteractiveArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	env := ar.rc.env
	if _, err := WaitInteractive(env.ctx(), ar.res.Tasks, env.Stdout, ar.res.Name, env.Terminal, interval, timeout); err != nil {
		return nil, fmt.Errorf("wait_interactive: interrupted: %w", err)
	}
	return starlark.None, nil
}

// clientWaitInteractive implements rc.wait_interactive(interval=1.0,
// timeout=-1): wait for every task of this client that is still
// outstanding, showing progress.
func clientWaitInteractive(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := b.Receiver().(*Client)
	interval, timeout, err := waitInteractiveArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	tasks := rc.c.Outstanding(time.Time{})
	if _, err := WaitInteractive(rc.env.ctx(), tasks, rc.env.Stdout, "", rc.env.Terminal, interval, timeout); err != nil {
		return nil, fmt.Errorf("wait_interactive: interrupted: %w", err)
	}
	return starlark.None, nil
}

// progressAfter is how long a blocking map waits before it shows a
// progress bar on a terminal.
const progressAfter = time.Second

// progress shows a progress bar on a terminal while a map that has run
// for longer than after finishes; elsewhere it does nothing.
func (ar *AsyncResult) progress(after time.Duration) {
	env := ar.rc.env
	if !env.Terminal || ar.res.Chunks == nil || ar.ready() {
		return
	}
	if done, err := ar.wait(after.Seconds()); done || err != nil {
		return
	}
	WaitInteractive(env.ctx(), ar.res.Tasks, env.Stdout, ar.res.Name, true, 100*time.Millisecond, 0)
}
