package hub_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d*clustertest.Scale())
	t.Cleanup(cancel)
	return ctx
}

func TestRegistrationIDsNeverReused(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	cl := c.Client()
	if got := cl.Ids(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("ids = %v, want [0 1 2]", got)
	}
	c.StartEngine(-1)
	c.WaitEngines(cl, 4)
	if got := cl.Ids(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("ids = %v, want [0 1 2 3]", got)
	}
	c.Kill(1)
	clustertest.Eventually(t, 5*time.Second, "engine 1 to leave", func() bool { return !slices.Contains(cl.Ids(), 1) })
	c.StartEngine(-1)
	clustertest.Eventually(t, 5*time.Second, "a new engine", func() bool { return len(cl.Ids()) == 4 })
	if got := cl.Ids(); !slices.Equal(got, []int{0, 2, 3, 4}) {
		t.Fatalf("ids = %v, want [0 2 3 4] (id 1 must not be reused)", got)
	}
	// A restarted engine may ask for its old id back.
	c.StartEngine(1)
	clustertest.Eventually(t, 5*time.Second, "engine 1 back", func() bool { return slices.Contains(cl.Ids(), 1) })
}

func TestKilledEngineFailsItsTask(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	ar, err := cl.View(1).ExecuteAsync("time.sleep(30)", true)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the engine runs it: a later task on engine 0 finishing
	// says nothing about engine 1, so poll queue_status instead.
	clustertest.Eventually(t, 5*time.Second, "task to reach engine 1", func() bool {
		var qs map[string]any
		cl.Control(ctxT(t, time.Second), "queue_status", nil, &qs)
		e1, _ := qs["1"].(map[any]any)
		return e1["queue"] == uint64(1)
	})
	killed := time.Now()
	c.Kill(1)
	_, err = ar.Get(ctxT(t, 10*time.Second))
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "EngineError" {
		t.Fatalf("err = %v, want EngineError", err)
	}
	want := "Engine 1 died while running task '" + ar.Tasks[0].MsgID + "'"
	if re.Message != want {
		t.Errorf("message = %q, want %q", re.Message, want)
	}
	// DeadAfter is 600 ms in tests; allow generous slack for slow machines.
	if d := time.Since(killed); d > 3*time.Second*clustertest.Scale() {
		t.Errorf("death noticed after %v", d)
	}
	// The hub fails the task before it tells clients the engine left.
	clustertest.Eventually(t, 5*time.Second, "engine 1 to leave the ids", func() bool { return !slices.Contains(cl.Ids(), 1) })
}

func TestPrintCaptureAndValues(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	ar, err := cl.View().ExecuteAsync("print('hello', engine.id)\nx = [engine.id]", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.Get(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, m := range ar.Metadata() {
		if want := "hello " + string(rune('0'+i)) + "\n"; m.Stdout != want {
			t.Errorf("engine %d stdout = %q, want %q", i, m.Stdout, want)
		}
		if m.Started.Before(m.Submitted) || m.Completed.Before(m.Started) {
			t.Errorf("engine %d times out of order: %+v", i, m)
		}
	}
	got, err := cl.View(0, 1).Pull(ctxT(t, 10*time.Second), "x[0] * 10")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []any{int64(0), int64(10)}) {
		t.Errorf("pull = %#v", got)
	}
}

func TestStepBudget(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{EngineArgs: []string{"--max-steps", "10000"}})
	cl := c.Client()
	err := cl.View(0).Execute(ctxT(t, 10*time.Second), "n = 0\nwhile True:\n    n += 1")
	if err == nil || !strings.Contains(err.Error(), "step budget of 10000 steps exceeded") {
		t.Fatalf("err = %v, want step budget exceeded", err)
	}
	got, err := cl.View(0).Apply(ctxT(t, 10*time.Second), "lambda: 42")
	if err != nil || got[0] != int64(42) {
		t.Fatalf("next task: %v, %v", got, err)
	}
}

func TestCancelRunningLoop(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	cl := c.Client()
	ar, err := cl.View(0).ExecuteAsync("n = 0\nwhile True:\n    n += 1", true)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := cl.View(0).ExecuteAsync("m = 1", true)
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 5*time.Second, "loop to run", func() bool {
		_, ok := ar.Tasks[0].Started()
		return ok
	})
	if err := cl.Cancel([]string{queued.Tasks[0].MsgID, ar.Tasks[0].MsgID}); err != nil {
		t.Fatal(err)
	}
	for i, a := range []*client.AsyncResult{ar, queued} {
		_, err := a.Get(ctxT(t, 5*time.Second))
		var re *client.RemoteError
		if !errors.As(err, &re) || re.Name != "TaskAborted" {
			t.Fatalf("err = %v, want TaskAborted", err)
		}
		if r, _ := a.Tasks[0].Result(); r.Status != protocol.StatusAborted {
			t.Errorf("task %d status %q, want aborted", i, r.Status)
		}
	}
	got, err := cl.View(0).Apply(ctxT(t, 10*time.Second), "lambda: n > 0")
	if err != nil || got[0] != true {
		t.Fatalf("engine not serving after cancel: %v, %v", got, err)
	}
}

func TestWrongKeyAndFingerprintRefused(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	conn, err := profile.Read(c.ClientFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := *conn
	bad.Key = strings.Repeat("ab", 32)
	_, err = client.DialConnection(ctxT(t, 10*time.Second), &bad, client.Options{})
	if !errors.Is(err, quic.ErrAuth) || !strings.Contains(err.Error(), "wrong cluster key") {
		t.Errorf("wrong key: err = %v", err)
	}
	bad = *conn
	bad.Fingerprint = "sha256:" + strings.Repeat("00", 32)
	_, err = client.DialConnection(ctxT(t, 10*time.Second), &bad, client.Options{})
	if !errors.Is(err, quic.ErrFingerprint) || !strings.Contains(err.Error(), "fingerprint mismatch") {
		t.Errorf("wrong fingerprint: err = %v", err)
	}
	// The controller still serves a good client.
	if _, err := client.DialConnection(ctxT(t, 10*time.Second), conn, client.Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestHostileFramesCloseOnlyThatConnection(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{MaxFrame: 1 << 20})
	good := c.Client()
	conn, _ := profile.Read(c.ClientFile)
	key, _ := conn.KeyBytes()
	hello, _ := protocol.Marshal(protocol.THello, &protocol.Hello{Version: protocol.Version}, nil)
	cases := map[string][][]byte{
		"garbage first frame": {[]byte("\xff\xfe garbage")},
		"unknown type":        {hello, {0x7f, 0x01, 0xa0}},
		"bad header cbor":     {hello, {byte(protocol.TRequest), 0x03, 0xff, 0xff, 0xff}},
		"truncated header":    {hello, {byte(protocol.TRequest), 0x40, 0xa1}},
		"oversized frame":     {hello, make([]byte, 2<<20)},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			qc, err := quic.Dial(ctxT(t, 10*time.Second), conn.Addresses[0], conn.Fingerprint, quic.Config{Key: key, MaxFrame: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer qc.Close(0, "")
			for _, f := range frames {
				if err := qc.WriteFrame(f); err != nil {
					break
				}
			}
			select {
			case <-qc.Done():
			case <-time.After(5 * time.Second * clustertest.Scale()):
				t.Fatal("controller kept the hostile connection open")
			}
			got, err := good.View(0).Apply(ctxT(t, 10*time.Second), "lambda: 7")
			if err != nil || got[0] != int64(7) {
				t.Fatalf("good client after %s: %v, %v", name, got, err)
			}
		})
	}
}

func TestBusyIDWaitsForTheOldEngine(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	cl := c.Client()
	first, err := cl.View(0).Apply(ctxT(t, 10*time.Second), "lambda: engine.pid")
	if err != nil {
		t.Fatal(err)
	}
	second := c.StartEngine(0) // id 0 is taken: it keeps trying
	if err := syscall.Kill(int(first[0].(int64)), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the second engine to take id 0", func() bool {
		got, err := cl.View(0).Apply(ctxT(t, 2*time.Second), "lambda: engine.pid")
		return err == nil && got[0] == int64(second.Process.Pid) && got[0] != first[0]
	})
}
