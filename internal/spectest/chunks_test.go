package spectest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
)

// chunk is one test program of a spec file: the text between "---" lines,
// padded with blank lines so that its lines are those of the file.
type chunk struct {
	file string         // base name of the spec file
	line int            // first line of the chunk
	src  string         // padded source
	want map[int]string // expected error pattern by line ("###" comments)
}

func (c chunk) id() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// readChunks splits every spec file into chunks.
func readChunks(t *testing.T, dir string) []chunk {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "starlark", "testdata", "*.star"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no spec files in %s: %v", dir, err)
	}
	var all []chunk
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		line := 1
		for _, text := range strings.Split(string(b), "\n---\n") {
			c := chunk{file: filepath.Base(f), line: line, src: strings.Repeat("\n", line-1) + text, want: map[int]string{}}
			for i, l := range strings.Split(text, "\n") {
				_, after, ok := strings.Cut(l, "###")
				if !ok {
					continue
				}
				pat, err := strconv.Unquote(strings.TrimSpace(after))
				if err != nil {
					t.Fatalf("%s:%d: bad expectation %q", c.file, line+i, after)
				}
				c.want[line+i] = pat
			}
			all = append(all, c)
			line += strings.Count(text, "\n") + 2
		}
	}
	return all
}

// outcome is what running a chunk gave: the error (if any) with the line
// of the chunk's file it came from (0: none found), and the assertion
// failures reported without stopping.
type outcome struct {
	errLine int
	errMsg  string
	asserts []string
}

// check compares an outcome with the chunk's expectations; "" means the
// chunk passed.
func (c chunk) check(o outcome) string {
	var problems []string
	problems = append(problems, o.asserts...)
	if o.errMsg != "" {
		pat, ok := c.want[o.errLine]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("unexpected error at line %d: %s", o.errLine, o.errMsg))
		case !regexp.MustCompile(pat).MatchString(o.errMsg):
			problems = append(problems, fmt.Sprintf("line %d: error %q does not match %q", o.errLine, o.errMsg, pat))
		}
	}
	for l, pat := range c.want {
		if o.errMsg == "" || l != o.errLine {
			problems = append(problems, fmt.Sprintf("line %d: expected an error matching %q", l, pat))
		}
	}
	return strings.Join(problems, "; ")
}

// reporter collects the failures that assert.star's error() reports.
type reporter struct {
	mu   sync.Mutex
	msgs []string
}

func (r *reporter) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// specDir returns go.starlark.net's directory in the module cache.
func specDir(t *testing.T) string {
	t.Helper()
	dir, err := StarlarkDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadAssert loads assert.star for a test; error() reports to rep.
func loadAssert(t *testing.T, dir string, rep *reporter) starlark.StringDict {
	t.Helper()
	m, err := LoadAssert(dir, func(_ *starlark.Thread, msg string) {
		rep.mu.Lock()
		rep.msgs = append(rep.msgs, "assert: "+msg)
		rep.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
