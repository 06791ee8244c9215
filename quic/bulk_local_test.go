//go:build linux

package quic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// bulkLocal reports whether c's bulk channel is the local one.
func bulkLocal(c *Conn) bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return c.impl.bulk != nil && c.impl.bulk.local
}

// On one host the bulk channel is the Unix socket, and frames of every
// size round-trip in order over it.
func TestBulkLocal(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitBulk(t, client, served)
	if !bulkLocal(client) || !bulkLocal(served) {
		t.Fatal("bulk channel is not the local one")
	}
	sizes := []int{BulkMin, 7, 5 << 20, BulkMin - 1, 1 << 20, 0}
	go echo(served)
	within(t, "echo over the local channel", func() {
		for i, n := range sizes {
			m := make([]byte, n)
			rand.Read(m)
			if err := client.WriteFrame(m[:n/3], m[n/3:]); err != nil {
				t.Error(err)
				return
			}
			got, err := client.ReadFrame()
			if err != nil || !bytes.Equal(got, m) {
				t.Errorf("frame %d (%d bytes): got %d bytes, %v", i, n, len(got), err)
				return
			}
		}
	})
}

// When the listener has no local socket, a local dialer falls back to
// TLS over TCP.
func TestBulkLocalFallsBackToTCP(t *testing.T) {
	key := testKey(t)
	srv := startServer(t, Config{Key: key, NoLocalBulk: true})
	client := srv.dial(t, Config{Key: key})
	served := srv.accept(t)
	waitBulk(t, client, served)
	if bulkLocal(client) || bulkLocal(served) {
		t.Fatal("local bulk channel without a local socket")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := dialBulkLocal(ctx, client.impl, chanBulk, srv.addr(), srv.id.Fingerprint, key)
	if !localAbsent(err) {
		t.Fatalf("dial a missing local socket: %v, want it reported absent", err)
	}
}

// The local channel's proof must use the cluster key and name the QUIC
// connection it is bound to: a wrong key, or a right proof of another
// connection, is refused, nothing attaches, and the right proof then
// works.
func TestBulkLocalRefusesBadProofs(t *testing.T) {
	key := testKey(t)
	srv := startServer(t, Config{Key: key})
	noBulk := Config{Key: key, NoBulk: true}
	a := srv.dial(t, noBulk)
	servedA := srv.accept(t)
	b := srv.dial(t, noBulk)
	servedB := srv.accept(t)
	expA, _ := exporterOf(a.impl.qc)
	expB, _ := exporterOf(b.impl.qc)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := dialBulkLocal(ctx, b.impl, chanBulk, srv.addr(), srv.id.Fingerprint, testKey(t)); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong key: %v, want ErrAuth", err)
	}
	// B's name with A's proof: the key is right, the session is not.
	if status := rawLocalHandshake(t, srv, bulkIDOf(expB), func(nonce []byte) []byte { return localMAC(key, nonce, expA, chanBulk) }); status != statusRefuse {
		t.Fatalf("proof of another connection: status %d, want refused", status)
	}
	for _, c := range []*Conn{a, servedA, b, servedB} {
		if c.BulkActive() {
			t.Fatal("a bulk channel attached after a bad proof")
		}
	}
	if err := dialBulkLocal(ctx, b.impl, chanBulk, srv.addr(), srv.id.Fingerprint, key); err != nil {
		t.Fatalf("right proof: %v", err)
	}
	waitBulk(t, b, servedB)
	if !bulkLocal(servedB) || servedA.BulkActive() {
		t.Fatal("the channel attached to the wrong connection")
	}
}

// rawLocalHandshake speaks the local channel's handshake with the hello
// id and the proof made from the nonce, and returns the status byte.
func rawLocalHandshake(t *testing.T, srv *server, id []byte, proof func(nonce []byte) []byte) byte {
	t.Helper()
	_, port, _ := net.SplitHostPort(srv.addr())
	nc, err := net.Dial("unix", localAddr(srv.id.Fingerprint, port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(append(append([]byte(localHello), id...), chanBulk)); err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(nc, nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(proof(nonce)); err != nil {
		t.Fatal(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(nc, status[:]); err != nil {
		t.Fatal(err)
	}
	return status[0]
}

// A peer running as another user is refused before anything is read.
func TestCheckPeerUID(t *testing.T) {
	if err := checkPeerUID(1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := checkPeerUID(1001, 1000); err == nil {
		t.Fatal("another user accepted")
	}
}

// The dialer proves the key on the local socket as soon as its QUIC
// connection authenticated, which may be before the listener registered
// that connection: the listener waits for it, so every dial gets the local
// channel, not the TCP fallback.
func TestBulkLocalRightAfterAuth(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	srv := startServer(t, cfg)
	for i := range 20 {
		client := srv.dial(t, cfg)
		served := srv.accept(t)
		waitBulk(t, client, served)
		if !bulkLocal(client) || !bulkLocal(served) {
			t.Fatalf("dial %d: the bulk channel is TCP", i)
		}
		client.Close(0, "next")
	}
}

// socketPair returns the two ends of a connected Unix stream socket.
func socketPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// A frame the listener's side sends the instant its frame channel is
// attached reaches the dialer after the status byte, never ahead of it
// (which shifted the dialer's reading by one byte: a client hung in
// hello). The frame is written and flushed from inside attach, so the
// test does not depend on timing.
func TestFramesChannelStatusFirst(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, _, served := pair(t, cfg, Config{Key: cfg.Key, NoBulk: true})
	listenerEnd, dialerEnd := socketPair(t)
	frame := []byte("the first frame on the channel")
	werr := make(chan error, 1)
	served.impl.attached = func(kind byte) {
		err := served.WriteFrame(frame)
		if err == nil {
			err = served.impl.flushWait(waitLimit)
		}
		werr <- err
	}
	// The dialer's side: the status byte, then its part of the pipe
	// exchange, then the frame from the pipe.
	var status [1]byte
	got := make([]byte, 4+len(frame))
	dialed := make(chan error, 1)
	go func() {
		if _, err := io.ReadFull(dialerEnd, status[:]); err != nil {
			dialed <- err
			return
		}
		nc, err := withPipes(dialerEnd, false, time.Now().Add(waitLimit))
		if err == nil {
			_, err = io.ReadFull(nc, got)
			nc.Close()
		}
		dialed <- err
	}()
	within(t, "accept the channel", func() {
		if err := acceptChannel(served.impl, chanFrames, listenerEnd, time.Now().Add(waitLimit)); err != nil {
			t.Error(err)
		}
	})
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	within(t, "read status and frame", func() {
		if err := <-dialed; err != nil {
			t.Error(err)
		}
	})
	got = append(status[:], got...)
	want := append([]byte{statusOK, 0, 0, 0, byte(len(frame))}, frame...)
	if !bytes.Equal(got, want) {
		t.Fatalf("dialer read %q, want %q", got, want)
	}
}

// Small frames written while the peer does not read fill the local frame
// channel's socket: a write the socket takes only in part leaves its rest
// to the writer, and the peer still reads every frame whole and in order.
func TestFramesPartialInlineWrite(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitFrames(t, client, served)
	const n = 1500 // about 6 MB: many times a socket's buffer
	frame := func(i int) []byte {
		m := make([]byte, 4+i*2749%(inlineChanMax-16))
		binary.BigEndian.PutUint32(m, uint32(i))
		for j := 4; j < len(m); j++ {
			m[j] = byte(i + j)
		}
		return m
	}
	werr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := client.WriteFrame(frame(i)); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	within(t, "read every frame in order", func() {
		for i := range n {
			got, err := served.ReadFrame()
			if err != nil || !bytes.Equal(got, frame(i)) {
				t.Errorf("frame %d: got %d bytes (want %d), %v", i, len(got), len(frame(i)), err)
				return
			}
		}
		if err := <-werr; err != nil {
			t.Error(err)
		}
	})
}
