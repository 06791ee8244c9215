package quic

import (
	"bytes"
	"fmt"
	"testing"
)

// writerIdle reports whether c's writer has nothing to do.
func writerIdle(c *Conn) bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return len(c.impl.queue) == 0 && !c.impl.flushing
}

// heldBack reports whether c has frames queued that nothing is sending.
func heldBack(c *Conn) bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return len(c.impl.queue) > 0 && !c.impl.flushing
}

func readN(t *testing.T, c *Conn, want [][]byte) {
	t.Helper()
	within(t, fmt.Sprintf("read %d frames", len(want)), func() {
		for i, w := range want {
			b, err := c.ReadFrame()
			if err != nil {
				t.Errorf("frame %d: %v", i, err)
				return
			}
			if !bytes.Equal(b, w) {
				t.Errorf("frame %d: %d bytes %.8q, want %d bytes %.8q", i, len(b), b, len(w), w)
				return
			}
		}
	})
}

// Frames written while a connection is held wait until the last Release
// and then arrive whole and in order; a large frame or a streamed value
// sends what was held before it; once everything sent was read,
// FrameReady is false.
func TestHoldRelease(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			cfg := Config{Key: testKey(t), NoLocalBulk: !local}
			_, client, served := pair(t, cfg, cfg)
			waitFrames(t, client, served)
			// The first frame moves the writer to the frame channel.
			if err := client.WriteFrame([]byte("first")); err != nil {
				t.Fatal(err)
			}
			readN(t, served, [][]byte{[]byte("first")})
			// The writer, busy, would send held frames along (as it
			// should); wait until it is idle.
			waitUntil(t, func() bool { return writerIdle(client) },
				func() string { return fmt.Sprintf("writer busy after %v", waitLimit) })

			var want [][]byte
			client.Hold()
			client.Hold()
			for i := range 100 {
				f := []byte(fmt.Sprintf("frame %d", i))
				want = append(want, f)
				if err := client.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			client.Release()
			if !heldBack(client) {
				t.Fatal("frames were sent before the last Release")
			}
			client.Release()
			readN(t, served, want)
			if served.FrameReady() {
				t.Fatal("FrameReady with nothing more sent")
			}

			// A large frame does not wait: it takes the held ones along.
			client.Hold()
			small := []byte("small")
			large := bytes.Repeat([]byte{'x'}, 20<<10)
			for _, f := range [][]byte{small, large} {
				if err := client.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			readN(t, served, [][]byte{small, large})
			// Nor does a streamed value.
			if err := client.WriteFrame(small); err != nil {
				t.Fatal(err)
			}
			value := bytes.Repeat([]byte{'v'}, StreamMin)
			if err := client.WriteStream([]byte("head"), NewBodyParts([][]byte{value})); err != nil {
				t.Fatal(err)
			}
			readN(t, served, [][]byte{small, append([]byte("head"), value...)})
			client.Release()

			// Released frames come in one write: on the local channel
			// the first read takes them all.
			client.Hold()
			three := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
			for _, f := range three {
				if err := client.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			client.Release()
			readN(t, served, three[:1])
			if local && !served.FrameReady() {
				t.Error("FrameReady false after the first of three frames written at once")
			}
			readN(t, served, three[1:])
		})
	}
}
