//go:build linux

package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// On one host, values across quic.FDMin push to two engines, pull back,
// return as results and come back from the task database (get_result)
// unchanged; those of FDMin bytes or more travel as sealed memfds on
// every hop. This process is the client and the controller: per size, 7
// memfds sent (the push by the client, forwarded to 2 engines; 2 pulled
// values and 2 results forwarded to the client) and 9 received (the push
// by the controller; the 2 values and 2 results by the controller, then
// by the client).
func TestMemfdValues(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs())
		}
	})
	ctx := ctxT(t, 120*time.Second)
	for _, n := range []int{200 << 10, 300 << 10, 3 << 20} {
		sent0, recv0 := quic.MemfdCounts()
		blob := randomValue(t, n)
		if err := cl.View().Push(ctx, map[string]any{"blob": blob}); err != nil {
			t.Fatal(err)
		}
		got, err := cl.View().Pull(ctx, "blob")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if !bytes.Equal(asBytes(v), blob) {
				t.Errorf("%d bytes: pull from engine %d: %d bytes", n, i, len(asBytes(v)))
			}
		}
		ar, want := applyReversed(t, ctx, cl, "blob", blob)
		sent, recv := quic.MemfdCounts()
		memfd := int64(n) >= quic.FDMin
		if wantSent, wantRecv := map[bool]uint64{true: 7}[memfd], map[bool]uint64{true: 9}[memfd]; sent-sent0 != wantSent || recv-recv0 != wantRecv {
			t.Errorf("%d bytes: %d memfds sent, %d received; want %d and %d", n, sent-sent0, recv-recv0, wantSent, wantRecv)
		}
		tasks, err := c.Client().HubResults(ctx, []string{ar.Tasks[0].MsgID, ar.Tasks[1].MsgID})
		if err != nil {
			t.Fatal(err)
		}
		for i, tk := range tasks {
			if v, err := taskValue(ctx, tk); err != nil || !bytes.Equal(asBytes(v), want) {
				t.Errorf("%d bytes: get_result %d: %d bytes, %v", n, i, len(asBytes(v)), err)
			}
		}
	}
}

// BenchmarkMemfdThreshold times push+pull of values around quic.FDMin
// to two engine processes through the controller, as memfds and in
// chunks (PXSH_MEMFD_MIN=off for the engines), to choose quic.FDMin:
// go test -run '^$' -bench MemfdThreshold -benchtime 30x ./hub.
func BenchmarkMemfdThreshold(b *testing.B) {
	for _, mode := range []string{"memfd", "chunks"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "chunks" {
				defer func(m int64) { quic.FDMin = m }(quic.FDMin)
				quic.FDMin = math.MaxInt64
				b.Setenv("PXSH_MEMFD_MIN", "off")
			}
			c := clustertest.Start(b, 2, clustertest.Options{})
			cl := c.Client()
			for _, n := range []int{256 << 10, 512 << 10, 1 << 20, 4 << 20} {
				b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
					blob := make([]byte, n)
					ctx := context.Background()
					b.SetBytes(int64(n))
					for b.Loop() {
						if err := cl.View().Push(ctx, map[string]any{"blob": blob}); err != nil {
							b.Fatal(err)
						}
						if _, err := cl.View().Pull(ctx, "blob"); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// Many values in flight at once, each of its own bytes, keep their bytes
// although the memfds carrying them are written again for later ones:
// 3 rounds of 16 pushes to 2 engines, each followed at once by its pull,
// none waited for until the round is submitted, then every value checked.
func TestMemfdsWrittenAgainKeepEachValue(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	cl := c.Client()
	ctx := ctxT(t, 120*time.Second)
	kept0, _ := quic.MemfdReuseCounts()
	for round := range 3 {
		var pushes, pulls []*client.AsyncResult
		var want [][]byte
		for i := range 16 {
			v := randomValue(t, int(quic.FDMin)+i*(97<<10))
			want = append(want, v)
			name := fmt.Sprintf("v%d_%d", round, i)
			body, err := client.Encode(map[string]any{name: v})
			if err != nil {
				t.Fatal(err)
			}
			ar, err := cl.View(i%2).Submit(protocol.Request{Kind: protocol.KindPush}, body)
			if err != nil {
				t.Fatal(err)
			}
			pushes = append(pushes, ar)
			body, _ = client.Encode(name)
			if ar, err = cl.View(i%2).Submit(protocol.Request{Kind: protocol.KindPull}, body); err != nil {
				t.Fatal(err)
			}
			pulls = append(pulls, ar)
		}
		for i := range pushes {
			if _, err := pushes[i].Get(ctx); err != nil {
				t.Fatalf("round %d push %d: %v", round, i, err)
			}
			got, err := pulls[i].Get(ctx)
			if err != nil {
				t.Fatalf("round %d pull %d: %v", round, i, err)
			}
			if !bytes.Equal(asBytes(got[0]), want[i]) {
				t.Errorf("round %d value %d: %d bytes came back, not the %d pushed", round, i, len(asBytes(got[0])), len(want[i]))
			}
		}
	}
	if kept, _ := quic.MemfdReuseCounts(); kept == kept0 {
		t.Error("no memfd was kept for a later value: the test did not exercise reuse")
	}
}
