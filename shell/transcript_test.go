package shell_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell"
	"github.com/pxsh/pxsh/shell/internal/transcript"
)

// Transcripts (testdata/*.txt) are read by shell/internal/transcript.
// Each section runs as a subtest in a fresh shell against the same
// cluster, so engine state carries over from section to section.

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
	// The shell transcripts of the ipyparallel conformance suite.
	conf, err := filepath.Glob(filepath.Join("..", "conformance", "testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return append(files, conf...)
}

// TestTranscripts runs every transcript in-process against a real cluster.
func TestTranscripts(t *testing.T) {
	for _, file := range transcriptFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			tr, err := transcript.Parse(file)
			if err != nil {
				t.Fatal(err)
			}
			cl := clustertest.Start(t, tr.Engines, clustertest.Options{})
			root := t.TempDir()
			for _, sec := range tr.Sections {
				ok := t.Run(sec.Name, func(t *testing.T) {
					out := &syncBuffer{}
					sh := shell.New(shell.Config{
						Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
						Getenv:         func(k string) string { return map[string]string{"PXSH_DIR": root}[k] },
						ConnectionFile: cl.ClientFile,
						LineReader:     &echoReader{lines: sec.Inputs(), out: out},
						HistoryFile:    "-",
					})
					defer sh.Close()
					sh.Run(context.Background())
					want := transcript.Normalize(strings.Join(sec.Lines, "\n"))
					if diff := cmp.Diff(want, transcript.Match(want, transcript.Normalize(out.String()))); diff != "" {
						t.Errorf("transcript %s, section %q (-want +got):\n%s", file, sec.Name, diff)
					}
				})
				if !ok {
					return // later sections depend on this one's engine state
				}
			}
		})
	}
}
