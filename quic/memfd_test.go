//go:build linux

package quic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pxsh/pxsh/internal/waittest"
)

// localPair is a connection pair whose bulk channel is the local one.
func localPair(t *testing.T) (srv *server, client, served *Conn) {
	t.Helper()
	cfg := Config{Key: testKey(t)}
	srv, client, served = pair(t, cfg, cfg)
	waitBulk(t, client, served)
	if !bulkLocal(client) || !bulkLocal(served) {
		t.Fatal("bulk channel is not the local one")
	}
	return srv, client, served
}

// inode is the inode number of the memfd a body came as.
func inode(t *testing.T, b *Body) uint64 {
	t.Helper()
	if b.mfd == nil {
		t.Fatal("the body did not come as a memfd")
	}
	f, err := b.mfd.wait()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// On the local channel a body of FDMin bytes or more comes as a sealed
// memfd, a smaller one as a frame, in order with the frames around them.
func TestMemfdRoundTrip(t *testing.T) {
	_, client, served := localPair(t)
	sizes := []int{int(FDMin), 5*ChunkSize + 7, 100, 64 << 20}
	within(t, "memfd streams", func() {
		for i, n := range sizes {
			data := randomBytes(n)
			if err := client.WriteStream([]byte{byte(i)}, NewBody(data)); err != nil {
				t.Error(err)
				return
			}
			client.WriteFrame([]byte("between"))
			head, body, err := served.ReadStream()
			if err != nil || head[0] != byte(i) {
				t.Errorf("stream %d: head %v, %v", i, head, err)
				return
			}
			var got []byte
			if body == nil {
				got = head[1:]
			} else {
				if body.mfd == nil {
					t.Errorf("stream %d (%d bytes) did not come as a memfd", i, n)
				}
				got, err = body.Bytes()
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("stream %d: %d bytes, %v", i, len(got), err)
			}
			if p, b, err := served.ReadStream(); err != nil || b != nil || string(p) != "between" {
				t.Errorf("after stream %d: %q %v", i, p, err)
			}
		}
	})
	waitSlotsFree(t, served)
}

// waitSlotsFree waits until c holds no memfd body.
func waitSlotsFree(t *testing.T, c *Conn) {
	t.Helper()
	waitUntil(t, func() bool { return len(c.impl.bulk.slots) == 0 },
		func() string { return fmt.Sprintf("%d memfd bodies still held", len(c.impl.bulk.slots)) })
}

// A hop forwards a memfd body to local peers as the same memfd (no byte
// copied: both receivers see the sender's inode), and to a peer on TCP in
// chunks read from it; the hop then holds nothing.
func TestMemfdFanOut(t *testing.T) {
	key := testKey(t)
	srv := startServer(t, Config{Key: key})
	a := srv.dial(t, Config{Key: key})
	servedA := srv.accept(t)
	var dialed, served []*Conn
	for _, noLocal := range []bool{false, false, true} {
		dialed = append(dialed, srv.dial(t, Config{Key: key, NoLocalBulk: noLocal}))
		served = append(served, srv.accept(t))
	}
	waitBulk(t, append([]*Conn{a, servedA}, append(dialed, served...)...)...)
	data := randomBytes(3*ChunkSize + 11)
	within(t, "fan-out", func() {
		if err := a.WriteStream([]byte("h"), NewBody(data)); err != nil {
			t.Error(err)
			return
		}
		_, body, err := servedA.ReadStream()
		if err != nil {
			t.Error(err)
			return
		}
		for i, br := range body.Tee(len(served)) {
			if err := served[i].WriteStream([]byte("h"), br); err != nil {
				t.Error(err)
			}
		}
		var inodes []uint64
		for i, d := range dialed {
			_, b, err := d.ReadStream()
			if err != nil {
				t.Error(err)
				return
			}
			if i < 2 {
				inodes = append(inodes, inode(t, b))
			} else if b.mfd != nil {
				t.Error("a memfd body on a TCP channel")
			}
			got, err := b.Bytes()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("receiver %d: %d bytes, %v", i, len(got), err)
			}
		}
		if len(inodes) == 2 && inodes[0] != inodes[1] {
			t.Errorf("receivers got different memfds (inodes %d, %d): a copy was made", inodes[0], inodes[1])
		}
	})
	waitSlotsFree(t, servedA)
}

// A reader holds at most maxFDBodies memfd bodies not consumed: the next
// one waits in the socket until one is consumed, and nothing is lost.
func TestMemfdBoundsHeldBodies(t *testing.T) {
	_, client, served := localPair(t)
	n := maxFDBodies + 2
	data := randomBytes(int(FDMin))
	bodies := make([]*Body, n)
	within(t, "bounded memfds", func() {
		for i := range n {
			data[0] = byte(i)
			if err := client.WriteStream([]byte{byte(i)}, NewBody(data)); err != nil {
				t.Error(err)
				return
			}
			_, b, err := served.ReadStream()
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i] = b
		}
		// Not waitUntil: this is not the test's goroutine; the checks
		// below report a shortfall.
		waittest.Poll(waitLimit, func() bool { return len(served.impl.bulk.slots) >= maxFDBodies })
		for i, b := range bodies {
			select {
			case <-b.mfd.ready:
				if i >= maxFDBodies {
					t.Errorf("body %d arrived while %d were held", i, maxFDBodies)
				}
			default:
				if i < maxFDBodies {
					t.Errorf("body %d did not arrive", i)
				}
			}
		}
		for i, b := range bodies {
			got, err := b.Bytes()
			if err != nil || len(got) != len(data) || got[0] != byte(i) {
				t.Errorf("body %d: %d bytes, %v", i, len(got), err)
			}
		}
	})
	waitSlotsFree(t, served)
}

// A sender has at most maxFDBodies memfds unacknowledged on a
// connection: a peer in slow-consumer mode that takes none is
// disconnected once more than maxFDBodies more wait (or one waits
// StreamStall), and the sender then holds none.
func TestMemfdWindowStalledPeer(t *testing.T) {
	_, _, served := localPair(t) // the client never reads
	served.SetSlowConsumer(DefaultMaxQueued)
	data := randomBytes(int(FDMin))
	within(t, "a stalled peer", func() {
		for range 2*maxFDBodies + 1 {
			if err := served.WriteStream([]byte("h"), NewBody(data)); err != nil {
				break
			}
		}
		waitDone(t, served)
	})
	if err := served.Err(); !IsSlowConsumer(err) {
		t.Errorf("closed with %v, want a slow-consumer close", err)
	}
	b := served.impl.bulk
	waitUntil(t, func() bool { return b.window.pending() <= maxFDBodies },
		func() string {
			return fmt.Sprintf("%d memfds unacknowledged, want %d", b.window.pending(), maxFDBodies)
		})
	if n := b.window.pending(); n != maxFDBodies {
		t.Errorf("%d memfds unacknowledged, want %d", n, maxFDBodies)
	}
}

// An acknowledgement of a memfd that was not sent closes the connection.
func TestMemfdBadAck(t *testing.T) {
	_, client, served := localPair(t)
	h := chunkPrefix(9, 0, false)
	binary.BigEndian.PutUint32(h[frameHeaderLen+8:], ackLen)
	client.impl.bulk.nc.Write(h[frameHeaderLen:])
	within(t, "refusal", func() { drain(served) })
	if r := closeReason(served); !strings.Contains(r, "not sent") {
		t.Errorf("closed with %q", r)
	}
}

// A memfd head whose descriptor never comes (its sender's connection
// closed first) fails its body with ErrBodyAborted.
func TestMemfdSenderGone(t *testing.T) {
	_, client, served := localPair(t)
	client.impl.st.Write(fdHead(1, 1000))
	within(t, "the lost memfd", func() {
		_, body, err := served.ReadStream()
		if err != nil {
			t.Error(err)
			return
		}
		client.Close(codeOK, "gone")
		if _, err := body.Bytes(); !errors.Is(err, ErrBodyAborted) {
			t.Errorf("body: %v, want ErrBodyAborted", err)
		}
	})
}

// rawMemfd is a memfd holding n bytes, sealed with seals.
func rawMemfd(t *testing.T, n int, seals int) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// fdHead is a memfd stream's head on the QUIC stream.
func fdHead(id, size uint64) []byte {
	p := make([]byte, headPrefixLen)
	binary.BigEndian.PutUint32(p, markerHead)
	p[4] = flagBulk | flagFD
	binary.BigEndian.PutUint64(p[5:], id)
	binary.BigEndian.PutUint64(p[13:], size)
	return p
}

// fdItem is a memfd item's prefix on the bulk channel.
func fdItem(id uint64) []byte {
	h := chunkPrefix(id, 0, false)
	binary.BigEndian.PutUint32(h[frameHeaderLen+8:], fdLen)
	return h[frameHeaderLen:]
}

// chunkItem is an empty chunk's prefix on the bulk channel.
func chunkItem(id uint64) []byte {
	h := chunkPrefix(id, 0, false)
	return h[frameHeaderLen:]
}

// A bad memfd (the wrong size, not a memfd, missing, a chunk for a memfd
// stream, a memfd head on TCP) closes that connection with a clear reason
// and fails its body; another connection is unaffected. (One not sealed
// is read, not refused: TestUnsealedMemfdIsRead.)
func TestMemfdHostile(t *testing.T) {
	tmp, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write(make([]byte, 1000))
	defer tmp.Close()
	cases := []struct {
		name, want string
		noLocal    bool
		fd         func(t *testing.T) *os.File
		item       []byte
	}{
		{"wrong size", "100 bytes, 1000 announced", false, func(t *testing.T) *os.File { return rawMemfd(t, 100, allSeals) }, fdItem(1)},
		{"not a memfd", "not a memfd", false, func(*testing.T) *os.File { return tmp }, fdItem(1)},
		{"missing descriptor", "without its descriptor", false, nil, fdItem(1)},
		{"chunk for a memfd stream", "a chunk for a memfd body", false, nil, chunkItem(1)},
		{"memfd head on TCP", "cannot carry one", true, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t)
			srv := startServer(t, Config{Key: key})
			client := srv.dial(t, Config{Key: key, NoLocalBulk: tc.noLocal})
			served := srv.accept(t)
			other := srv.dial(t, Config{Key: key})
			otherServed := srv.accept(t)
			waitBulk(t, client, served, other, otherServed)
			client.impl.st.Write(fdHead(1, 1000))
			if tc.item != nil {
				nc := client.impl.bulk.nc
				var err error
				if tc.fd != nil {
					err = writeFD(nc, tc.item, tc.fd(t))
				} else {
					_, err = nc.Write(tc.item)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			within(t, "refusal", func() {
				_, body, err := served.ReadStream()
				if err == nil {
					_, err = body.Bytes()
					if err == nil {
						t.Error("a bad memfd was accepted")
						return
					}
				}
				t.Logf("refused: %v (connection: %s)", err, closeReason(served))
				if !strings.Contains(err.Error(), tc.want) && !strings.Contains(closeReason(served), tc.want) {
					t.Errorf("got %v (connection: %v), want %q", err, served.Err(), tc.want)
				}
			})
			waitDone(t, served)
			within(t, "the other connection", func() {
				data := randomBytes(int(FDMin))
				other.WriteStream([]byte("h"), NewBody(data))
				_, b, err := otherServed.ReadStream()
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := b.Bytes(); err != nil || !bytes.Equal(got, data) {
					t.Errorf("other connection: %d bytes, %v", len(got), err)
				}
			})
		})
	}
}

// BenchmarkLocalBody sends bodies of several sizes over the local
// channel and reads them whole at the other end, as memfds and in chunks
// (FDMin raised), to choose FDMin.
func BenchmarkLocalBody(b *testing.B) {
	for _, n := range []int{256 << 10, 512 << 10, 1 << 20, 4 << 20, 10 << 20} {
		for _, mode := range []string{"memfd", "chunks"} {
			b.Run(fmt.Sprintf("%dKiB/%s", n>>10, mode), func(b *testing.B) {
				if mode == "chunks" {
					defer func(m int64) { FDMin = m }(FDMin)
					FDMin = 1 << 62
				}
				cfg := Config{Key: testKey(b)}
				srv := startServer(b, cfg)
				client := srv.dial(b, cfg)
				served := srv.accept(b)
				waitBulk(b, client, served)
				data := randomBytes(n)
				b.SetBytes(int64(n))
				for b.Loop() {
					client.WriteStream([]byte("h"), NewBody(data))
					_, body, err := served.ReadStream()
					if err != nil {
						b.Fatal(err)
					}
					if _, err := body.Bytes(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestReadMemfdRanges: a memfd's bytes read through its mapping, from
// any offset (page-aligned or not) and across pieces, are its bytes.
func TestReadMemfdRanges(t *testing.T) {
	want := make([]byte, 2*readPiece+12345)
	for i := range want {
		want[i] = byte(i*31 + i>>13)
	}
	f, err := newMemfd([][]byte{want[:100], want[100:]}, int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int{0, 1, 4095, 4096, 5000, readPiece - 3, len(want) - 1} {
		got := make([]byte, len(want)-off)
		if err := readPieces(f, got, int64(off)); err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if !bytes.Equal(got, want[off:]) {
			t.Fatalf("offset %d: bytes differ", off)
		}
	}
}

// A volatile body's parts may change once WriteStream returns: the
// receiver gets them as they were, as a memfd (written before the return)
// or in chunks (copied before the return).
func TestVolatilePartsReadBeforeReturn(t *testing.T) {
	_, client, served := localPair(t)
	for _, chunks := range []bool{false, true} {
		if chunks {
			old := FDMin
			FDMin = math.MaxInt64
			defer func() { FDMin = old }()
		}
		within(t, "volatile parts", func() {
			head, tail := []byte("head"), randomBytes(3*ChunkSize+5)
			want := append(append([]byte{}, head...), tail...)
			if err := client.WriteStream([]byte{1}, NewBodyPartsVolatile([][]byte{head, tail})); err != nil {
				t.Error(err)
				return
			}
			for k := range tail {
				tail[k] ^= 0xff
			}
			_, body, err := served.ReadStream()
			if err != nil || body == nil {
				t.Errorf("read: %v", err)
				return
			}
			if (body.mfd == nil) != chunks {
				t.Errorf("chunks %v: came as a memfd: %v", chunks, body.mfd != nil)
			}
			if got, err := body.Bytes(); err != nil || !bytes.Equal(got, want) {
				t.Errorf("chunks %v: %d bytes, %v, not as written", chunks, len(got), err)
			}
		})
	}
	waitSlotsFree(t, served)
}
