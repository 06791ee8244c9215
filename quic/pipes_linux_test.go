package quic

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// A local frame channel carries its frames on two pipes, one each way,
// and frames still cross it both ways in order.
func TestFramesChannelOnPipes(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitFrames(t, client, served)
	for _, c := range []*Conn{client, served} {
		pc, ok := c.impl.frames.nc.(*pipeConn)
		if !ok || pc.r == nil || pc.w == nil {
			t.Fatalf("frame channel %T (%+v), want one on two pipes", c.impl.frames.nc, pc)
		}
	}
	for i := range 50 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*997)
		if err := client.WriteFrame(msg); err != nil {
			t.Fatal(err)
		}
		if got := readWithin(t, served); !bytes.Equal(got, msg) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(msg))
		}
		if err := served.WriteFrame(msg); err != nil {
			t.Fatal(err)
		}
		if got := readWithin(t, client); !bytes.Equal(got, msg) {
			t.Fatalf("reply %d: got %d bytes, want %d", i, len(got), len(msg))
		}
	}
}

// readWithin reads one frame of c within waitLimit.
func readWithin(t *testing.T, c *Conn) []byte {
	t.Helper()
	var p []byte
	within(t, "read a frame", func() {
		var err error
		if p, err = c.ReadFrame(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// A side that offers no pipe (it could not make one) keeps the socket
// for the frames sent to it; the other way still uses the pipe.
func TestFramePipeDeclined(t *testing.T) {
	a, b := socketPair(t)
	ua := a.(*net.UnixConn)
	listener := make(chan *pipeConn, 1)
	go func() {
		// The listener's side without a pipe: it offers none and takes
		// the dialer's.
		var w *os.File
		err := sendPipe(ua, nil)
		if err == nil {
			w, err = recvPipe(ua)
		}
		if err != nil {
			t.Error(err)
		}
		pc := &pipeConn{sock: ua, w: w}
		if err := pc.rawConns(); err != nil {
			t.Error(err)
		}
		listener <- pc
	}()
	nc, err := withPipes(b, false, time.Now().Add(waitLimit))
	if err != nil {
		t.Fatal(err)
	}
	dialer := nc.(*pipeConn)
	defer dialer.Close()
	var la *pipeConn
	within(t, "listener's exchange", func() { la = <-listener })
	defer la.Close()
	if dialer.w != nil || dialer.r == nil || la.w == nil {
		t.Fatalf("dialer writes to %v, reads %v; listener writes to %v: want socket, pipe, pipe", dialer.w, dialer.r, la.w)
	}
	send := func(from, to *pipeConn, msg string) {
		t.Helper()
		if _, err := from.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		within(t, "read "+msg, func() {
			if _, err := io.ReadFull(to, got); err != nil {
				t.Error(err)
			}
		})
		if string(got) != msg {
			t.Fatalf("got %q, want %q", got, msg)
		}
	}
	send(dialer, la, "on the socket")
	send(la, dialer, "on the pipe")
}

// A process that reads from maxFramePipes frame pipes already offers no
// more: a new local frame channel keeps its frames on the socket, and
// still carries them.
func TestFramePipesCapped(t *testing.T) {
	framePipes.Add(maxFramePipes)
	defer framePipes.Add(-maxFramePipes)
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitFrames(t, client, served)
	for _, c := range []*Conn{client, served} {
		if pc, ok := c.impl.frames.nc.(*pipeConn); !ok || pc.r != nil || pc.w != nil {
			t.Fatalf("frame channel %T (%+v), want the socket both ways", c.impl.frames.nc, pc)
		}
	}
	msg := []byte("on the socket")
	if err := client.WriteFrame(msg); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, served); !bytes.Equal(got, msg) {
		t.Fatalf("got %q, want %q", got, msg)
	}
}

// A frame pipe's raw reads and writes keep a file's behaviour, and a
// TCP channel's a TCP connection's (checkRawIO).
func TestFramePipeRawIO(t *testing.T) {
	a, b := socketPair(t)
	sides := make(chan net.Conn, 1)
	go func() {
		nc, err := withPipes(a, true, time.Now().Add(waitLimit))
		if err != nil {
			t.Error(err)
		}
		sides <- nc
	}()
	pb, err := withPipes(b, false, time.Now().Add(waitLimit))
	if err != nil {
		t.Fatal(err)
	}
	pa := receive(t, "listener's exchange", sides)
	if pc := pb.(*pipeConn); pc.r == nil || pc.w == nil {
		t.Fatalf("want two pipes, got %+v", pc)
	}
	checkRawIO(t, pa, pb)
}

func TestRawTCPIO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- nc
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, b := rawNet(nc), rawNet(receive(t, "accept", accepted))
	if _, ok := b.(*rawTCP); !ok {
		t.Fatalf("rawNet gave %T", b)
	}
	checkRawIO(t, a, b)
}

// receive takes a connection from ch within waitLimit; nil (the sender
// failed) ends the test.
func receive(t *testing.T, what string, ch <-chan net.Conn) net.Conn {
	t.Helper()
	var nc net.Conn
	within(t, what, func() { nc = <-ch })
	if nc == nil {
		t.FailNow()
	}
	return nc
}

// checkRawIO checks a channel from a to b: a write larger than the
// kernel's buffers waits for the reader and arrives whole, a read past
// its deadline fails with a timeout (os.ErrDeadlineExceeded), the peer's
// close reads as io.EOF and a read after Close fails with
// net.ErrClosed.
func checkRawIO(t *testing.T, a, b net.Conn) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	go func() {
		if n, err := a.Write(msg); err != nil || n != len(msg) {
			t.Errorf("write: %d, %v", n, err)
		}
	}()
	got := make([]byte, len(msg))
	within(t, "read 4 MiB", func() {
		if _, err := io.ReadFull(b, got); err != nil {
			t.Error(err)
		}
	})
	if !bytes.Equal(got, msg) {
		t.Fatal("the bytes read differ from those written")
	}

	b.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := b.Read(got)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	b.SetReadDeadline(time.Time{})

	a.Close()
	within(t, "read the peer's close", func() {
		if n, err := b.Read(got); n != 0 || err != io.EOF {
			t.Errorf("read after the peer closed: %d, %v, want 0, EOF", n, err)
		}
	})
	b.Close()
	if _, err := b.Read(got); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want %v", err, net.ErrClosed)
	}
}
