package quic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func frames(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*readChunk+5)
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  [][]byte
		err   error
	}{
		{"empty input", nil, 100, nil, io.EOF},
		{"one frame", frames([]byte("hello")), 100, [][]byte{[]byte("hello")}, io.EOF},
		{"empty frame", frames([]byte{}), 100, [][]byte{{}}, io.EOF},
		{"two frames", frames([]byte("a"), []byte("bc")), 100, [][]byte{[]byte("a"), []byte("bc")}, io.EOF},
		{"at limit", frames(make([]byte, 10)), 10, [][]byte{make([]byte, 10)}, io.EOF},
		{"over limit", frames(make([]byte, 11)), 10, nil, ErrFrameTooLarge},
		{"short header", []byte{0, 0}, 100, nil, io.ErrUnexpectedEOF},
		{"short payload", frames([]byte("hello"))[:7], 100, nil, io.ErrUnexpectedEOF},
		{"big frame", frames(big), len(big), [][]byte{big}, io.EOF},
		{"big frame truncated", frames(big)[:2*readChunk], len(big), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.in)
			var hdr [frameHeaderLen]byte
			for i, want := range tt.want {
				got, err := readFrame(r, tt.limit, &hdr)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("frame %d: got %d bytes, %v; want %d bytes", i, len(got), err, len(want))
				}
			}
			if _, err := readFrame(r, tt.limit, &hdr); !errors.Is(err, tt.err) {
				t.Errorf("got error %v, want %v", err, tt.err)
			}
		})
	}
}

// TestReadFrameDoesNotTrustLength checks that a huge announced length with
// little data behind it allocates little.
func TestReadFrameDoesNotTrustLength(t *testing.T) {
	in := append(binary.BigEndian.AppendUint32(nil, DefaultMaxFrame), "tiny"...)
	alloc := allocated(func() {
		var hdr [frameHeaderLen]byte
		if _, err := readFrame(bytes.NewReader(in), DefaultMaxFrame, &hdr); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
		}
	})
	if alloc > 2*readChunk {
		t.Errorf("allocated %d bytes for a 4-byte payload", alloc)
	}
}

// allocated returns the bytes of heap f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frames([]byte("hello"), []byte{}), 100)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, DefaultMaxFrame)
	f.Add(frames(make([]byte, 50))[:20], 64)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if limit < 0 || limit > DefaultMaxFrame {
			limit = DefaultMaxFrame
		}
		r := bytes.NewReader(in)
		var hdr [frameHeaderLen]byte
		var total int
		alloc := allocated(func() {
			for range len(in)/frameHeaderLen + 1 {
				b, err := readFrame(r, limit, &hdr)
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFrameTooLarge) && err != errMarker {
						t.Errorf("unexpected error %v", err)
					}
					return
				}
				if len(b) > limit {
					t.Errorf("frame of %d bytes over the limit of %d", len(b), limit)
				}
				total += len(b)
			}
		})
		if total > len(in) {
			t.Errorf("read %d payload bytes from %d input bytes", total, len(in))
		}
		// A frame's buffer is at most one chunk ahead of the data, and
		// grows by doubling: never much more than the input.
		if bound := uint64(2*readChunk + 8*len(in) + 4096); alloc > bound {
			t.Errorf("allocated %d bytes for %d input bytes (bound %d)", alloc, len(in), bound)
		}
	})
}
