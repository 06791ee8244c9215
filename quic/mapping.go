package quic

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// Mapping is a received memfd body mapped into this process's memory,
// private and copy-on-write (writes change this mapping only, never the
// sealed memfd or another receiver's view of it). The memory is not the
// Go heap: it stays mapped while the *Mapping is reachable and is
// unmapped by a cleanup after the collector finds it unreachable. So
// whoever uses Bytes, or memory inside it, must keep the *Mapping
// reachable meanwhile (hold it in the value that aliases it, or
// runtime.KeepAlive); a slice into it kept without its Mapping is a
// use-after-unmap, a crash.
type Mapping struct {
	b []byte
}

// Bytes returns the mapped body, valid while m is reachable.
func (m *Mapping) Bytes() []byte { return m.b }

// Live mappings, for tests and for pacing the collector (newMapping).
var mapLive, mapLiveBytes, mapSinceGC atomic.Int64

// MappingCounts reports how many body mappings are live (mapped and not
// unmapped yet) and their bytes.
func MappingCounts() (n, bytes int64) { return mapLive.Load(), mapLiveBytes.Load() }

// mapMinGC is the fewest bytes of bodies mapped between two collections
// the mapper starts itself: the collector paces itself by the Go heap,
// which mapped bodies are not part of, so a loop that maps large bodies
// and drops them would otherwise keep them all mapped until the heap
// alone triggered a cycle. A variable for tests.
var mapMinGC int64 = 256 << 20

// newMapping wraps mem, a fresh mapping, in a Mapping that unmaps it once
// unreachable, and starts a collection when the bytes mapped since the
// last one it started exceed both mapMinGC and the mapped bytes that were
// live before them (as GOGC=100 paces the heap).
func newMapping(mem []byte) *Mapping {
	m := &Mapping{b: mem}
	n := int64(len(mem))
	mapLive.Add(1)
	live := mapLiveBytes.Add(n)
	runtime.AddCleanup(m, unmapBody, mem)
	if since := mapSinceGC.Add(n); since > max(mapMinGC, live-since) {
		mapSinceGC.Store(0)
		runtime.GC()
	}
	return m
}

// unmapBody unmaps a Mapping's memory once the Mapping is unreachable.
func unmapBody(mem []byte) {
	if err := munmap(mem); err != nil {
		return // leaked, not unmapped twice
	}
	mapLive.Add(-1)
	mapLiveBytes.Add(-int64(len(mem)))
}

// mapBody maps a memfd body (a variable for tests of the fallback).
var mapBody = mapFile

// errNotMemfd says a body does not come as a memfd.
var errNotMemfd = errors.New("not a memfd body")

// Map maps the whole body, which must come as a memfd (Memfd) and not be
// read yet, instead of reading it: no copy is made, and the pages are
// the memfd's until written. The memfd is then released (acknowledged),
// as after Bytes. A memfd not sealed (Unmapped), or one whose mapping
// fails, is read into Go memory held by the Mapping instead.
func (b *Body) Map() (*Mapping, error) {
	if b.mfd == nil || !memfdSupported {
		return nil, fmt.Errorf("map body: %w", errNotMemfd)
	}
	f, err := b.fdFile()
	if err != nil {
		return nil, err
	}
	defer b.releaseFD()
	if b.read != 0 || b.size == 0 {
		return nil, fmt.Errorf("map body: %d of %d bytes read already", b.read, b.size)
	}
	mem, err := []byte(nil), errNotMemfd
	if b.mfd.isSealed() { // one not sealed may change: it is read
		mem, err = mapBody(f, b.size)
	}
	if err != nil { // not sealed, or out of mappings or address space: read it instead
		buf := make([]byte, b.size)
		if err := readPieces(f, buf, 0); err != nil {
			return nil, fmt.Errorf("%w: read memfd: %w", ErrBodyAborted, unexpected(err))
		}
		b.read = b.size
		return &Mapping{b: buf}, nil // Go memory: the collector keeps it as long as the Mapping
	}
	b.read = b.size
	return newMapping(mem), nil
}

// Peek returns up to n bytes from the start of a memfd body without
// consuming it (a receiver choosing between Map and Bytes); nil for
// another body.
func (b *Body) Peek(n int) ([]byte, error) {
	if b.mfd == nil || b.read != 0 {
		return nil, nil
	}
	f, err := b.mfd.wait()
	if err != nil {
		return nil, nil // Map or Bytes reports it
	}
	p := make([]byte, min(int64(n), b.size))
	if _, err := f.ReadAt(p, 0); err != nil {
		return nil, fmt.Errorf("%w: read memfd: %w", ErrBodyAborted, unexpected(err))
	}
	return p, nil
}
