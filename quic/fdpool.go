package quic

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Memfds written again. A body marked Unmapped (its receivers read it,
// never map it) goes to a local peer in a memfd that is not sealed, and
// once the peer acknowledged it as released by every reader (ackLen, not
// ackHeldLen) the sender keeps the memfd in its connection's pool and
// writes the next such body into it: its pages are written again instead
// of allocated, zeroed and freed for every body (docs/ARCHITECTURE.md,
// "Memfds written again"). A memfd goes back only to the connection it
// was sent on, so a peer that kept a descriptor past its acknowledgement
// can read nothing it was not sent already; a hop forwards such a memfd
// and acknowledges it only once every peer it forwarded it to did.
const (
	// poolFiles bounds the memfds a connection keeps.
	poolFiles = 4
	// poolIdle is how long a kept memfd waits for a body before it is
	// closed and its memory freed.
	poolIdle = 5 * time.Second
)

// poolBytes bounds the bytes of the memfds a connection keeps; a larger
// body goes in a sealed memfd (a variable for tests).
var poolBytes int64 = 256 << 20

// Counts of the memfds not sealed that this process sent: kept once
// released, and closed because a peer may hold them still.
var fdKept, fdDropped atomic.Uint64

// MemfdReuseCounts reports how many memfds not sealed this process kept
// for later bodies once released, and how many it closed because a peer
// might hold them still (for tests and diagnostics).
func MemfdReuseCounts() (kept, dropped uint64) { return fdKept.Load(), fdDropped.Load() }

// fdPool is a connection's memfds kept for its next bodies.
type fdPool struct {
	mu     sync.Mutex
	files  []pooledFD
	bytes  int64
	timer  *time.Timer
	closed bool
}

type pooledFD struct {
	f     *os.File
	size  int64
	since time.Time
}

// get returns the kept memfd whose size is nearest to size, or nil.
func (p *fdPool) get(size int64) *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, k := range p.files {
		if best < 0 || absDiff(k.size, size) < absDiff(p.files[best].size, size) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	k := p.files[best]
	p.files = append(p.files[:best], p.files[best+1:]...)
	p.bytes -= k.size
	return k.f
}

// put keeps f, of size bytes, for a later body, or closes it when the
// pool is closed. Memfds closed here are closed after the pool's lock is
// released: closing the last descriptor of one frees its pages, which
// takes milliseconds that a writer taking a memfd (get) must not wait.
func (p *fdPool) put(f *os.File, size int64) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		f.Close()
		return
	}
	var out []*os.File
	for len(p.files) > 0 && (len(p.files) >= poolFiles || p.bytes+size > poolBytes) {
		out = append(out, p.drop()) // the oldest
	}
	p.files = append(p.files, pooledFD{f: f, size: size, since: time.Now()})
	p.bytes += size
	if p.timer == nil {
		p.timer = time.AfterFunc(poolIdle, p.trim)
	}
	p.mu.Unlock()
	closeAll(out)
}

// trim closes the memfds kept longer than poolIdle.
func (p *fdPool) trim() {
	p.mu.Lock()
	p.timer = nil
	var out []*os.File
	for len(p.files) > 0 && time.Since(p.files[0].since) >= poolIdle {
		out = append(out, p.drop())
	}
	if len(p.files) > 0 && !p.closed {
		p.timer = time.AfterFunc(poolIdle-time.Since(p.files[0].since), p.trim)
	}
	p.mu.Unlock()
	closeAll(out)
}

// drop takes the oldest kept memfd out of the pool and returns it, to
// be closed; p.mu is held.
func (p *fdPool) drop() *os.File {
	f := p.files[0].f
	p.bytes -= p.files[0].size
	p.files = p.files[1:]
	return f
}

// close closes the kept memfds and those put later.
func (p *fdPool) close() {
	p.mu.Lock()
	p.closed = true
	var out []*os.File
	for len(p.files) > 0 {
		out = append(out, p.drop())
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	closeAll(out)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// kept reports the memfds kept and their bytes (for tests).
func (p *fdPool) kept() (n int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.files), p.bytes
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
