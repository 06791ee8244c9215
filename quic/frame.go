package quic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameHeaderLen is the size of a frame's big-endian length prefix.
const frameHeaderLen = 4

// readChunk is the most a frame reader allocates ahead of the bytes that
// have actually arrived: a peer announcing a large frame must send it
// before the reader's buffer grows past this.
const readChunk = 1 << 20

// errMarker is readFrame's answer to a length prefix that is a marker
// (stream.go): hdr holds it.
var errMarker = errors.New("stream marker")

// errSwitch is the decoder's answer to the switch marker.
var errSwitch = errors.New("switch marker")

// minMarker is the smallest length prefix that is a marker.
const minMarker = markerSwitch

// frameTooLargeError reports a frame over the size limit. It unwraps to
// ErrFrameTooLarge.
type frameTooLargeError struct {
	what  string // "frame" when empty
	size  uint64
	limit int
}

func (e *frameTooLargeError) Error() string {
	what := e.what
	if what == "" {
		what = "frame"
	}
	return fmt.Sprintf("%s of %d bytes over the limit of %d", what, e.size, e.limit)
}

func (e *frameTooLargeError) Unwrap() error { return ErrFrameTooLarge }

// readFrame reads one length-prefixed frame from r into a new buffer. It
// returns io.EOF when r ends cleanly before a frame, io.ErrUnexpectedEOF
// when it ends inside one, and a *frameTooLargeError, without reading the
// payload, when the announced length is over limit. Announced lengths are
// not trusted: the buffer grows with the data that arrives.
func readFrame(r io.Reader, limit int, hdr *[frameHeaderLen]byte) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint32(hdr[:]) >= minMarker {
		return nil, errMarker
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > limit || n < 0 {
		return nil, &frameTooLargeError{size: uint64(binary.BigEndian.Uint32(hdr[:])), limit: limit}
	}
	if n <= readChunk {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	buf := make([]byte, 0, readChunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// unexpected turns an end of input inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameLen sums the parts of a frame and checks it against limit.
func frameLen(parts [][]byte, limit int) (int, error) {
	var n uint64
	for _, p := range parts {
		n += uint64(len(p))
	}
	if n > uint64(limit) || n >= minMarker {
		return 0, &frameTooLargeError{size: n, limit: limit}
	}
	return int(n), nil
}
