package quic

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/pxsh/pxsh/internal/waittest"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 15 * time.Second

// waitUntil polls cond until it holds; after waitLimit (scaled) it fails
// the test with what failure says of the state then.
func waitUntil(t testing.TB, cond func() bool, failure func() string) {
	t.Helper()
	if !waittest.Poll(waitLimit, cond) {
		t.Fatal(failure())
	}
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// server is a listener on 127.0.0.1:0 for one test.
type server struct {
	l   *Listener
	id  *Identity
	cfg Config
}

func startServer(t testing.TB, cfg Config) *server {
	t.Helper()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("127.0.0.1:0", id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &server{l: l, id: id, cfg: cfg}
}

func (s *server) addr() string { return s.l.Addr().String() }

// accept waits for the next authenticated connection.
func (s *server) accept(t testing.TB) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := s.l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(codeOK, "test done") })
	return c
}

func (s *server) dial(t testing.TB, cfg Config) *Conn {
	t.Helper()
	c, err := s.tryDial(cfg, s.id.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(codeOK, "test done") })
	return c
}

func (s *server) tryDial(cfg Config, fingerprint string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return Dial(ctx, s.addr(), fingerprint, cfg)
}

// pair returns both ends of one connection.
func pair(t testing.TB, scfg, ccfg Config) (srv *server, client, served *Conn) {
	t.Helper()
	srv = startServer(t, scfg)
	client = srv.dial(t, ccfg)
	served = srv.accept(t)
	return srv, client, served
}

// echo echoes frames on c until it fails.
func echo(c *Conn) {
	for {
		b, err := c.ReadFrame()
		if err != nil {
			return
		}
		if err := c.WriteFrame(b); err != nil {
			return
		}
	}
}

// within runs f and fails the test if it does not return in waitLimit.
func within(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s: did not finish within %v", what, waitLimit)
	}
}

func waitDone(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatalf("connection not closed within %v", waitLimit)
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t)
	cfg := Config{Key: key}
	_, client, served := pair(t, cfg, cfg)
	go echo(served)
	for _, size := range []int{0, 1, 64, 4095, 32 << 10, 70000, 1 << 20, 10_000_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			msg := make([]byte, size)
			rand.Read(msg)
			// Send as three parts to exercise the gathering write.
			a, b := size/3, 2*size/3
			within(t, "round trip", func() {
				if err := client.WriteFrame(msg[:a], msg[a:b], msg[b:]); err != nil {
					t.Error(err)
					return
				}
				got, err := client.ReadFrame()
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, msg) {
					t.Errorf("echo of %d bytes: got %d bytes, not equal", size, len(got))
				}
			})
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	const writers, frames = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte(w)}, bodySize(w))
			for i := range frames {
				var head [8]byte
				binary.BigEndian.PutUint32(head[:4], uint32(w))
				binary.BigEndian.PutUint32(head[4:], uint32(i))
				if err := client.WriteFrame(head[:], body); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	within(t, "read all frames", func() {
		for range writers * frames {
			b, err := served.ReadFrame()
			if err != nil {
				t.Error(err)
				return
			}
			w := int(binary.BigEndian.Uint32(b[:4]))
			i := int(binary.BigEndian.Uint32(b[4:8]))
			if w >= writers || i != next[w] {
				t.Errorf("frame from writer %d numbered %d, want %d", w, i, next[w])
				return
			}
			next[w]++
			if want := bytes.Repeat([]byte{byte(w)}, bodySize(w)); !bytes.Equal(b[8:], want) {
				t.Errorf("frame %d of writer %d is corrupted", i, w)
				return
			}
		}
	})
	wg.Wait()
}

// bodySize mixes frames sent inline, queued small ones and large ones
// sent without a copy.
func bodySize(w int) int {
	if w%3 == 2 {
		return 100<<10 + w
	}
	return 100 + w*1000
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWrongKey(t *testing.T) {
	var logs syncBuffer
	key := testKey(t)
	srv := startServer(t, Config{Key: key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	_, err := srv.tryDial(Config{Key: testKey(t)}, srv.id.Fingerprint)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("dial with wrong key: got %v, want ErrAuth", err)
	}
	if !strings.Contains(err.Error(), "authentication refused: wrong cluster key") {
		t.Errorf("dial with wrong key: error %q does not say why", err)
	}

	// The listener keeps serving.
	client := srv.dial(t, Config{Key: key})
	served := srv.accept(t)
	go echo(served)
	within(t, "round trip", func() {
		if err := client.WriteFrame([]byte("hi")); err != nil {
			t.Error(err)
			return
		}
		if b, err := client.ReadFrame(); err != nil || string(b) != "hi" {
			t.Errorf("echo: got %q, %v", b, err)
		}
	})
	// The listener logs after it refused, which the dialer may see first.
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "wrong cluster key") },
		func() string { return "log does not mention the refusal:\n" + logs.String() })
}

func TestWrongFingerprint(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	srv := startServer(t, cfg)
	other, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.tryDial(cfg, other.Fingerprint)
	if !errors.Is(err, ErrFingerprint) {
		t.Fatalf("dial with wrong fingerprint: got %v, want ErrFingerprint", err)
	}
	for _, want := range []string{"certificate fingerprint mismatch", other.Fingerprint, srv.id.Fingerprint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestOversizedFrame(t *testing.T) {
	key := testKey(t)
	srv, client, served := pair(t, Config{Key: key, MaxFrame: 1024}, Config{Key: key, MaxFrame: 1 << 20})
	if err := client.WriteFrame(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, "read oversized frame", func() { _, err = served.ReadFrame() })
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "frame of 4096 bytes over the limit of 1024") {
		t.Fatalf("read oversized frame: got %v", err)
	}
	waitDone(t, served)
	waitDone(t, client)
	var appErr *quicgo.ApplicationError
	if cerr := client.Err(); !errors.As(cerr, &appErr) || appErr.ErrorCode != codeTooLarge || !strings.Contains(appErr.ErrorMessage, "over the limit") {
		t.Errorf("dialer's close reason: got %v, want code %d and the reason", cerr, codeTooLarge)
	}
	if _, err := client.ReadFrame(); err == nil {
		t.Error("read after close: no error")
	}

	// The writer's own limit applies too.
	if err := client.WriteFrame(make([]byte, 2<<20)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("write over own limit: got %v, want ErrFrameTooLarge", err)
	}

	// Another connection keeps working.
	c2 := srv.dial(t, Config{Key: key})
	s2 := srv.accept(t)
	go echo(s2)
	within(t, "round trip", func() {
		if err := c2.WriteFrame(make([]byte, 1000)); err != nil {
			t.Error(err)
			return
		}
		if b, err := c2.ReadFrame(); err != nil || len(b) != 1000 {
			t.Errorf("echo: got %d bytes, %v", len(b), err)
		}
	})
}

func TestTruncatedFrame(t *testing.T) {
	key := testKey(t)
	for _, how := range []string{"stream", "connection"} {
		t.Run(how, func(t *testing.T) {
			_, client, served := pair(t, Config{Key: key}, Config{Key: key})
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], 1000)
			st := client.impl.st
			if _, err := st.Write(append(hdr[:], make([]byte, 10)...)); err != nil {
				t.Fatal(err)
			}
			if how == "stream" {
				st.Close()
			} else {
				client.Close(codeOK, "bye")
			}
			var err error
			within(t, "read truncated frame", func() { _, err = served.ReadFrame() })
			if err == nil {
				t.Fatal("read truncated frame: no error")
			}
			if how == "stream" && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read truncated frame: got %v, want io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestSilentClientDoesNotBlockAccept(t *testing.T) {
	key := testKey(t)
	srv := startServer(t, Config{Key: key, HandshakeTimeout: 30 * time.Second})
	// A client that completes TLS, opens the stream and then says nothing.
	silent := rawDial(t, srv.addr())
	st, err := silent.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte(authHello)); err != nil {
		t.Fatal(err)
	}
	// One that does not even open a stream.
	rawDial(t, srv.addr())

	start := time.Now()
	client := srv.dial(t, Config{Key: key})
	srv.accept(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("accept took %v behind silent clients", d)
	}
	_ = client
}

func TestHandshakeTimeout(t *testing.T) {
	srv := startServer(t, Config{Key: testKey(t), HandshakeTimeout: 200 * time.Millisecond})
	silent := rawDial(t, srv.addr())
	select {
	case <-silent.Context().Done():
	case <-time.After(waitLimit):
		t.Fatal("silent client not closed after the handshake timeout")
	}
	var appErr *quicgo.ApplicationError
	if err := context.Cause(silent.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != codeAuth {
		t.Errorf("silent client closed with %v, want code %d", err, codeAuth)
	}
}

func TestBadHello(t *testing.T) {
	srv := startServer(t, Config{Key: testKey(t)})
	qc := rawDial(t, srv.addr())
	st, err := qc.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("GET / HTTP/1.1\r\n"))
	select {
	case <-qc.Context().Done():
	case <-time.After(waitLimit):
		t.Fatal("bad hello not refused")
	}
	var appErr *quicgo.ApplicationError
	if err := context.Cause(qc.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != codeBadFrame {
		t.Errorf("bad hello closed with %v, want code %d", err, codeBadFrame)
	}
}

// rawDial connects at the QUIC level without authenticating.
func rawDial(t *testing.T, addr string) *quicgo.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	qc, err := quicgo.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	return qc
}

func TestListenerClose(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	srv, client, served := pair(t, cfg, cfg)
	if err := srv.l.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, served)
	waitDone(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := srv.l.Accept(ctx); err == nil {
		t.Error("accept after close: no error")
	}
	if _, err := client.ReadFrame(); err == nil {
		t.Error("read after listener close: no error")
	}
}

func TestConfigNeedsKey(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("127.0.0.1:0", id, Config{}); err == nil {
		t.Error("listen without key: no error")
	}
	if _, err := Dial(context.Background(), "127.0.0.1:1", id.Fingerprint, Config{}); err == nil {
		t.Error("dial without key: no error")
	}
}

func TestIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "id")
	a, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("reloaded fingerprint %s, want %s", b.Fingerprint, a.Fingerprint)
	}
	if fp := FingerprintOf(b.Cert.Certificate[0]); fp != a.Fingerprint || !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
		t.Errorf("fingerprint %q", fp)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v, %v", fi.Mode(), err)
	}
	for _, name := range []string{certFile, keyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode: %v, %v", name, fi.Mode(), err)
		}
	}
	// A reloaded identity serves connections.
	key := testKey(t)
	l, err := Listen("127.0.0.1:0", b, Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, l.Addr().String(), a.Fingerprint, Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	c.Close(codeOK, "")

	// A certificate without its key is an error, not a silent new identity.
	if err := os.Remove(filepath.Join(dir, keyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir); err == nil {
		t.Error("cert without key: no error")
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	cfg := Config{Key: testKey(b)}
	_, client, served := pair(b, cfg, cfg)
	go echo(served)
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := client.WriteFrame(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := client.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
