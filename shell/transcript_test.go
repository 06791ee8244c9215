package shell_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell"
)

// A transcript (testdata/*.txt) is a pasted pxsh session: lines starting
// with ">>> " or "... " are typed input, the others are the expected
// output (stdout and stderr together). "## name" lines start a section,
// run as a subtest by a fresh shell against the same cluster, so engine
// state carries over from section to section. Lines before the first
// section starting with "#" are comments; "#engines N" sets the number of
// engines (default 4).

type section struct {
	name  string
	lines []string // input and output lines, as in the file
}

type transcript struct {
	engines  int
	sections []section
}

func parseTranscript(t *testing.T, path string) transcript {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := transcript{engines: 4}
	var cur *section
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			tr.sections = append(tr.sections, section{name: strings.TrimSpace(l[3:])})
			cur = &tr.sections[len(tr.sections)-1]
		case cur == nil:
			if n, ok := strings.CutPrefix(l, "#engines "); ok {
				tr.engines = atoi(t, n)
			}
		default:
			cur.lines = append(cur.lines, l)
		}
	}
	for i := range tr.sections {
		s := &tr.sections[i]
		for len(s.lines) > 0 && strings.TrimSpace(s.lines[len(s.lines)-1]) == "" {
			s.lines = s.lines[:len(s.lines)-1]
		}
	}
	return tr
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < '0' || r > '9' {
			t.Fatalf("bad number %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// inputLine returns the typed text of an input line.
func inputLine(l string) (string, bool) {
	for _, p := range []string{">>>", "..."} {
		if l == p {
			return "", true
		}
		if rest, ok := strings.CutPrefix(l, p+" "); ok {
			return rest, true
		}
	}
	return "", false
}

func (s section) inputs() []string {
	var in []string
	for _, l := range s.lines {
		if x, ok := inputLine(l); ok {
			in = append(in, x)
		}
	}
	return in
}

// outputOnly is the expected output without the input lines (what piped
// input prints).
func (s section) outputOnly() string {
	var out []string
	for _, l := range s.lines {
		if _, ok := inputLine(l); !ok {
			out = append(out, l)
		}
	}
	return normalize(strings.Join(out, "\n"))
}

// normalize trims trailing blanks of every line and trailing newlines.
func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

// match returns got with every line that matches the corresponding line
// of want (where "<*>" stands for any text) replaced by want's line, so
// that a diff shows only real differences.
func match(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(wl), len(gl)) {
		if !strings.Contains(wl[i], "<*>") {
			continue
		}
		parts := strings.Split(wl[i], "<*>")
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		if regexp.MustCompile("^" + strings.Join(parts, ".*?") + "$").MatchString(gl[i]) {
			gl[i] = wl[i]
		}
	}
	return strings.Join(gl, "\n")
}

// echoReader feeds scripted lines and echoes each prompt and line to the
// output, as a terminal shows them.
type echoReader struct {
	mu    sync.Mutex
	lines []string
	out   io.Writer
}

func (r *echoReader) ReadLine(prompt string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return "", io.EOF
	}
	l := r.lines[0]
	r.lines = r.lines[1:]
	io.WriteString(r.out, prompt+l+"\n")
	return l, nil
}

func (r *echoReader) AddHistory(string) {}
func (r *echoReader) Close() error      { return nil }

// syncBuffer is a buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func transcriptFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	return files
}

// TestTranscripts runs every transcript in-process against a real cluster.
func TestTranscripts(t *testing.T) {
	for _, file := range transcriptFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			tr := parseTranscript(t, file)
			cl := clustertest.Start(t, tr.engines, clustertest.Options{})
			root := t.TempDir()
			for _, sec := range tr.sections {
				ok := t.Run(sec.name, func(t *testing.T) {
					out := &syncBuffer{}
					sh := shell.New(shell.Config{
						Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
						Getenv:         func(k string) string { return map[string]string{"PXSH_DIR": root}[k] },
						ConnectionFile: cl.ClientFile,
						LineReader:     &echoReader{lines: sec.inputs(), out: out},
						HistoryFile:    "-",
					})
					defer sh.Close()
					sh.Run(context.Background())
					want := normalize(strings.Join(sec.lines, "\n"))
					if diff := cmp.Diff(want, match(want, normalize(out.String()))); diff != "" {
						t.Errorf("transcript %s, section %q (-want +got):\n%s", file, sec.name, diff)
					}
				})
				if !ok {
					return // later sections depend on this one's engine state
				}
			}
		})
	}
}
