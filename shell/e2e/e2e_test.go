// Package e2e tests the built pxsh binary end to end: transcripts over
// piped input, -c, scripts with a shebang, and the interactive shell in a
// real terminal (a pty).
package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell/internal/transcript"
)

// run runs the binary with args and stdin and returns its combined output
// (one pipe, so stdout and stderr keep their order) and exit status.
func run(t *testing.T, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	cmd := exec.CommandContext(ctx, clustertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pxsh %v: %v\n%s", args, err, out.String())
	}
	return out.String(), code
}

// start starts the binary with args and env in the background, killed at
// the test's end, and returns it with its standard output; its standard
// error goes to stderr.
func start(t *testing.T, env []string, stderr io.Writer, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(clustertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, out
}

func isolated(t *testing.T) []string {
	return []string{"PXSH_DIR=" + t.TempDir(), "NO_COLOR=1"}
}

// TestPiped is the acceptance case: piped magics on a private
// cluster print one [stdout:N] block per engine and exit 0.
func TestPiped(t *testing.T) {
	out, code := run(t, isolated(t), "%px a = 5\n%px print(a)\n", "-n", "2")
	want := "[stdout:0] 5\n[stdout:1] 5\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, output %q; want 0 and %q", code, out, want)
	}
}

// TestTranscriptsBinary runs the shell's transcripts through the binary
// with piped input: the output is the transcript without its input lines.
func TestTranscriptsBinary(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			tr, err := transcript.Parse(file)
			if err != nil {
				t.Fatal(err)
			}
			engines, sections := tr.Engines, tr.Sections
			cl := clustertest.Start(t, engines, clustertest.Options{})
			env := isolated(t)
			for _, sec := range sections {
				if !t.Run(sec.Name, func(t *testing.T) {
					out, _ := run(t, env, strings.Join(sec.Inputs(), "\n")+"\n", "--file", cl.ClientFile)
					want := sec.OutputOnly()
					if diff := cmp.Diff(want, transcript.Match(want, transcript.Normalize(out))); diff != "" {
						t.Errorf("%s, section %q (-want +got):\n%s", file, sec.Name, diff)
					}
				}) {
					return
				}
			}
		})
	}
}

// TestCommandAndScripts covers -c, run with argv, a shebang script found
// through PATH, and the exit status of an uncaught error.
func TestCommandAndScripts(t *testing.T) {
	env := isolated(t)
	out, code := run(t, env, "", "-c", "print(argv, 6 * 7)", "x", "y")
	if code != 0 || out != "[\"-c\", \"x\", \"y\"] 42\n" {
		t.Errorf("-c: exit %d, output %q", code, out)
	}
	out, code = run(t, env, "", "-c", "x = 1\nundefined_name")
	if code != 1 || !strings.Contains(out, "name 'undefined_name' is not defined") || !strings.Contains(out, "<command>:2:1") {
		t.Errorf("-c error: exit %d, output %q", code, out)
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "hello.star")
	src := "#!/usr/bin/env -S pxsh run\nprint(argv[1:])\nif len(argv) > 2:\n    fail('too many: %d' % len(argv))\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Dir(clustertest.Binary(t))
	pathEnv := append(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "one")
	cmd.Env = append(os.Environ(), pathEnv...)
	b, err := cmd.CombinedOutput()
	if err != nil || string(b) != "[\"one\"]\n" {
		t.Errorf("shebang script: %v, output %q", err, b)
	}
	cmd = exec.CommandContext(ctx, script, "one", "two")
	cmd.Env = append(os.Environ(), pathEnv...)
	b, err = cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(b), "too many: 3") || !strings.Contains(string(b), "hello.star:4:9") {
		t.Errorf("failing shebang script: %v, output %q", err, b)
	}
}
