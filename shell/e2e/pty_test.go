package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// term is the binary running in a pty.
type term struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen int           // offset up to which expect has consumed output
	grew chan struct{} // a token after each read of output
	done chan struct{} // closed when the output ended
}

func startTerm(t *testing.T, env []string, args ...string) *term {
	t.Helper()
	cmd := exec.Command(clustertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, f: f, cmd: cmd, grew: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.grew <- struct{}{}:
			default: // a token already waits
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return tm
}

// expect waits until s appears in the output after what earlier expects
// consumed, and returns the time it appeared. It looks again each time
// output arrives.
func (tm *term) expect(s string, d time.Duration) time.Time {
	tm.t.Helper()
	timeout := time.NewTimer(d * clustertest.Scale())
	defer timeout.Stop()
	for ended := false; ; {
		tm.mu.Lock()
		text := tm.out.String()
		tm.mu.Unlock()
		if i := strings.Index(text[tm.seen:], s); i >= 0 {
			tm.seen += i + len(s)
			return time.Now()
		}
		if ended {
			tm.t.Fatalf("output ended without %q; output:\n%q", s, text)
		}
		select {
		case <-tm.grew:
		case <-tm.done:
			ended = true // one last look: the last read came before
		case <-timeout.C:
			tm.t.Fatalf("timed out waiting for %q; output so far:\n%q", s, text)
		}
	}
}

func (tm *term) send(s string) {
	tm.t.Helper()
	if _, err := tm.f.WriteString(s); err != nil {
		tm.t.Fatal(err)
	}
}

// TestTerminal drives the interactive shell in a real terminal:
// completion, history recall across restarts, Ctrl-C of a blocking %px,
// Ctrl-D. Control keys are typed only once the shell waits for them (at
// a prompt, or in a running command), not ahead.
func TestTerminal(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	env := isolated(t)

	tm := startTerm(t, env, "--file", cl.ClientFile)
	tm.expect("2 engines", 10*time.Second)
	tm.expect(">>> ", 5*time.Second)

	// Completion of a global name, then of an attribute.
	tm.send("answer_value = 42\r")
	tm.expect(">>> ", 5*time.Second)
	tm.send("answer_v\t\r")
	tm.expect("answer_value", 5*time.Second)
	tm.expect("42", 5*time.Second)
	tm.expect(">>> ", 5*time.Second)
	tm.send("rc.cluster_i\t\r")
	tm.expect("rc.cluster_id", 5*time.Second)
	tm.expect(">>> ", 5*time.Second)
	tm.send("%pxres\t\r")
	tm.expect("%pxresult", 5*time.Second)
	tm.expect("UsageError", 5*time.Second)
	tm.expect(">>> ", 5*time.Second)

	// A multi-line entry, then history recall of it as one entry.
	tm.send("def sq(x):\r")
	tm.expect("... ", 5*time.Second)
	tm.send("    return x * x\r\r")
	tm.expect(">>> ", 5*time.Second)
	tm.send("sq(9)\r")
	tm.expect("81", 5*time.Second)
	tm.expect(">>> ", 5*time.Second)
	tm.send("\x1b[A\x1b[A\r") // up twice: the def
	tm.send("sq(4)\r")
	tm.expect("16", 5*time.Second)

	// Ctrl-C during a blocking %px returns to the prompt within a second,
	// and the engines are free for the next command.
	tm.send("%px time.sleep(30)\r")
	tm.expect("time.sleep(30)", 5*time.Second)
	// Once the controller holds the tasks the line editor has returned
	// (leaving raw mode, so Ctrl-C is SIGINT) and the shell waits.
	submitted(t, cl, 2)
	sent := time.Now()
	tm.send("\x03")
	tm.expect("Received Keyboard Interrupt. Sending cancel to engines...", 5*time.Second)
	back := tm.expect(">>> ", 5*time.Second)
	if d := back.Sub(sent); d > time.Second*clustertest.Scale() {
		t.Errorf("back at the prompt %v after Ctrl-C, want under 1s", d)
	}
	tm.send("%px print('free', engine.id)\r")
	tm.expect("[stdout:0] free 0", 3*time.Second)
	tm.expect("[stdout:1] free 1", 3*time.Second)
	tm.expect(">>> ", 5*time.Second)

	// Ctrl-D exits.
	tm.send("\x04")
	select {
	case <-tm.done:
	case <-time.After(10 * time.Second * clustertest.Scale()):
		t.Fatal("pxsh did not exit on Ctrl-D")
	}
	if err := tm.cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}

	// History survives a restart.
	tm2 := startTerm(t, env, "--file", cl.ClientFile)
	tm2.expect(">>> ", 10*time.Second)
	// Up 4: %px print('free'...), %px time.sleep, sq(4), then the def,
	// recalled as one entry.
	tm2.send("\x1b[A\x1b[A\x1b[A\x1b[A\r")
	tm2.expect(">>> ", 5*time.Second)
	tm2.send("sq(5)\r")
	tm2.expect("25", 5*time.Second)
	tm2.expect(">>> ", 5*time.Second) // Ctrl-D at the prompt, not while sq(5) ends
	tm2.send("\x04")
	select {
	case <-tm2.done:
	case <-time.After(10 * time.Second * clustertest.Scale()):
		t.Fatal("pxsh did not exit on Ctrl-D after a restart")
	}
}

// submitted waits until the controller holds a task for each of n
// engines.
func submitted(t *testing.T, c *clustertest.Cluster, n int) {
	t.Helper()
	cl := c.Client()
	clustertest.Eventually(t, 10*time.Second, "the tasks to reach the controller", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*clustertest.Scale())
		defer cancel()
		st, err := cl.QueueStatus(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		queued := 0
		for _, e := range st.Engines {
			if e.Queue > 0 {
				queued++
			}
		}
		return queued == n
	})
}
