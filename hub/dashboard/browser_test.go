package dashboard_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// chromium returns the Chromium binary, or skips the test. Debian's
// /usr/bin/chromium is a shell wrapper; the real binary avoids its noise.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PXSH_CHROMIUM"), "/usr/lib/chromium/chromium"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIP: no Chromium found (apt-get install chromium, or set PXSH_CHROMIUM): the dashboard's browser test did not run")
	return ""
}

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	thrown []string // JavaScript exceptions
}

func (l *lockedBuffer) exceptions() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.thrown, "\n")
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browser starts headless Chromium; it is closed at the end of the test.
func browser(t *testing.T) (context.Context, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()), chromedp.DisableGPU, chromedp.CombinedOutput(out))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			out.mu.Lock()
			out.thrown = append(out.thrown, fmt.Sprintf("%s (line %d)", e.ExceptionDetails.Text, e.ExceptionDetails.LineNumber))
			out.mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancel(); cancelA() })
	// The first action starts the browser: no timeout on its context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return ctx, out
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, what, expr string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: not within %v: %v\npage:\n%s", what, d, err, dump)
	}
	return time.Since(start)
}

// TestBrowser drives the dashboard in headless Chromium against a real
// cluster: the token is required, the engines show, a submitted task
// appears in the task stream and the table, and abort from the page
// cancels a running task.
func TestBrowser(t *testing.T) {
	ctx, out := browser(t)
	c := clustertest.Start(t, 2, clustertest.Options{})
	srv := serve(t, c)
	cl := c.Client()
	c.WaitEngines(cl, 2)
	scale := clustertest.Scale()
	step := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d*scale) }

	// Refused without the token.
	sctx, cancel := step(10 * time.Second)
	resp, err := chromedp.Run(sctx, chromedp.NavigateResponse("http://"+srv.Addr().String()+"/"))
	cancel()
	if err != nil {
		t.Fatalf("navigate without token: %v\n%s", err, out.String())
	}
	if resp.Status != 401 {
		t.Errorf("page without token: status %d, want 401", resp.Status)
	}

	// Loads with the token and shows the engines.
	sctx, cancel = step(10 * time.Second)
	resp, err = chromedp.Run(sctx, chromedp.NavigateResponse(srv.URL()))
	cancel()
	if err != nil || resp.Status != 200 {
		t.Fatalf("navigate with token: %v %v", resp, err)
	}
	waitJS(t, ctx, 5*time.Second*scale, "engines 0 and 1 listed",
		`document.querySelector('#engines [data-engine="0"]') && document.querySelector('#engines [data-engine="1"]')`)

	// A task submitted from a client appears in the stream and the table
	// within a second.
	ar, err := cl.View(1).ExecuteAsync("time.sleep(0.05)\n1 + 1", false)
	if err != nil {
		t.Fatal(err)
	}
	id := ar.Tasks[0].MsgID
	took := waitJS(t, ctx, time.Second*scale, "task in the stream and the table",
		fmt.Sprintf(`pxshDash.streamIDs.has(%q) && document.querySelector('#tasks [data-id=%q]')`, id, id))
	t.Logf("task %s in the stream and the table after %v", id, took)

	// Abort from the page cancels a running task.
	ar, err = cl.View(0).ExecuteAsync("time.sleep(30)", false)
	if err != nil {
		t.Fatal(err)
	}
	id = ar.Tasks[0].MsgID
	waitJS(t, ctx, 5*time.Second*scale, "running task with an abort button",
		fmt.Sprintf(`document.querySelector('#tasks [data-abort=%q]') && document.querySelector('#tasks [data-id=%q]').dataset.status === "running"`, id, id))
	sctx, cancel = step(5 * time.Second)
	_, err = chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('#tasks [data-abort=%q]').click()`, id)))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*scale)
	defer cancel()
	if err := ar.Tasks[0].Wait(wctx); err != nil {
		t.Fatalf("aborted task did not end: %v", err)
	}
	if r, _ := ar.Tasks[0].Result(); r.Status != protocol.StatusAborted {
		t.Errorf("task status %q (%v), want aborted", r.Status, r.Error)
	}
	waitJS(t, ctx, 5*time.Second*scale, "table shows the task aborted",
		fmt.Sprintf(`(document.querySelector('#tasks [data-id=%q]') || {dataset: {}}).dataset.status === "aborted"`, id))
	// 1,000 engines: the list stays virtual (a few dozen rows in the DOM).
	sctx, cancel = step(10 * time.Second)
	rows, err := chromedp.Run(sctx, chromedp.Evaluate[[]int](`(() => {
		const engines = [];
		for (let i = 0; i < 1000; i++) engines.push({id: i, host: "h", pid: i, state: "idle", queue: 0, completed: 0});
		const v = Object.assign({}, pxshDash.view, {engines: engines});
		pxshDash.apply({view: v});
		const list = document.getElementById("engines");
		list.scrollTop = 22 * 500;
		list.dispatchEvent(new Event("scroll"));
		return [list.querySelectorAll("[data-engine]").length, list.firstChild.offsetHeight];
	})()`))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0] > 100 || rows[0] == 0 || rows[1] != 22*1000 {
		t.Errorf("1,000 engines: %d rows in the DOM, list height %d; want a few dozen rows and 22000", rows[0], rows[1])
	}

	if e := out.exceptions(); e != "" {
		t.Errorf("the page threw:\n%s", e)
	}
}
