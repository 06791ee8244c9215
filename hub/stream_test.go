package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// streamFrame is the frame limit of the streaming tests: every value
// they move is larger, so it can only travel streamed.
const streamFrame = 8 << 20

// streamCluster starts n engines whose controller and engines have a
// small frame limit.
func streamCluster(t *testing.T, n int, o clustertest.Options) *clustertest.Cluster {
	o.MaxFrame = streamFrame
	if o.DeadAfter == 0 {
		// Engines building or decoding large values answer late on a
		// loaded machine.
		o.DeadAfter = 2500 * time.Millisecond * clustertest.Scale()
	}
	o.EngineArgs = append(o.EngineArgs, "--max-frame", "8MiB")
	return clustertest.Start(t, n, o)
}

func randomValue(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Values larger than the frame limit push (to one engine and fanned out
// to two), pull back, return as apply results and come back from the
// task database (get_result) unchanged.
func TestStreamedValues(t *testing.T) {
	c := streamCluster(t, 2, clustertest.Options{})
	cl := c.Client()
	ctx := ctxT(t, 120*time.Second)
	blob := randomValue(t, 12<<20)
	if err := cl.View(0).Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.View(0).Pull(ctx, "blob")
	if err != nil || !bytes.Equal(asBytes(got[0]), blob) {
		t.Fatalf("pull from engine 0: %d bytes, %v", len(asBytes(got[0])), err)
	}
	blob2 := randomValue(t, 10<<20)
	if err := cl.View().Push(ctx, map[string]any{"blob2": blob2}); err != nil {
		t.Fatal(err)
	}
	ar, want := applyReversed(t, ctx, cl, "blob2", blob2)
	cl2 := c.Client()
	tasks, err := cl2.HubResults(ctx, []string{ar.Tasks[1].MsgID})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := taskValue(ctx, tasks[0]); err != nil || !bytes.Equal(asBytes(v), want) {
		t.Errorf("get_result of a large result: %d bytes, %v", len(asBytes(v)), err)
	}
	if n := cl.Strays(); n != 0 {
		t.Errorf("%d stray results", n)
	}
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

// A value over the streamed-value limit fails at once with an error that
// names its size and the limit: a push at the client, a result at the
// engine (in the task's result).
func TestStreamedValueOverLimit(t *testing.T) {
	c := streamCluster(t, 1, clustertest.Options{EngineArgs: []string{"--max-value", "16MiB"}})
	cl, err := client.Dial(ctxT(t, 10*time.Second), c.ClientFile, client.Options{MaxValue: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 60*time.Second)
	err = cl.View(0).Push(ctx, map[string]any{"big": make([]byte, 17<<20)})
	var tl *protocol.TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), "over the limit of 16 MiB") {
		t.Fatalf("push over the limit: %v", err)
	}
	_, err = cl.View(0).Apply(ctx, "lambda: b'x' * (17 * 1024 * 1024)")
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Name != "ValueError" || !strings.Contains(re.Message, "the result is 17.0 MiB, over the limit of 16 MiB") {
		t.Fatalf("result over the limit: %v", err)
	}
}

// streamClient is a client speaking the protocol itself, to hold a streamed
// body back or cut it in the middle.
type streamClient struct {
	t    *testing.T
	conn *quic.Conn
	id   string
	seq  int
}

func dialRaw(t *testing.T, c *clustertest.Cluster) *streamClient {
	t.Helper()
	conn := dialFile(t, c.ClientFile)
	p, _ := protocol.Marshal(protocol.THello, &protocol.Hello{Version: protocol.Version}, nil)
	if err := conn.WriteFrame(p); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		p, err := conn.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if typ, hb, _, _ := protocol.Split(p); typ == protocol.TWelcome {
			var w protocol.Welcome
			if err := protocol.UnmarshalHeader(hb, &w); err != nil {
				t.Fatal(err)
			}
			clustertest.Eventually(t, 10*time.Second, "bulk channel", conn.BulkActive)
			return &streamClient{t: t, conn: conn, id: w.ClientID}
		}
	}
	t.Fatal("no welcome")
	return nil
}

// request sends a request to engine with body, streamed when stream is
// set, and returns its msg id.
func (r *streamClient) request(kind protocol.Kind, engine int, body []byte, stream *quic.Body) string {
	r.t.Helper()
	r.seq++
	id := fmt.Sprintf("raw-%d", r.seq)
	p, err := protocol.Marshal(protocol.TRequest, &protocol.Request{MsgID: id, Kind: kind, Engine: engine}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if stream != nil {
		err = r.conn.WriteStream(p, stream)
	} else {
		err = r.conn.WriteFrame(p, body)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// result reads messages until a result arrives and returns its header
// and streamed body (nil for a frame).
func (r *streamClient) result() (protocol.Result, *quic.Body) {
	r.t.Helper()
	for range 1000 {
		p, body, err := r.conn.ReadStream()
		if err != nil {
			r.t.Fatal(err)
		}
		typ, hb, _, err := protocol.Split(p)
		if err != nil || typ != protocol.TResult {
			if body != nil {
				body.Discard()
			}
			continue
		}
		var res protocol.Result
		if err := protocol.UnmarshalHeader(hb, &res); err != nil {
			r.t.Fatal(err)
		}
		return res, body
	}
	r.t.Fatal("no result")
	return protocol.Result{}, nil
}

// pushBody is the encoded push of {"held": b'...'} of n bytes, and its
// prefix up to the value's bytes.
func pushBody(t *testing.T, n int) []byte {
	body, err := client.Encode(map[string]any{"held": make([]byte, n)})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// While a push's body is held back in the middle, requests to another
// engine from the same client (and connection) are answered; the push
// completes once the rest of its body comes, and a request queued behind
// it on its engine runs after it.
func TestControlPassesAHeldPush(t *testing.T) {
	c := streamCluster(t, 2, clustertest.Options{})
	r := dialRaw(t, c)
	body := pushBody(t, 12<<20)
	src, w := quic.NewBodyPipe(int64(len(body)))
	pushID := r.request(protocol.KindPush, 0, nil, src)
	if !w.Write(body[:quic.ChunkSize]) {
		t.Fatal("body discarded")
	}
	code, _ := client.Encode("len(held)")
	after := r.request(protocol.KindExecute, 0, code, nil) // queued behind the push on engine 0
	for i := range 3 {
		ex, _ := client.Encode(fmt.Sprintf("%d + engine.id", i))
		id := r.request(protocol.KindExecute, 1, ex, nil)
		res, _ := r.result()
		if res.MsgID != id || res.Status != protocol.StatusOK {
			t.Fatalf("during the held push: got %s %s (%v), want %s ok", res.MsgID, res.Status, res.Error, id)
		}
	}
	go func() {
		for off := quic.ChunkSize; off < len(body); off += quic.ChunkSize {
			w.Write(body[off:min(off+quic.ChunkSize, len(body))])
		}
		w.Close()
	}()
	res, _ := r.result()
	if res.MsgID != pushID || res.Status != protocol.StatusOK {
		t.Fatalf("push: %s %s %v", res.MsgID, res.Status, res.Error)
	}
	res, b := r.result()
	if res.MsgID != after || res.Status != protocol.StatusOK || b != nil {
		t.Fatalf("execute after the push: %s %s %v", res.MsgID, res.Status, res.Error)
	}
}

// A client that disconnects in the middle of a push's body: the hub
// drops the partial body, the push fails (recorded in the task
// database) and the engine serves the next client.
func TestClientLostMidUpload(t *testing.T) {
	c := streamCluster(t, 1, clustertest.Options{})
	r := dialRaw(t, c)
	body := pushBody(t, 16<<20)
	src, w := quic.NewBodyPipe(int64(len(body)))
	id := r.request(protocol.KindPush, 0, nil, src)
	w.Write(body[:quic.ChunkSize])
	ex, _ := client.Encode("1")
	r.request(protocol.KindExecute, 0, ex, nil)
	cl := c.Client()
	ctx := ctxT(t, 60*time.Second)
	clustertest.Eventually(t, 30*time.Second, "the push in flight", func() bool {
		var st protocol.ResultStatus
		err := cl.Control(ctx, "result_status", []string{id}, &st)
		return err == nil && len(st.Pending) == 1
	})
	r.conn.Close(0, "gone")
	re := recordedFailure(t, ctx, cl, id)
	if re == nil || re.Name != "EngineError" || !strings.Contains(re.Message, "did not arrive") {
		t.Fatalf("push of a lost client: %v", re)
	}
	if got, err := cl.View(0).Apply(ctx, "lambda: engine.id"); err != nil || got[0] != int64(0) {
		t.Fatalf("engine after the lost upload: %v %v", got, err)
	}
}

// An engine that dies while its large result streams: the client's body
// fails, the task is recorded as failed, other engines are unaffected.
func TestEngineDiesMidResult(t *testing.T) {
	// On one host a result would come whole, as a memfd: the engines
	// send chunks here.
	t.Setenv("PXSH_MEMFD_MIN", "off")
	c := streamCluster(t, 2, clustertest.Options{})
	r := dialRaw(t, c)
	code, _ := client.Encode("b'x' * (64 * 1024 * 1024)")
	id := r.request(protocol.KindExecute, 0, code, nil)
	res, body := r.result()
	if res.MsgID != id || body == nil {
		t.Fatalf("got %s, streamed %v", res.MsgID, body != nil)
	}
	// Nobody takes the body yet: the hub holds a few chunks for this
	// client and the engine waits to send the rest when it dies.
	c.Kill(0)
	done := make(chan error, 1)
	go func() { _, err := body.Bytes(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, quic.ErrBodyAborted) {
			t.Fatalf("body: %v, want it aborted", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("body neither arrived nor failed")
	}
	cl := c.Client()
	ctx := ctxT(t, 60*time.Second)
	re := recordedFailure(t, ctx, cl, id)
	if re == nil || re.Name != "EngineError" {
		t.Fatalf("record of the task: %v", re)
	}
	if got, err := cl.View(1).Apply(ctx, "lambda: engine.id"); err != nil || got[0] != int64(1) {
		t.Fatalf("other engine: %v %v", got, err)
	}
}

// A streamed value fanned out to the engines of one engine process
// crosses to that process once (one engine carries it, its siblings take
// it from the process's memory) and every engine gets it whole.
func TestStreamedFanOutSharedProcess(t *testing.T) {
	c := streamCluster(t, 3, clustertest.Options{PerProcess: 3})
	cl := c.Client()
	ctx := ctxT(t, 120*time.Second)
	blob := randomValue(t, 12<<20)
	if err := cl.View().Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.View().Apply(ctx, "lambda: hash(blob)")
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Fatalf("engines disagree on the pushed value: %v", got)
	}
	pulled, err := cl.View(2).Pull(ctx, "blob")
	if err != nil || !bytes.Equal(asBytes(pulled[0]), blob) {
		t.Fatalf("pull from a sibling engine: %d bytes, %v", len(asBytes(pulled[0])), err)
	}
}

// The engines of a dense process share one connection (pxsh engine
// --count 2): streamed values travel over it in both directions, each
// under its engine's slot and in its engine's order — a push to one
// engine and its pull, large apply results of both engines at once, and
// a value fanned out to both.
func TestStreamedValuesDenseProcess(t *testing.T) {
	c := streamCluster(t, 2, clustertest.Options{PerProcess: 2})
	cl := c.Client()
	ctx := ctxT(t, 120*time.Second)
	blob := randomValue(t, 12<<20)
	if err := cl.View(1).Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.View(1).Pull(ctx, "blob")
	if err != nil || !bytes.Equal(asBytes(got[0]), blob) {
		t.Fatalf("pull from engine 1: %d bytes, %v", len(asBytes(got[0])), err)
	}
	if _, err := cl.View(0).Apply(ctx, "lambda: len(blob)"); err == nil {
		t.Error("engine 0 has the value pushed to engine 1")
	}
	small := randomValue(t, 2<<20)
	if err := cl.View().Push(ctx, map[string]any{"small": small}); err != nil {
		t.Fatal(err)
	}
	// Both engines stream a result of their own (4 and 6 MiB) at once.
	ar := mustAR(t)(cl.View().ApplyAsync("lambda: small * (2 + engine.id)"))
	vals, err := ar.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if want := bytes.Repeat(small, 2+i); !bytes.Equal(asBytes(v), want) {
			t.Errorf("apply result of engine %d: %d bytes, want %d", i, len(asBytes(v)), len(want))
		}
	}
	pulled, err := cl.View(0).Pull(ctx, "small")
	if err != nil || !bytes.Equal(asBytes(pulled[0]), small) {
		t.Fatalf("pull of the fanned-out value from engine 0: %d bytes, %v", len(asBytes(pulled[0])), err)
	}
	if n := cl.Strays(); n != 0 {
		t.Errorf("%d stray results", n)
	}
}

// recordedFailure waits until the task database has task id's outcome
// and returns its error (nil when it did not fail).
func recordedFailure(t *testing.T, ctx context.Context, cl *client.Client, id string) *client.RemoteError {
	t.Helper()
	var re *client.RemoteError
	clustertest.Eventually(t, 30*time.Second, "task "+id+" recorded", func() bool {
		tasks, err := cl.HubResults(ctx, []string{id})
		if err != nil {
			return false
		}
		_, err = taskValue(ctx, tasks[0])
		re = nil
		return err == nil || errors.As(err, &re) && re.Name != "KeyError"
	})
	return re
}

// applyReversed applies `lambda: name[::-1]` on every engine of cl, where
// name holds value, checks each result is value reversed, and returns
// the AsyncResult and the reversed value.
func applyReversed(t *testing.T, ctx context.Context, cl *client.Client, name string, value []byte) (*client.AsyncResult, []byte) {
	t.Helper()
	ar := mustAR(t)(cl.View().ApplyAsync(client.Func("lambda: " + name + "[::-1]")))
	vals, err := ar.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(value)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	for i, v := range vals {
		if !bytes.Equal(asBytes(v), want) {
			t.Errorf("%d bytes: apply result of engine %d: %d bytes, not %s reversed", len(value), i, len(asBytes(v)), name)
		}
	}
	return ar, want
}
