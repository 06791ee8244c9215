package quic

import (
	"bytes"
	"errors"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// switched returns a pair whose two directions have both moved to the
// bulk channel: each side read a frame the other wrote after attaching.
func switched(t *testing.T) (client, served *Conn) {
	t.Helper()
	cfg := Config{Key: testKey(t)}
	_, client, served = pair(t, cfg, cfg)
	waitBulk(t, client, served)
	within(t, "switch", func() {
		for _, w := range []struct{ from, to *Conn }{{client, served}, {served, client}} {
			if err := w.from.WriteFrame([]byte("switch")); err != nil {
				t.Error(err)
				return
			}
			if _, err := w.to.ReadFrame(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if client.impl.rbulk == nil || served.impl.rbulk == nil {
		t.Fatal("a reader did not follow the switch marker to the bulk channel")
	}
	return client, served
}

// Once the bulk channel is attached, small frames travel on it too, in
// order, both ways.
func TestSwitchCarriesSmallFrames(t *testing.T) {
	client, served := switched(t)
	go echo(served)
	within(t, "echo", func() {
		for i := range 200 {
			msg := bytes.Repeat([]byte{byte(i)}, 1+i*37)
			if err := client.WriteFrame(msg[:len(msg)/2], msg[len(msg)/2:]); err != nil {
				t.Error(err)
				return
			}
			got, err := client.ReadFrame()
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("frame %d: got %d bytes, want %d", i, len(got), len(msg))
				return
			}
		}
	})
	client.impl.wmu.Lock()
	defer client.impl.wmu.Unlock()
	if !client.impl.switched {
		t.Error("client writer did not switch")
	}
}

// After the switch a close still carries its code and reason: the reader
// waits for the QUIC close instead of reporting the channel's end.
func TestSwitchedCloseKeepsReason(t *testing.T) {
	client, served := switched(t)
	served.Close(7, "going away")
	var err error
	within(t, "read after close", func() { _, err = client.ReadFrame() })
	appErr, ok := errors.AsType[*quicgo.ApplicationError](err)
	if !ok || appErr.ErrorCode != 7 || !appErr.Remote {
		t.Fatalf("read after the peer closed: %v, want its application error 7", err)
	}
}

// A bulk channel that breaks without a close (its peer vanished) fails
// the connection instead of leaving the reader waiting.
func TestSwitchedChannelLost(t *testing.T) {
	client, served := switched(t)
	served.impl.bulk.tc.NetConn().Close() // the TCP connection alone, no QUIC close
	within(t, "read after the channel broke", func() {
		if _, err := client.ReadFrame(); err == nil {
			t.Error("read after the bulk channel broke: no error")
		}
	})
	waitDone(t, client)
}

// BenchmarkRoundTripSwitch times a 64-byte frame's round trip on QUIC
// alone and, in the same run, on the bulk channel after the switch.
func BenchmarkRoundTripSwitch(b *testing.B) {
	for _, noBulk := range []bool{true, false} {
		name := "bulk"
		if noBulk {
			name = "quic"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{Key: testKey(b), NoBulk: noBulk}
			_, client, served := pair(b, cfg, cfg)
			for i := 0; !noBulk && (!client.BulkActive() || !served.BulkActive()); i++ {
				if i > 10000 {
					b.Fatal("no bulk channel")
				}
				time.Sleep(time.Millisecond) // polling a flag, bounded
			}
			go echo(served)
			msg := make([]byte, 64)
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
