package quic

import (
	"errors"
	"fmt"
)

// Sealed is a body's bytes kept in a sealed memfd, which cannot change:
// it can be sent any number of times (Body), and to a local peer each
// send passes the descriptor without copying. Release drops the
// holder's reference; the memfd closes once no body sent from it is
// pending either.
type Sealed struct {
	fd   *sharedFD
	size int64
}

// NewSealed copies the concatenation of parts into a new sealed memfd
// before it returns, so the parts may change afterwards. It fails where
// memfds are not available (not Linux, PXSH_MEMFD_MIN=off) or below
// FDMin.
func NewSealed(parts [][]byte) (*Sealed, error) {
	var size int64
	for _, p := range parts {
		size += int64(len(p))
	}
	if size < FDMin || size == 0 {
		return nil, errors.New("seal body: smaller than the memfd threshold")
	}
	f, err := newMemfd(parts, size)
	if err != nil {
		return nil, fmt.Errorf("seal body: %w", err)
	}
	s := newSharedFD()
	s.set(f, true, func(bool) {})
	return &Sealed{fd: s, size: size}, nil
}

// Size is the body's size in bytes.
func (s *Sealed) Size() int64 { return s.size }

// Body returns a body over the memfd, for one send (Conn.WriteStream);
// the body holds its own reference until it is sent or discarded.
func (s *Sealed) Body() *Body {
	s.fd.ref(1)
	return newFDBody(s.size, s.fd)
}

// Hold adds a reference, which Release drops.
func (s *Sealed) Hold() { s.fd.ref(1) }

// Release drops a reference (NewSealed's or Hold's).
func (s *Sealed) Release() { s.fd.unref() }

// LocalMemfds reports whether a body of FDMin bytes or more written now
// would go to the peer as a memfd (the local bulk channel is attached).
func (c *Conn) LocalMemfds() bool {
	c.impl.wmu.Lock()
	defer c.impl.wmu.Unlock()
	return c.impl.bulk != nil && c.impl.bulk.local && memfdSupported && FDMin < 1<<62
}
