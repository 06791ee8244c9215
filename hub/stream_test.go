package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
)

// streamFrame is the frame limit of the streaming tests: every value
// they move is larger, so it can only travel streamed.
const streamFrame = 8 << 20

// streamCluster starts n engines whose controller and engines have a
// small frame limit.
func streamCluster(t *testing.T, n int, o clustertest.Options) *clustertest.Cluster {
	o.MaxFrame = streamFrame
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
	blob := randomValue(t, 24<<20)
	if err := cl.View(0).Push(ctx, map[string]any{"blob": blob}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.View(0).Pull(ctx, "blob")
	if err != nil || !bytes.Equal(asBytes(got[0]), blob) {
		t.Fatalf("pull from engine 0: %d bytes, %v", len(asBytes(got[0])), err)
	}
	blob2 := randomValue(t, 20<<20)
	if err := cl.View().Push(ctx, map[string]any{"blob2": blob2}); err != nil {
		t.Fatal(err)
	}
	ar := mustAR(t)(cl.View().ApplyAsync("lambda: blob2[::-1]"))
	vals, err := ar.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(blob2)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	for i, v := range vals {
		if !bytes.Equal(asBytes(v), want) {
			t.Errorf("apply result of engine %d: %d bytes, not the reversed value", i, len(asBytes(v)))
		}
	}
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

var _ = context.Background
