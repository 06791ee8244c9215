package quic

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/waittest"
)

// framesAttached reports whether c has its frame channel.
func framesAttached(c *Conn) bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return c.impl.frames != nil
}

func waitFrames(t *testing.T, cs ...*Conn) {
	t.Helper()
	for _, c := range cs {
		waitUntil(t, func() bool { return framesAttached(c) },
			func() string { return fmt.Sprintf("no frame channel within %v", waitLimit) })
	}
}

// Frames written from the first moment keep their order while the frame
// channel attaches and the writers switch to it, on the Unix socket and
// on TLS over TCP; afterwards both ends read and write only there.
func TestFramesMoveToChannel(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			cfg := Config{Key: testKey(t), NoLocalBulk: !local}
			srv := startServer(t, cfg)
			client := srv.dial(t, cfg)
			served := srv.accept(t)
			go echo(served)
			const n = 300
			within(t, "ordered echo across the switch", func() {
				go func() {
					for i := range n {
						msg := bytes.Repeat([]byte{byte(i)}, 1+i*97%(64<<10))
						// Half the frames go before the switch.
						if i == n/2 && !waittest.Poll(waitLimit, func() bool { return framesAttached(client) }) {
							t.Errorf("no frame channel within %v", waitLimit)
						}
						if err := client.WriteFrame(msg); err != nil {
							t.Error(err)
							return
						}
					}
				}()
				for i := range n {
					got, err := client.ReadFrame()
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) != 1+i*97%(64<<10) || got[0] != byte(i) {
						t.Errorf("frame %d: %d bytes of %d", i, len(got), got[0])
						return
					}
				}
			})
			client.impl.wmu.Lock() // the writer goroutine set switched under it
			switched := client.impl.switched
			client.impl.wmu.Unlock()
			if !switched || !client.impl.rswitched {
				t.Errorf("client: switched %v, reader switched %v", switched, client.impl.rswitched)
			}
			if local != client.impl.frames.local {
				t.Errorf("frame channel local = %v, want %v", client.impl.frames.local, local)
			}
		})
	}
}

// echoOnce sends a frame through an echoing peer and reads it back.
func echoOnce(t *testing.T, client *Conn) {
	t.Helper()
	within(t, "echo", func() {
		if err := client.WriteFrame([]byte("x")); err != nil {
			t.Error(err)
			return
		}
		if _, err := client.ReadFrame(); err != nil {
			t.Error(err)
		}
	})
}

// FramesOnQUIC keeps frames on QUIC while large bodies still take the
// bulk channel.
func TestFramesOnQUIC(t *testing.T) {
	key := testKey(t)
	_, client, served := pair(t, Config{Key: key}, Config{Key: key, FramesOnQUIC: true})
	waitBulk(t, client, served)
	go echo(served)
	within(t, "echo", func() {
		for _, n := range []int{10, 3 << 20} {
			msg := bytes.Repeat([]byte{7}, n)
			if err := client.WriteFrame(msg); err != nil {
				t.Fatal(err)
			}
			if got, err := client.ReadFrame(); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(got), err)
			}
		}
	})
	if framesAttached(client) || framesAttached(served) || client.impl.switched {
		t.Error("a frame channel with FramesOnQUIC")
	}
}

// The reason a peer closes with still arrives when frames moved to the
// channel (it travels on QUIC, the channel's end may come first).
func TestCloseReasonAfterSwitch(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitFrames(t, client, served)
	go echo(served)
	echoOnce(t, client)
	served.Close(7, "the peer is done")
	within(t, "read after close", func() {
		_, err := client.ReadFrame()
		if err == nil || !strings.Contains(err.Error(), "the peer is done") {
			t.Errorf("read: %v, want the close reason", err)
		}
	})
}

// A frame channel that breaks while QUIC lives closes the connection: a
// frame may have been half written.
func TestFramesChannelLost(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitFrames(t, client, served)
	go echo(served)
	echoOnce(t, client)
	client.impl.frames.nc.Close()
	waitDone(t, served)
	waitDone(t, client)
}

// BenchmarkRoundTripChannels compares a small frame's round trip on QUIC
// and on the frame channel, in the same run.
func BenchmarkRoundTripChannels(b *testing.B) {
	for _, onQUIC := range []bool{true, false} {
		b.Run(fmt.Sprintf("quic=%v", onQUIC), func(b *testing.B) {
			key := testKey(b)
			_, client, served := pair(b, Config{Key: key}, Config{Key: key, FramesOnQUIC: onQUIC})
			go echo(served)
			msg := make([]byte, 64)
			deadline := time.Now().Add(waitLimit)
			for !onQUIC && !client.impl.rswitched {
				if time.Now().After(deadline) {
					b.Fatal("no switch")
				}
				if err := client.WriteFrame(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := client.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if err := client.WriteFrame(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := client.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A body that started on QUIC, chunk frames between the frames, goes on
// whole when the frame channel attaches in its middle and the writer
// switches: its later chunk frames follow on the channel, with the frames
// written after the switch.
func TestSwitchInTheMiddleOfABody(t *testing.T) {
	key := testKey(t)
	srv := startServer(t, Config{Key: key})
	client := srv.dial(t, Config{Key: key, NoBulk: true})
	served := srv.accept(t)
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i / 4093)
	}
	if err := served.WriteStream([]byte("head"), NewBody(big)); err != nil {
		t.Fatal(err)
	}
	var body *Body
	within(t, "head", func() {
		head, b, err := client.ReadStream()
		if err != nil || string(head) != "head" || b == nil {
			t.Fatalf("head %q, body %v, %v", head, b != nil, err)
		}
		body = b
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := dialBulkLocal(ctx, client.impl, chanFrames, srv.addr(), srv.id.Fingerprint, key); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, served)
	if err := served.WriteFrame([]byte("after")); err != nil {
		t.Fatal(err)
	}
	within(t, "the body, then the frame", func() {
		got := make(chan error, 1)
		go func() {
			b, err := body.Bytes()
			if err == nil && !bytes.Equal(b, big) {
				err = fmt.Errorf("%d bytes differ from the %d sent", len(b), len(big))
			}
			got <- err
		}()
		// The reader hands the chunk frames to the body on its way; the
		// frame may pass the body's later chunks.
		p, err := client.ReadFrame()
		if err != nil || string(p) != "after" {
			t.Errorf("frame written after the switch: %q, %v", p, err)
		}
		go client.ReadFrame() // reads the rest of the chunks, then waits for the end
		if err := <-got; err != nil {
			t.Errorf("body: %v", err)
		}
	})
	if !served.impl.switched || !client.impl.rswitched {
		t.Error("no switch")
	}
}
