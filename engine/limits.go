package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// Default per-task limits; see docs/ARCHITECTURE.md, "Limits".
const (
	// DefaultMaxOutput bounds the output (print) captured per task.
	DefaultMaxOutput = 1 << 20
	// DefaultMaxStack bounds the call stack of a running task: deep
	// recursion fails with a RecursionError instead of crashing the
	// engine. It sits above the ~512 MiB stack that Starlark's own guard
	// (100,000 calls: "Starlark stack overflow", which catch() sees)
	// needs, counting the old and new stacks while one grows, and the
	// program layer sets Go's fatal limit to twice it.
	DefaultMaxStack = 1 << 30
	// DefaultMaxDepth bounds the nesting of decoded values and of
	// json.decode input.
	DefaultMaxDepth = 256
	// maxDefaultMemory caps DefaultMaxMemory.
	maxDefaultMemory = 4 << 30
)

// watchInterval is how often a running task's memory is checked.
const watchInterval = 10 * time.Millisecond

// DefaultMaxMemory returns the default heap limit of an engine: half of
// the machine's physical memory, at most 4 GiB (4 GiB when the memory is
// unknown).
func DefaultMaxMemory() int64 {
	if total := physicalMemory(); total > 0 {
		return min(total/2, maxDefaultMemory)
	}
	return maxDefaultMemory
}

// physicalMemory returns MemTotal from /proc/meminfo, or 0.
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Metrics the watchdog reads: the live heap as of the last collection,
// heap objects (live and not yet swept) and goroutine stacks.
var watchMetrics = []string{"/gc/heap/live:bytes", "/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes"}

// watch checks the heap and the stacks every watchInterval until stop is
// called, and cancels the task with a MemoryError or a RecursionError when
// one passes its limit (a limit <= 0 is not checked). The heap counts what
// the last collection found live, so garbage never fails a task; the
// program sets the Go runtime's memory limit a little above maxHeap so
// that collections happen in time. depth is the task's call depth as its
// thread records it (meterSteps): the stacks are the process's, so with
// several engines in one process only the deepest running task is blamed.
func watch(maxHeap, maxStack int64, depth *atomic.Int64, cancel context.CancelCauseFunc) (stop func()) {
	if maxHeap <= 0 && maxStack <= 0 {
		return func() {}
	}
	samples := make([]metrics.Sample, len(watchMetrics))
	for i, name := range watchMetrics {
		samples[i].Name = name
	}
	running.add(depth)
	stopTicks := repeat(watchInterval, func() bool {
		if err := overLimit(samples, maxHeap, maxStack, depth); err != nil {
			cancel(err)
			return false
		}
		return true
	})
	return func() {
		stopTicks()
		running.remove(depth)
	}
}

// running holds the call depths of the tasks this process runs under
// watch.
var running depths

type depths struct {
	mu sync.Mutex
	m  map[*atomic.Int64]struct{}
}

func (d *depths) add(p *atomic.Int64) {
	if p == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[*atomic.Int64]struct{})
	}
	d.m[p] = struct{}{}
}

func (d *depths) remove(p *atomic.Int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, p)
}

// deepest reports whether no running task is deeper than p's.
func (d *depths) deepest(p *atomic.Int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	mine := p.Load()
	for q := range d.m {
		if q.Load() > mine {
			return false
		}
	}
	return true
}

// depthEvery is how many Starlark steps pass between a task's records
// of its call depth.
const depthEvery = 1 << 12

// meterSteps makes thread record its call depth in depth every
// depthEvery steps (none if depth is nil) and, when budget > 0, stop
// after budget steps, setting *exceeded.
func meterSteps(thread *starlark.Thread, budget uint64, depth *atomic.Int64, exceeded *bool) {
	if depth == nil && budget == 0 {
		return
	}
	end := thread.ExecutionSteps() + budget
	next := func() uint64 {
		if depth == nil {
			return end
		}
		n := thread.ExecutionSteps() + depthEvery
		if budget > 0 {
			n = min(n, end)
		}
		return n
	}
	thread.SetMaxExecutionSteps(next())
	thread.OnMaxSteps = func(th *starlark.Thread) {
		if budget > 0 && th.ExecutionSteps() >= end {
			*exceeded = true
			th.Cancel(fmt.Sprintf("execution step budget of %d steps exceeded", budget))
			return
		}
		depth.Store(int64(th.CallStackDepth()))
		th.SetMaxExecutionSteps(next())
	}
}

// repeat calls tick every d until tick returns false or stop is called.
// Ticks run under a lock that stop takes too, so none runs after stop
// returns (a task that ended is never blamed or written for afterwards).
// A timer, not a goroutine: a short task ends before it fires and costs
// no hand-off.
func repeat(d time.Duration, tick func() bool) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped && tick() {
			t.Reset(d)
		}
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// overLimit reads the metrics and returns the CancelError of a limit
// passed, or nil. Stacks over the limit are collected first (stacks of
// ended goroutines are freed, idle ones shrunk), and blamed on the task
// only if it is the deepest running.
func overLimit(samples []metrics.Sample, maxHeap, maxStack int64, depth *atomic.Int64) *CancelError {
	metrics.Read(samples)
	live, objects, stack := int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64()), int64(samples[2].Value.Uint64())
	if maxStack > 0 && stack > maxStack {
		runtime.GC()
		metrics.Read(samples)
		live, objects, stack = int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64()), int64(samples[2].Value.Uint64())
		if stack > maxStack && running.deepest(depth) {
			return &CancelError{Name: "RecursionError", Message: fmt.Sprintf(
				"call stack reached %s, over the engine's limit of %s (pxsh engine --max-stack): recursion too deep",
				protocol.FormatSize(stack), protocol.FormatSize(maxStack))}
		}
	}
	if maxHeap <= 0 {
		return nil
	}
	if live <= maxHeap && objects > 2*maxHeap {
		// No collection for a while (no runtime memory limit): collect
		// now rather than let the heap grow unchecked.
		runtime.GC()
		metrics.Read(samples)
		live = int64(samples[0].Value.Uint64())
	}
	if live <= maxHeap {
		return nil
	}
	return &CancelError{Name: "MemoryError", Message: fmt.Sprintf(
		"engine memory reached %s, over the engine's limit of %s (pxsh engine --max-memory): task cancelled",
		protocol.FormatSize(live), protocol.FormatSize(maxHeap))}
}

// RuntimeMemoryLimit is the Go runtime's soft memory limit that goes with
// a heap limit of maxHeap: a quarter above it, so the collector measures
// the live heap often enough near the limit without thrashing below it.
func RuntimeMemoryLimit(maxHeap int64) int64 { return maxHeap + maxHeap/4 }

// output captures a task's printed output up to a limit and counts what
// it drops.
type output struct {
	mu      sync.Mutex // print runs on the task's thread, unsent on the streamer's
	sb      strings.Builder
	limit   int // <= 0: no limit
	dropped int64
	sent    int // bytes of sb already streamed
}

// unsent returns the output printed since the last call, and marks it
// sent.
func (o *output) unsent() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.sb.String()[o.sent:]
	o.sent = o.sb.Len()
	return s
}

// print appends one printed line (msg and a newline).
func (o *output) print(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(msg) + 1
	if o.dropped > 0 || o.limit > 0 && o.sb.Len()+n > o.limit {
		if o.dropped == 0 {
			room := min(max(o.limit-o.sb.Len(), 0), len(msg))
			for room > 0 && room < len(msg) && !utf8.RuneStart(msg[room]) {
				room-- // cut at a character boundary
			}
			o.sb.WriteString(msg[:room])
			n -= room
		}
		o.dropped += int64(n)
		return
	}
	o.sb.WriteString(msg)
	o.sb.WriteByte('\n')
}

// String returns the captured output, with a marker line when some was
// dropped.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped == 0 {
		return o.sb.String()
	}
	s := o.sb.String()
	if !strings.HasSuffix(s, "\n") && s != "" {
		s += "\n"
	}
	return s + fmt.Sprintf("[output truncated: %d bytes over the limit of %d]\n", o.dropped, o.limit)
}
