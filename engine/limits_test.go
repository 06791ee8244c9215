package engine

import (
	"context"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pxsh/pxsh/protocol"
)

func TestOutputLimit(t *testing.T) {
	cases := []struct {
		limit int
		lines []string
		want  string
	}{
		{10, []string{"abc", "def"}, "abc\ndef\n"},
		{8, []string{"abc", "def"}, "abc\ndef\n"},
		{7, []string{"abc", "def"}, "abc\ndef\n[output truncated: 1 bytes over the limit of 7]\n"},
		{5, []string{"abc", "def", "g"}, "abc\nd\n[output truncated: 5 bytes over the limit of 5]\n"},
		// A cut never splits a character, and nothing after it is kept.
		{5, []string{"ab", "é!", "x"}, "ab\né\n[output truncated: 4 bytes over the limit of 5]\n"},
		{4, []string{"ab", "é!", "x"}, "ab\n[output truncated: 6 bytes over the limit of 4]\n"},
		{-1, []string{strings.Repeat("x", 100)}, strings.Repeat("x", 100) + "\n"},
	}
	for _, c := range cases {
		o := output{limit: c.limit}
		for _, l := range c.lines {
			o.print(l)
		}
		if got := o.String(); got != c.want {
			t.Errorf("limit %d, %q: got %q, want %q", c.limit, c.lines, got, c.want)
		}
	}
}

func TestInterpLimits(t *testing.T) {
	in := NewInterp(InterpConfig{ID: 3, MaxOutput: 64, MaxStack: 16 << 20, MaxMemory: 1 << 40,
		Limits: protocol.Limits{MaxDepth: 8}})
	res, _ := exec(t, in, "for i in range(100):\n    print(i)")
	mustOK(t, res)
	if !strings.HasSuffix(res.Stdout, "bytes over the limit of 64]\n") || !strings.HasPrefix(res.Stdout, "0\n1\n") {
		t.Errorf("stdout %q", res.Stdout)
	}
	for _, c := range []struct{ code, name, msg string }{
		{`json.decode("[" * 9 + "]" * 9)`, "ValueError", "json.decode: input nested deeper than the limit of 8 levels"},
		{`load("json", "decode")` + "\n" + `decode("{\"a\":" * 100000)`, "ValueError", "deeper than the limit of 8"},
		{"def f(n):\n    return f(n + 1)\nf(0)", "RecursionError", "over the engine's limit of 16 MiB"},
	} {
		res, _ := exec(t, in, c.code)
		if res.Error == nil || res.Error.Name != c.name || !strings.Contains(res.Error.Message, c.msg) {
			t.Errorf("%s: got %+v, want %s: ...%s...", c.code, res.Error, c.name, c.msg)
		}
	}
	// Brackets inside strings do not count; the limit itself is fine.
	const nested = `[[[[[[[["[[[[[[[[[[[[[{{{"]]]]]]]]`
	res, v := exec(t, in, "json.decode('"+nested+"')")
	mustOK(t, res)
	if v.String() != nested {
		t.Errorf("got %v, want %s", v, nested)
	}
	// The codec's depth limit applies to pushed values.
	var deep any = 1
	for range 10 {
		deep = []any{deep}
	}
	res, _ = run(t, in, context.Background(), protocol.KindPush, false, cborBody(t, map[string]any{"x": deep}))
	if res.Error == nil || res.Error.Name != "ValueError" || !strings.Contains(res.Error.Message, "nested more than 8 levels") {
		t.Errorf("push: got %+v", res.Error)
	}
}

func TestInterpMemoryLimit(t *testing.T) {
	// No runtime memory limit here: the watchdog collects by itself when
	// the heap grows far past the limit.
	in := NewInterp(InterpConfig{ID: 3, MaxMemory: 32 << 20})
	res, _ := exec(t, in, "x = []\nfor i in range(1 << 40):\n    x.append('x' * 10000 + str(i))")
	if res.Error == nil || res.Error.Name != "MemoryError" || !strings.Contains(res.Error.Message, "limit of 32 MiB") {
		t.Fatalf("got %+v, want MemoryError", res.Error)
	}
	// x holds the partial list: rebinding it frees the memory.
	res, _ = exec(t, in, "n = len(x)\nx = None\nn > 0")
	mustOK(t, res)
	res, v := exec(t, in, "len([i for i in range(1000)])")
	mustOK(t, res)
	if v.String() != "1000" {
		t.Errorf("got %v", v)
	}
}

// parkStack starts a goroutine that grows its stack past size bytes by
// recursion, then parks: deep (its stack in use) or after returning (an
// idle stack a collection shrinks) until the test ends.
func parkStack(t *testing.T, size int, deep bool) {
	t.Helper()
	ready, end := make(chan struct{}), make(chan struct{})
	var grow func(n int) byte
	grow = func(n int) byte {
		var frame [1024]byte
		frame[n%len(frame)] = byte(n)
		if n == 0 {
			if deep {
				close(ready)
				<-end
			}
			return frame[0]
		}
		return grow(n-1) + frame[(n+1)%len(frame)]
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		grow(size / 1024)
		if !deep {
			close(ready)
			<-end
		}
	}()
	<-ready
	t.Cleanup(func() { close(end); <-done })
}

func stackSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(watchMetrics))
	for i, name := range watchMetrics {
		s[i].Name = name
	}
	return s
}

// Stacks a task does not use, such as those of goroutines that grew and
// went idle, never fail it: they are collected before any blame.
func TestStackLimitIgnoresIdleStacks(t *testing.T) {
	parkStack(t, 40<<20, false) // a 64 MiB stack, 40 MiB of it used once
	var depth atomic.Int64
	running.add(&depth)
	defer running.remove(&depth)
	if err := overLimit(stackSamples(), 0, 48<<20, &depth); err != nil {
		t.Errorf("an idle stack blamed on the task: %v", err)
	}
}

// With several engines in one process, stacks over the limit are blamed
// on the deepest running task only.
func TestStackLimitBlamesTheDeepest(t *testing.T) {
	parkStack(t, 40<<20, true) // 64 MiB of stack in use
	var shallow, deep atomic.Int64
	shallow.Store(3)
	deep.Store(5000)
	running.add(&shallow)
	running.add(&deep)
	defer running.remove(&shallow)
	defer running.remove(&deep)
	if err := overLimit(stackSamples(), 0, 48<<20, &shallow); err != nil {
		t.Errorf("the shallow task blamed: %v", err)
	}
	if err := overLimit(stackSamples(), 0, 48<<20, &deep); err == nil || err.Name != "RecursionError" {
		t.Errorf("the deep task: got %v, want a RecursionError", err)
	}
}
