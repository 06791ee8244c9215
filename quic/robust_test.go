package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// scale is the test time factor, $PXSH_TEST_SCALE (default 1).
func scale() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("PXSH_TEST_SCALE")); err == nil && n > 0 {
		return time.Duration(n)
	}
	return 1
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	const limit = 1 << 20
	served.SetSlowConsumer(limit)
	// The client never reads. Writing must never block, and must end
	// with the connection closed as a slow consumer.
	frame := make([]byte, 64<<10)
	var err error
	writes := 0
	within(t, "writing to a peer that does not read", func() {
		for writes = 0; writes < 10000 && err == nil; writes++ {
			err = served.WriteFrame(frame)
		}
	})
	if !errors.Is(err, ErrSlowConsumer) || !IsSlowConsumer(err) {
		t.Fatalf("after %d writes: err = %v, want ErrSlowConsumer", writes, err)
	}
	waitDone(t, client)
	var appErr *quicgo.ApplicationError
	if err := client.Err(); !errors.As(err, &appErr) || appErr.ErrorCode != codeSlowConsumer {
		t.Errorf("client closed with %v, want code %d", err, codeSlowConsumer)
	}
	if _, err := served.ReadFrame(); !IsSlowConsumer(err) {
		t.Errorf("server read after the close: %v, want a slow-consumer error", err)
	}
}

func TestQueueBoundRefusesAndKeepsTheConnection(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	served.SetQueueBound(1 << 20)
	frame := make([]byte, 64<<10)
	var err error
	within(t, "writing to a peer that does not read", func() {
		for i := 0; i < 10000 && err == nil; i++ {
			err = served.WriteFrame(frame)
		}
	})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	// Once the peer reads, the connection works again.
	within(t, "draining", func() {
		for {
			if err := served.WriteFrame([]byte("end")); err == nil {
				break
			}
			if _, err := client.ReadFrame(); err != nil {
				t.Error(err)
				return
			}
		}
		for {
			b, err := client.ReadFrame()
			if err != nil {
				t.Error(err)
				return
			}
			if string(b) == "end" {
				return
			}
		}
	})
}

func TestFrameLargerThanTheQueueBound(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	served.SetSlowConsumer(1 << 10)
	big := make([]byte, 1<<20)
	big[len(big)-1] = 7
	if err := served.WriteFrame(big); err != nil {
		t.Fatalf("a frame over the bound with nothing waiting: %v", err)
	}
	var got []byte
	within(t, "reading the large frame", func() {
		var err error
		if got, err = client.ReadFrame(); err != nil {
			t.Error(err)
		}
	})
	if len(got) != len(big) || got[len(got)-1] != 7 {
		t.Fatalf("got %d bytes", len(got))
	}
	if err := served.Flush(waitLimit); err != nil {
		t.Fatal(err)
	}
}

func TestPacketsReceivedGrowsWithoutFrames(t *testing.T) {
	cfg := Config{Key: testKey(t), IdleTimeout: 600 * time.Millisecond} // keep-alives every 200 ms
	_, _, served := pair(t, cfg, cfg)
	before := served.PacketsReceived()
	waitUntil(t, func() bool { return served.PacketsReceived() != before },
		func() string { return "no packet from an idle peer's transport" })
}

// TestHandshakeFloodFromOneHost floods the listener from 127.0.0.2 with
// connections that complete TLS and then say nothing, and checks that a
// keyed client from 127.0.0.1 still connects within a second.
func TestHandshakeFloodFromOneHost(t *testing.T) {
	key := testKey(t)
	// Stalled connections keep their slots for the whole test.
	srv := startServer(t, Config{Key: key, HandshakeTimeout: time.Minute})
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	tr := &quicgo.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close() })
	raddr, err := net.ResolveUDPAddr("udp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}

	const flood, parallel = 1200, 64
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stalled []*quicgo.Conn
		failed  atomic.Int64
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, qc := range stalled {
			qc.CloseWithError(0, "")
		}
	})
	sem := make(chan struct{}, parallel)
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}}
	for range flood {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			qc, err := tr.Dial(ctx, raddr, tlsConf, &quicgo.Config{HandshakeIdleTimeout: waitLimit})
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			stalled = append(stalled, qc)
			mu.Unlock()
		}()
	}
	wg.Wait()

	l := srv.l.impl
	l.mu.Lock()
	held := l.perHost["127.0.0.2"]
	l.mu.Unlock()
	if held != MaxPendingPerHost {
		t.Fatalf("the flood holds %d handshake slots, want the per-host bound %d (%d dials failed)", held, MaxPendingPerHost, failed.Load())
	}

	bound := time.Second * scale()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	c, err := Dial(ctx, srv.addr(), srv.id.Fingerprint, Config{Key: key})
	if err != nil {
		t.Fatalf("keyed client during a flood of %d stalled handshakes: %v (after %v)", flood, err, time.Since(start))
	}
	defer c.Close(codeOK, "")
	srv.accept(t)
	t.Logf("keyed client connected in %v with %d stalled handshakes held from one host", time.Since(start), held)
}
