package clientlib_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/shell/clientlib"
)

// result runs code that binds ar and returns ar, waited for.
func (h *harness) result(code string) *clientlib.AsyncResult {
	h.t.Helper()
	h.must(code)
	ar, ok := h.eval("ar").(*clientlib.AsyncResult)
	if !ok {
		h.t.Fatalf("ar is %s", h.eval("ar").Type())
	}
	h.must("ar.wait()")
	return ar
}

func display(t *testing.T, ar *clientlib.AsyncResult, o clientlib.DisplayOptions) (string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	o.Stderr = &errw
	if err := ar.Display(&out, o); err != nil {
		t.Fatal(err)
	}
	return out.String(), errw.String()
}

func TestDisplay(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must("rc = Client()")

	// One engine: the bare stream.
	ar := h.result(`ar = rc[-1].execute("print(5555)")`)
	out, _ := display(t, ar, clientlib.DisplayOptions{})
	if out != "5555\n" {
		t.Errorf("single engine: %q", out)
	}

	// Several engines: one header per engine, in engine order, single-line
	// output on the header line, no blank lines.
	ar = h.result(`ar = rc[[2, 0, 1, 3]].execute("print('hi', engine.id)")`)
	out, _ = display(t, ar, clientlib.DisplayOptions{})
	want := "[stdout:0] hi 0\n[stdout:1] hi 1\n[stdout:2] hi 2\n[stdout:3] hi 3\n"
	if out != want {
		t.Errorf("several engines:\n%q\nwant\n%q", out, want)
	}

	// Multi-line output goes under its header.
	ar = h.result(`ar = rc[:2].execute("print('a')\nprint('b')")`)
	out, _ = display(t, ar, clientlib.DisplayOptions{})
	want = "[stdout:0]\na\nb\n[stdout:1]\na\nb\n"
	if out != want {
		t.Errorf("multi-line:\n%q\nwant\n%q", out, want)
	}
	if strings.Contains(out, "\n\n") {
		t.Errorf("blank line in %q", out)
	}

	// Nothing printed: nothing shown.
	ar = h.result(`ar = rc[:].execute("z = 1")`)
	if out, _ := display(t, ar, clientlib.DisplayOptions{}); out != "" {
		t.Errorf("empty streams: %q", out)
	}

	// Out[N:C] for silent=False values; grouping by engine.
	ar = h.result(`ar = rc[:2].execute("print('p')\n40 + 2", silent=False)`)
	out, _ = display(t, ar, clientlib.DisplayOptions{ShowResult: true, GroupBy: "engine"})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "[stdout:0] p" || !strings.HasPrefix(lines[1], "Out[0:") || !strings.HasSuffix(lines[1], "]: 42") ||
		lines[2] != "[stdout:1] p" || !strings.HasPrefix(lines[3], "Out[1:") {
		t.Errorf("group by engine:\n%s", out)
	}
	out, _ = display(t, ar, clientlib.DisplayOptions{ShowResult: true})
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "[stdout:0] p" || lines[1] != "[stdout:1] p" || !strings.HasPrefix(lines[2], "Out[0:") {
		t.Errorf("group by type:\n%s", out)
	}

	// Errors: the stdout is still shown, the traceback is not in it; with
	// Errors the report goes to Stderr.
	ar = h.result(`ar = rc[:].execute("print('before')\n1 // 0")`)
	out, errOut := display(t, ar, clientlib.DisplayOptions{Errors: true})
	if strings.Count(out, "[stdout:") != 4 || strings.Contains(out, "ZeroDivisionError") {
		t.Errorf("error stdout: %q", out)
	}
	if !strings.Contains(errOut, "[0:execute]:") || !strings.Contains(errOut, "ZeroDivisionError: floored division by zero") {
		t.Errorf("error report: %q", errOut)
	}
	var ce *client.CompositeError
	if !errors.As(ar.Err(), &ce) || len(ce.Errors) != 4 {
		t.Errorf("Err: %v", ar.Err())
	}

	// stderr-style output of a single failure.
	ar = h.result(`ar = rc[1].execute("1 // 0")`)
	_, errOut = display(t, ar, clientlib.DisplayOptions{Errors: true})
	if !strings.HasPrefix(errOut, "[1:execute] ZeroDivisionError: floored division by zero\nTraceback") {
		t.Errorf("single error report: %q", errOut)
	}

	// display_outputs from Starlark writes to Env.Stdout.
	h.out.Reset()
	h.must(`rc[:2].execute("print('x')", block=True)` + "\n" + `ar = rc[:2].execute("print('y')")` + "\n" + "ar.display_outputs()")
	if got := h.out.String(); got != "[stdout:0] y\n[stdout:1] y\n" {
		t.Errorf("display_outputs: %q", got)
	}
}

// TestCompositeTruncation: more than 4 failures show 4 tracebacks and the
// count of the rest; every part keeps its engine id.
func TestCompositeTruncation(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`
rc = Client()
a1 = rc[:].apply_async(lambda: 1 // 0)
a2 = rc[:].apply_async(lambda: 1 // 0)
rc.wait([a1, a2])
ar = rc.get_result(a1.msg_ids + a2.msg_ids)
`)
	_, err := h.ns.Exec(h.thread, "<eval>", "ar.get()", true)
	var ce *client.CompositeError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a CompositeError", err)
	}
	if len(ce.Errors) != 8 {
		t.Fatalf("%d parts", len(ce.Errors))
	}
	for i, e := range ce.Errors {
		if e.Engine != i%4 || e.Method != "apply" {
			t.Errorf("part %d: engine %d method %s", i, e.Engine, e.Method)
		}
	}
	rep := clientlib.ErrorReport(err, false)
	if n := strings.Count(rep, ":apply]:"); n != 4 {
		t.Errorf("%d tracebacks shown:\n%s", n, rep)
	}
	if !strings.HasSuffix(rep, "... 4 more exceptions ...") {
		t.Errorf("report ends %q", rep[max(0, len(rep)-60):])
	}
	if !strings.Contains(ce.Error(), "one or more exceptions from call to method: apply\n[0:apply] ZeroDivisionError") {
		t.Errorf("Error(): %q", ce.Error())
	}
}

// TestLazyAll: a direct_view('all') picks up engines that join later; rc[:]
// does not.
func TestLazyAll(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	h := newHarness(t, cl)
	h.must(`
rc = Client()
lazy = rc.direct_view('all')
fixed = rc[:]
assert_two = lazy.apply_sync(lambda: engine.id)
`)
	if got := h.eval("assert_two").String(); got != "[0, 1]" {
		t.Fatalf("before: %s", got)
	}
	cl.StartEngine(2)
	h.must("rc.wait_for_engines(3, timeout=20)")
	for _, c := range []struct{ expr, want string }{
		{"lazy.apply_sync(lambda: engine.id)", "[0, 1, 2]"},
		{"lazy.map_sync(lambda x: x * 10, range(3))", "[0, 10, 20]"},
		{"fixed.apply_sync(lambda: engine.id)", "[0, 1]"},
		{"len(lazy)", "3"},
		{"len(fixed)", "2"},
	} {
		if got := h.eval(c.expr).String(); got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
	if _, err := h.ns.Exec(h.thread, "<eval>", "rc.wait_for_engines(5, timeout=0.1)", true); err == nil || !strings.Contains(err.Error(), "TimeoutError") {
		t.Errorf("wait_for_engines beyond: %v", err)
	}
}

// TestEngineDied: a task on an engine that dies fails with EngineError
// naming the engine and the task.
func TestEngineDied(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	h := newHarness(t, cl)
	h.must(`
rc = Client()
ar = rc[1].apply_async(lambda: time.sleep(30))
`)
	clustertest.Eventually(t, 5*time.Second, "task started", func() bool {
		v, err := h.ns.Exec(h.thread, "<eval>", "ar.started", true)
		return err == nil && v != starlark.None
	})
	cl.Kill(1)
	h.must("e = catch(ar.get, 10)")
	msgID := h.eval("ar.msg_ids[0]").(starlark.String)
	if got := h.eval("e.ename").String(); got != `"EngineError"` {
		t.Errorf("ename %s", got)
	}
	want := `Engine 1 died while running task '` + string(msgID) + `'`
	if got := string(h.eval("e.evalue").(starlark.String)); got != want {
		t.Errorf("evalue %q, want %q", got, want)
	}
	if got := h.eval("e.engine_id").String(); got != "1" {
		t.Errorf("engine_id %s", got)
	}
}

// TestDecoratorLines: @dv.remote(block=True) before a def works, and an
// engine error's traceback names the script's own lines.
func TestDecoratorLines(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	src := `rc = Client()
dv = rc[:]

@dv.remote(block=True)
def getpid():
    return engine.pid

@dv.parallel(block=True)
def bad(xs):
    return [1 // x for x in xs]

pids = getpid()
`
	if err := h.exec("deco.star", src); err != nil {
		t.Fatal(clientlib.ErrorReport(err, false))
	}
	pids := h.eval("pids").(*starlark.List)
	seen := map[string]bool{}
	for i := range pids.Len() {
		seen[pids.Index(i).String()] = true
	}
	if len(seen) != 4 {
		t.Errorf("pids %s", pids)
	}
	_, err := h.ns.Exec(h.thread, "<eval>", "bad([1, 0, 2, 3])", true)
	rep := clientlib.ErrorReport(err, false)
	if !strings.Contains(rep, "deco.star:10:") || !strings.Contains(rep, "in bad") {
		t.Errorf("traceback does not name deco.star:10:\n%s", rep)
	}
	if !strings.Contains(rep, "[1:apply]:") {
		t.Errorf("engine 1 not named:\n%s", rep)
	}
}

// TestSyncImportsOutput checks the message sync_imports prints.
func TestSyncImportsOutput(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`Client()[:].sync_imports("testdata/lib_mod.star")`)
	if got := h.out.String(); got != "importing lib_mod on engine(s)\n" {
		t.Errorf("printed %q", got)
	}
}

// TestShutdownBlock: rc.shutdown(targets, block=True) returns once those
// engines have left.
func TestShutdownBlock(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	h := newHarness(t, cl)
	h.must("rc = Client()\nrc.wait_for_engines(2, timeout = 30)")
	h.must("rc.shutdown(targets = [1], block = True)")
	if got := h.eval("rc.ids").String(); got != "[0]" {
		t.Fatalf("after shutdown(targets=[1], block=True): rc.ids = %s, want [0]", got)
	}
	h.must("rc.shutdown(block = True)")
	if got := h.eval("rc.ids").String(); got != "[]" {
		t.Fatalf("after shutdown(block=True): rc.ids = %s, want []", got)
	}
}

// TestStreamOutput: ar.stream_output() prints each engine's lines as
// "[stdout:N] line" and returns when the tasks have finished.
func TestStreamOutput(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must("rc = Client()\nar = rc[:2].execute(\"print('a', engine.id)\\ntime.sleep(0.3)\\nprint('b', engine.id)\")\nar.stream_output()")
	got := h.out.String()
	for _, want := range []string{"[stdout:0] a 0\n", "[stdout:0] b 0\n", "[stdout:1] a 1\n", "[stdout:1] b 1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stream_output printed %q, want a line %q", got, want)
		}
	}
	if strings.Index(got, "[stdout:0] a 0") > strings.Index(got, "[stdout:0] b 0") {
		t.Errorf("stream_output printed %q out of order", got)
	}
	h.out.Reset()
	h.must("rc[1].execute(\"print('x')\\nprint('y')\").stream_output()")
	if got := h.out.String(); got != "x\ny\n" {
		t.Errorf("stream_output of a single result printed %q, want bare lines", got)
	}
}
