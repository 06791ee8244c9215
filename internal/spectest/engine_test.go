package spectest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// TestSpecRealEngine sends chunks to a real engine process with execute
// (each in a cleared namespace), assert.fails through the engine's catch.
func TestSpecRealEngine(t *testing.T) {
	t.Parallel()
	dir := specDir(t)
	chunks := readChunks(t, dir)
	passing := plainPassing(t, dir, chunks)
	cl := clustertest.Start(t, 1, clustertest.Options{})
	c := cl.Client()
	view := c.View(0)
	ran := 0
	for _, ch := range passing {
		src, why := binarySource(ch)
		switch {
		case lateBinding[ch.id()] != "":
			continue
		case why != "" || hostValues.MatchString(src) || ch.id() == "module.star:1":
			continue // as in TestSpecBinary
		}
		ran++
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
		if err := view.Clear(ctx); err != nil {
			t.Fatalf("clear: %v", err)
		}
		ar, err := view.ExecuteAsync(src, false)
		if err != nil {
			t.Fatalf("%s: execute: %v", ch.id(), err)
		}
		task := ar.Tasks[0]
		if err := task.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", ch.id(), err)
		}
		cancel()
		res, _ := task.Result()
		o := outcome{asserts: markers(res.Stdout)}
		if res.Error != nil {
			o.errMsg = res.Error.Message
			if m := tracebackMsg(res.Error.Traceback); m != "" {
				o.errMsg = m
			}
			o.errLine = tracebackLine(res.Error.Traceback, fmt.Sprintf("<px-in%d>", res.ExecCount))
		}
		if p := ch.check(o); p != "" {
			t.Errorf("%s: %s", ch.id(), p)
		}
	}
	t.Logf("%d chunks ran on a real engine", ran)
	if ran < 70 {
		t.Errorf("only %d chunks ran on the real engine", ran)
	}
}
