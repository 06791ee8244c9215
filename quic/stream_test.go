package quic

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// modes runs f with and without the bulk channel.
func modes(t *testing.T, f func(t *testing.T, client, served *Conn)) {
	for _, noBulk := range []bool{false, true} {
		name := "bulk"
		if noBulk {
			name = "quic"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{Key: testKey(t), NoBulk: noBulk}
			_, client, served := pair(t, cfg, cfg)
			if !noBulk {
				waitBulk(t, client, served)
			}
			f(t, client, served)
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// A streamed body arrives whole after its head, in order with frames
// around it, whatever its size.
func TestStreamRoundTrip(t *testing.T) {
	modes(t, func(t *testing.T, client, served *Conn) {
		sizes := []int{StreamMin, 5*ChunkSize + 7, 100, 3 * ChunkSize}
		bodies := make([][]byte, len(sizes))
		within(t, "streams", func() {
			for i, n := range sizes {
				bodies[i] = randomBytes(n)
				if err := client.WriteStream([]byte{byte(i)}, NewBody(bodies[i])); err != nil {
					t.Error(err)
					return
				}
				if err := client.WriteFrame([]byte("between")); err != nil {
					t.Error(err)
					return
				}
			}
			got := make([]chan []byte, len(sizes))
			for i := range sizes {
				head, body, err := served.ReadStream()
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = make(chan []byte, 1)
				if body == nil { // small: one frame
					got[i] <- head[1:]
				} else { // bodies are read beside the reader, never by it
					go func() { b, _ := body.Bytes(); got[i] <- b }()
				}
				if head[0] != byte(i) {
					t.Errorf("stream %d: head %v", i, head)
				}
				p, b, err := served.ReadStream()
				if err != nil || b != nil || string(p) != "between" {
					t.Errorf("after stream %d: %q %v %v", i, p, b, err)
				}
			}
			go drain(served) // without a bulk channel the chunks come on QUIC
			for i := range sizes {
				if b := <-got[i]; !bytes.Equal(b, bodies[i]) {
					t.Errorf("stream %d: %d bytes, want %d", i, len(b), len(bodies[i]))
				}
			}
		})
	})
}

// Frames written after a streamed frame arrive while its body is held
// back by its producer: the reader and writer never wait for a body.
func TestFramesPassABodyInFlight(t *testing.T) {
	modes(t, func(t *testing.T, client, served *Conn) {
		src := newPushed(3 * ChunkSize)
		first := randomBytes(ChunkSize)
		src.put(first)
		within(t, "frames pass", func() {
			if err := client.WriteStream([]byte("push"), src); err != nil {
				t.Error(err)
				return
			}
			head, body, err := served.ReadStream()
			if err != nil || string(head) != "push" {
				t.Errorf("head %q: %v", head, err)
				return
			}
			got := make(chan []byte, 1)
			go func() { b, _ := body.Bytes(); got <- b }() // a QUIC body needs the reader to run
			for i := range 10 {
				if err := client.WriteFrame([]byte{byte(i)}); err != nil {
					t.Error(err)
				}
				p, b, err := served.ReadStream()
				if err != nil || b != nil || len(p) != 1 || p[0] != byte(i) {
					t.Errorf("frame %d during the body: %v %v %v", i, p, b, err)
				}
			}
			rest := randomBytes(2 * ChunkSize)
			src.put(rest[:ChunkSize])
			src.put(rest[ChunkSize:])
			src.end()
			go drain(served)
			if b := <-got; !bytes.Equal(b, append(first, rest...)) {
				t.Errorf("body: %d bytes", len(b))
			}
		})
	})
}

// A body whose producer fails reaches the reader as an aborted body, and
// the connection stays usable.
func TestStreamAbort(t *testing.T) {
	modes(t, func(t *testing.T, client, served *Conn) {
		src := newPushed(3 * ChunkSize)
		src.put(randomBytes(ChunkSize))
		within(t, "abort", func() {
			client.WriteStream([]byte("h"), src)
			_, body, err := served.ReadStream()
			if err != nil {
				t.Error(err)
				return
			}
			got := make(chan error, 1)
			go func() { _, err := body.Bytes(); got <- err }()
			src.fail(errors.New("client gone"))
			client.WriteFrame([]byte("after"))
			if p, _, err := served.ReadStream(); err != nil || string(p) != "after" {
				t.Errorf("after the abort: %q %v", p, err)
			}
			go drain(served)
			if err := <-got; !errors.Is(err, ErrBodyAborted) {
				t.Errorf("got %v, want an aborted body", err)
			}
		})
	})
}

// A body over the receiver's MaxValue closes the connection with an error
// naming its size and the limit; the sender refuses one over its own.
func TestStreamOverMaxValue(t *testing.T) {
	key := testKey(t)
	_, client, served := pair(t, Config{Key: key, MaxValue: ChunkSize}, Config{Key: key})
	if err := client.WriteStream([]byte("h"), NewBody(make([]byte, 2*ChunkSize))); err != nil {
		t.Fatal(err)
	}
	within(t, "refused", func() {
		_, _, err := served.ReadStream()
		if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "streamed value of 2097152 bytes over the limit of 1048576") {
			t.Errorf("got %v", err)
		}
	})
	waitDone(t, client)
	err := served.WriteStream([]byte("h"), NewBody(make([]byte, 2*ChunkSize)))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("sender: got %v", err)
	}
}

// Hostile stream items on the QUIC stream or the bulk channel close the
// connection with an error that says what was wrong.
func TestHostileStreams(t *testing.T) {
	head := func(id, size uint64) []byte {
		p := make([]byte, headPrefixLen)
		binary.BigEndian.PutUint32(p, markerHead)
		binary.BigEndian.PutUint64(p[5:], id)
		binary.BigEndian.PutUint64(p[13:], size)
		return p
	}
	bulkHead := func(id, size uint64) []byte {
		p := head(id, size)
		p[4] = flagBulk
		return p
	}
	chunk := func(id uint64, n int) []byte {
		h := chunkPrefix(id, n, false)
		return append(h[:], make([]byte, n)...)
	}
	cases := []struct {
		name, want string
		quic, bulk []byte
	}{
		{"unknown stream", "chunk for unknown stream 7", chunk(7, 10), nil},
		{"more than announced", "more than the 10 bytes announced", append(head(1, 10), chunk(1, 11)...), nil},
		{"chunk over the limit", "chunk of 4194305 bytes over the limit", append(head(1, 10<<20), chunk(1, maxChunk+1)[:100]...), nil},
		{"ids out of order", "stream 5 announced after stream 0", head(5, 10), nil},
		{"bulk unknown stream", "chunk for unknown stream 1", bulkHead(1, 5), append(chunk(1, 5)[4:], chunk(1, 5)[4:]...)},
		{"bulk more than announced", "more than the 10 bytes announced", bulkHead(1, 10), chunk(1, 20)[4:]},
		{"bulk chunk of a QUIC stream", "chunk for unknown stream 1", head(1, 10), chunk(1, 5)[4:]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Key: testKey(t)}
			_, client, served := pair(t, cfg, cfg)
			waitBulk(t, client, served)
			if tc.quic != nil {
				client.impl.st.Write(tc.quic)
			}
			if tc.bulk != nil {
				client.impl.bulk.nc.Write(tc.bulk)
			}
			within(t, "refusal", func() {
				for range 3 {
					_, body, err := served.ReadStream()
					if body != nil {
						body.Discard()
					}
					if err != nil {
						if !strings.Contains(err.Error(), tc.want) && !strings.Contains(closeReason(served), tc.want) {
							t.Errorf("got %v (connection: %v), want %q", err, served.Err(), tc.want)
						}
						return
					}
				}
				t.Error("no error")
			})
			waitDone(t, served)
		})
	}
}

// drain reads c until it fails (for the chunks of bodies sent on QUIC).
func drain(c *Conn) {
	for {
		if _, b, err := c.ReadStream(); err != nil {
			return
		} else if b != nil {
			b.Discard()
		}
	}
}

// closeReason is the close reason of a closed connection.
func closeReason(c *Conn) string {
	<-c.Done()
	if err := c.Err(); err != nil {
		return err.Error()
	}
	return ""
}

// A connection that closes in the middle of a body fails it (truncated
// stream), with ErrBodyAborted.
func TestTruncatedStream(t *testing.T) {
	modes(t, func(t *testing.T, client, served *Conn) {
		src := newPushed(3 * ChunkSize)
		src.put(randomBytes(ChunkSize))
		client.WriteStream([]byte("h"), src)
		within(t, "truncated", func() {
			_, body, err := served.ReadStream()
			if err != nil {
				t.Error(err)
				return
			}
			got := make(chan error, 1)
			go func() { _, err := body.Bytes(); got <- err }()
			client.Close(codeOK, "gone")
			served.ReadStream() // fails: the connection is gone
			if err := <-got; !errors.Is(err, ErrBodyAborted) {
				t.Errorf("got %v", err)
			}
		})
	})
}

// Tee hands every chunk to each branch; a discarded branch does not hold
// the others.
func TestTee(t *testing.T) {
	data := randomBytes(5*ChunkSize + 3)
	bs := NewBody(data).Tee(3)
	bs[2].Discard()
	done := make(chan []byte)
	go func() { b, _ := bs[1].Bytes(); done <- b }()
	a, err := bs[0].Bytes()
	if err != nil || !bytes.Equal(a, data) {
		t.Fatalf("branch 0: %d bytes, %v", len(a), err)
	}
	if b := <-done; !bytes.Equal(b, data) {
		t.Fatalf("branch 1: %d bytes", len(b))
	}
}

// FuzzStreamDecoder feeds arbitrary QUIC-stream bytes to the decoder of
// frames, stream heads and chunk frames: it returns errors, never panics,
// and never returns more than the input holds.
func FuzzStreamDecoder(f *testing.F) {
	h := make([]byte, headPrefixLen)
	binary.BigEndian.PutUint32(h, markerHead)
	binary.BigEndian.PutUint64(h[5:], 1)
	binary.BigEndian.PutUint64(h[13:], 5)
	c := chunkPrefix(1, 5, false)
	f.Add(append(append(h, c[:]...), "hello"...))
	f.Add(frames([]byte("x")))
	f.Add(append(h, c[:8]...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var streams inStreams
		streams.init()
		d := decoder{r: bytes.NewReader(in), in: &streams, maxFrame: 1 << 20, maxValue: 1 << 20}
		total := 0
		for range len(in) + 1 {
			p, body, _, err := d.next()
			if err != nil {
				return
			}
			total += len(p)
			if body != nil {
				if body.Size() > 1<<20 {
					t.Fatalf("body of %d bytes over the limit", body.Size())
				}
				body.Discard() // its chunks are dropped as they come
			}
			if total > len(in) {
				t.Fatalf("%d bytes from %d input bytes", total, len(in))
			}
		}
	})
}

// ReadFrame joins a streamed frame's head and body; without a bulk
// channel it reads on for the chunks and keeps the frames it meets for
// the next calls.
func TestReadFrameJoinsStreams(t *testing.T) {
	modes(t, func(t *testing.T, client, served *Conn) {
		body := randomBytes(3*ChunkSize + 5)
		within(t, "joined", func() {
			if err := client.WriteStream([]byte("head:"), NewBody(body)); err != nil {
				t.Error(err)
				return
			}
			client.WriteFrame([]byte("next"))
			got, err := served.ReadFrame()
			if err != nil || !bytes.Equal(got, append([]byte("head:"), body...)) {
				t.Errorf("joined frame: %d bytes, %v", len(got), err)
			}
			if p, err := served.ReadFrame(); err != nil || string(p) != "next" {
				t.Errorf("next frame: %q %v", p, err)
			}
		})
	})
}

// On one frame stream (no bulk channel: the single-channel mode), a
// frame written while bodies stream waits behind at most
// maxChunksAhead bytes of chunk frames, however large and however many
// the bodies: small frames arrive between the chunks.
func TestSingleChannelBoundsChunksAhead(t *testing.T) {
	cfg := Config{Key: testKey(t), NoBulk: true}
	_, client, served := pair(t, cfg, cfg)
	const size = 48 * ChunkSize
	smallBeforeEnd := make(chan int, 1)
	go func() {
		var bodies []*Body
		small := 0
		for {
			p, b, err := served.ReadStream()
			if err != nil {
				return
			}
			if b != nil {
				bodies = append(bodies, b)
				go b.Bytes()
				continue
			}
			if string(p) == "small" {
				small++
				if served.impl.in.receiving(bodies[0]) && small == 10 {
					smallBeforeEnd <- small
				}
			}
		}
	}()
	for range 2 {
		if err := client.WriteStream([]byte("h"), NewBody(make([]byte, size))); err != nil {
			t.Fatal(err)
		}
	}
	worst := 0
	within(t, "small frames during two bodies", func() {
		for range 200 {
			if err := client.WriteFrame([]byte("small")); err != nil {
				t.Error(err)
				return
			}
			client.impl.wmu.Lock()
			worst = max(worst, client.impl.chunkQ)
			client.impl.wmu.Unlock()
			time.Sleep(time.Millisecond) // pacing the small frames, not synchronisation
		}
	})
	if worst > maxChunksAhead {
		t.Errorf("%d bytes of chunk frames queued, bound %d", worst, maxChunksAhead)
	}
	select {
	case <-smallBeforeEnd:
	case <-time.After(waitLimit):
		t.Error("no small frames arrived while the first body was still arriving")
	}
}
