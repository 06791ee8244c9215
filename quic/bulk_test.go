package quic

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
)

// waitBulk waits until both ends have their bulk channel.
func waitBulk(t testing.TB, cs ...*Conn) {
	t.Helper()
	for _, c := range cs {
		waitUntil(t, c.BulkActive, func() string { return fmt.Sprintf("no bulk channel within %v", waitLimit) })
	}
}

// Frames of every size keep their order in both directions when large
// ones travel on the bulk channel and small ones on QUIC.
func TestBulkKeepsOrder(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	_, client, served := pair(t, cfg, cfg)
	waitBulk(t, client, served)
	sizes := []int{10, BulkMin - 1, BulkMin, 100, 3 << 20, 0, 1 << 20, 5, BulkMin + 1}
	msgs := make([][]byte, len(sizes))
	for i, n := range sizes {
		msgs[i] = make([]byte, n)
		rand.Read(msgs[i])
	}
	go echo(served)
	within(t, "ordered echo", func() {
		go func() {
			for _, m := range msgs {
				if err := client.WriteFrame(m[:len(m)/2], m[len(m)/2:]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for i, m := range msgs {
			got, err := client.ReadFrame()
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, m) {
				t.Errorf("frame %d: got %d bytes, want %d (%d bytes)", i, len(got), i, len(m))
			}
		}
	})
}

// With NoBulk, or when the TCP port is taken, every frame stays on QUIC.
func TestNoBulk(t *testing.T) {
	for _, mode := range []string{"NoBulk", "PortTaken"} {
		t.Run(mode, func(t *testing.T) {
			// A local peer would still get the Unix channel when the TCP
			// port is taken: NoLocalBulk leaves only TCP to lose.
			cfg := Config{Key: testKey(t), NoBulk: mode == "NoBulk", NoLocalBulk: true}
			var srv *server
			if mode == "PortTaken" {
				srv = startServerPortTaken(t, cfg)
			} else {
				srv = startServer(t, cfg)
			}
			client := srv.dial(t, cfg)
			served := srv.accept(t)
			go echo(served)
			msg := make([]byte, 2<<20)
			rand.Read(msg)
			within(t, "echo", func() {
				if err := client.WriteFrame(msg); err != nil {
					t.Error(err)
					return
				}
				got, err := client.ReadFrame()
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("echo: %d bytes, %v", len(got), err)
				}
			})
			if client.BulkActive() || served.BulkActive() {
				t.Errorf("bulk channel active")
			}
		})
	}
}

// startServerPortTaken starts a listener whose port number is already
// taken on TCP.
func startServerPortTaken(t *testing.T, cfg Config) *server {
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		id, err := NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		l, err := Listen(tl.Addr().String(), id, cfg) // the UDP port of the same number is usually free
		if err != nil {
			continue
		}
		t.Cleanup(func() { l.Close() })
		return &server{l: l, id: id, cfg: cfg}
	}
	t.Fatal("no free UDP port with a taken TCP port")
	return nil
}

// A bulk channel must repeat its connection's key proof: one with the
// wrong key, or naming no connection, is refused and the connection goes
// on over QUIC.
func TestBulkWrongKey(t *testing.T) {
	cfg := Config{Key: testKey(t)}
	srv := startServer(t, cfg)
	client := srv.dial(t, Config{Key: cfg.Key, NoBulk: true})
	served := srv.accept(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := dialBulk(ctx, client.impl, chanBulk, srv.addr(), pinnedTLS(srv.id.Fingerprint), testKey(t))
	if err == nil {
		t.Fatal("bulk channel with the wrong key accepted")
	}
	if served.BulkActive() || client.BulkActive() {
		t.Fatal("bulk channel attached")
	}
	go echo(served)
	if err := client.WriteFrame([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	got, err := client.ReadFrame()
	if err != nil || string(got) != "still here" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if err := dialBulk(ctx, client.impl, chanBulk, srv.addr(), pinnedTLS(srv.id.Fingerprint), cfg.Key); err != nil {
		t.Fatalf("bulk channel with the right key: %v", err)
	}
	waitBulk(t, client, served)
}

// pinnedTLS is a dialer's TLS configuration pinning fp.
func pinnedTLS(fp string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if FingerprintOf(cs.PeerCertificates[0].Raw) != fp {
				return ErrFingerprint
			}
			return nil
		}}
}

// BenchmarkThroughput moves 100 MB in frames of 4 MiB one way over QUIC
// alone, over the bulk channel on TLS over TCP and over the local bulk
// channel (a Unix socket), in the same run.
func BenchmarkThroughput(b *testing.B) {
	for _, name := range []string{"quic", "tls", "local"} {
		noBulk := name == "quic"
		b.Run(name, func(b *testing.B) {
			key := make([]byte, 32)
			rand.Read(key)
			cfg := Config{Key: key, NoBulk: noBulk, NoLocalBulk: name == "tls"}
			_, client, served := pair(b, cfg, cfg)
			if !noBulk {
				waitUntil(b, func() bool { return client.BulkActive() && served.BulkActive() },
					func() string { return "no bulk channel" })
			}
			frame := make([]byte, 4<<20)
			const total = 100 << 20
			b.SetBytes(total)
			for range b.N {
				done := make(chan error, 1)
				go func() {
					for n := 0; n < total; n += len(frame) {
						if _, err := served.ReadFrame(); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				for n := 0; n < total; n += len(frame) {
					if err := client.WriteFrame(frame); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
