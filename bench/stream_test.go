package bench

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkValue1GB moves a 1 GB bytes value with default settings on
// two engines: pushed to engine 0, pulled back, and returned as an apply
// result, each compared with the original. It reports MB/s of each, the
// controller's peak RSS (VmHWM), and the latency of applies on engine 1
// from the same client while the push moves (docs/ARCHITECTURE.md,
// "Message sizes").
func BenchmarkValue1GB(b *testing.B) {
	cl, pid := processCluster(b, 2)
	ctx := context.Background()
	const size = 1 << 30
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	mbs := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

	// Applies on engine 1 while the push to engine 0 moves (from its
	// submission to its result; the value is encoded before).
	body, err := client.Encode(map[string]any{"blob": data})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	steal0 := stealTime()
	pushStart := time.Now()
	var lat []time.Duration
	var slow []string // where each apply over 10 ms spent its time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			ar, err := cl.View(1).ApplyAsync("lambda: 1")
			if err == nil {
				_, err = ar.Get(ctx)
			}
			if err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
			if d := lat[len(lat)-1]; d > 10*time.Millisecond {
				slow = append(slow, fmt.Sprintf("at %v: %s", t0.Sub(pushStart).Round(time.Millisecond), applySplit(t0, ar.Tasks[0])))
			}
		}
	}()
	t0 := time.Now()
	ar, err := cl.View(0).Submit(protocol.Request{Kind: protocol.KindPush}, body)
	if err == nil {
		_, err = ar.Get(ctx)
	}
	push := time.Since(t0)
	close(stop)
	wg.Wait()
	b.ReportMetric(ms(stealTime()-steal0), "steal-during-push-ms")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("the push, from %v: %s", t0.Sub(pushStart).Round(time.Millisecond), applySplit(t0, ar.Tasks[0]))
	body = nil

	t0 = time.Now()
	got, err := cl.View(0).Pull(ctx, "blob")
	pull := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if v, _ := got[0].([]byte); !bytes.Equal(v, data) {
		b.Fatalf("pulled value differs (%d bytes)", len(v))
	}
	got = nil

	t0 = time.Now()
	ar, err = cl.View(0).ApplyAsync("lambda: blob")
	if err != nil {
		b.Fatal(err)
	}
	res, err := ar.Get(ctx)
	apply := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if v, _ := res[0].([]byte); !bytes.Equal(v, data) {
		b.Fatalf("apply result differs (%d bytes)", len(v))
	}
	res = nil

	// The stored result, streamed back from its file by get_result (the
	// task is no longer pending here: the client asks the controller).
	t0 = time.Now()
	tasks, err := cl.HubResults(ctx, []string{ar.Tasks[0].MsgID})
	if err == nil {
		res, err = (&client.AsyncResult{Tasks: tasks}).Get(ctx)
	}
	getResult := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	if v, _ := res[0].([]byte); !bytes.Equal(v, data) {
		b.Fatalf("get_result differs (%d bytes)", len(v))
	}

	b.Logf("applies on engine 1 over 10 ms during the push: %d %v", len(slow), slow)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(mbs(push), "push-MB/s")
	b.ReportMetric(mbs(pull), "pull-MB/s")
	b.ReportMetric(mbs(apply), "apply-result-MB/s")
	b.ReportMetric(mbs(getResult), "get-result-MB/s")
	b.ReportMetric(peakRSS(pid), "controller-peak-MB")
	if len(lat) > 0 {
		b.ReportMetric(ms(median(lat)), "apply-during-push-median-ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "apply-during-push-p99-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "apply-during-push-max-ms")
	}
	b.Logf("1 GB: push %v, pull %v, apply result %v, get_result %v; %d applies on engine 1 during the push", push, pull, apply, getResult, len(lat))
}

// applySplit says where an apply sent at t0 spent its time: reaching the
// engine, waiting in its queue, running, and coming back (one host, one
// clock).
func applySplit(t0 time.Time, t *client.Task) string {
	r, _ := t.Result()
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	end := t.Received()
	return fmt.Sprintf("%s (to engine %s, queued %s, ran %s, back %s)", ms(end.Sub(t0)),
		ms(at(r.Received).Sub(t0)), ms(at(r.Started).Sub(at(r.Received))),
		ms(at(r.Completed).Sub(at(r.Started))), ms(end.Sub(at(r.Completed))))
}
