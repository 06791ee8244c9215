package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Bodies shared by the engines of one process. The hub sends a
// fanned-out request's body once per engine process: to one engine (the
// carrier, Request.Share) and, to the others of the process, the request
// with only the body's name (Request.SharedBody). The carrier leaves the
// body here for them; each takes it before running its task.

// SharedWait bounds how long an engine waits for a body a sibling engine
// of its process carries (its connection may be slower, or lost).
const SharedWait = 60 * time.Second

// sharedTTL drops bodies nobody took (their tasks were aborted).
const sharedTTL = 10 * time.Minute

var (
	tokenOnce sync.Once
	token     string
)

// processToken is this process's random name, the same for every engine
// it runs (protocol.Register.Process).
func processToken() string {
	tokenOnce.Do(func() {
		var b [12]byte
		rand.Read(b[:])
		token = hex.EncodeToString(b[:])
	})
	return token
}

type sharedBody struct {
	body   []byte
	failed bool          // the carrier's body did not arrive
	left   int           // engines still to take it
	ready  chan struct{} // closed when body is set
	at     time.Time
}

var shared = struct {
	sync.Mutex
	m map[string]*sharedBody
}{m: map[string]*sharedBody{}}

func sharedEntry(key string) *sharedBody {
	s := shared.m[key]
	if s == nil {
		s = &sharedBody{ready: make(chan struct{}), at: time.Now()}
		shared.m[key] = s
	}
	return s
}

// putShared leaves body under key for n sibling engines.
func putShared(key string, body []byte, n int) {
	shared.Lock()
	defer shared.Unlock()
	for k, s := range shared.m {
		if time.Since(s.at) > sharedTTL {
			delete(shared.m, k)
		}
	}
	s := sharedEntry(key)
	s.body, s.left = body, s.left+n
	close(s.ready)
	if s.left <= 0 {
		delete(shared.m, key)
	}
}

// failShared tells the n sibling engines waiting under key that the body
// did not arrive.
func failShared(key string, n int) {
	shared.Lock()
	defer shared.Unlock()
	s := sharedEntry(key)
	s.failed, s.left = true, s.left+n
	close(s.ready)
	if s.left <= 0 {
		delete(shared.m, key)
	}
}

// takeShared waits for the body under key (at most SharedWait) and
// counts this engine as served; ok is false if it did not come.
func takeShared(ctx context.Context, key string) (body []byte, ok bool) {
	shared.Lock()
	s := sharedEntry(key)
	shared.Unlock()
	t := time.NewTimer(SharedWait)
	defer t.Stop()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, false
	case <-t.C:
		return nil, false
	}
	releaseShared(key)
	return s.body, !s.failed
}

// releaseShared counts one sibling as served (or as no longer waiting:
// its task was aborted).
func releaseShared(key string) {
	shared.Lock()
	defer shared.Unlock()
	s := sharedEntry(key)
	if s.left--; s.left <= 0 && isClosed(s.ready) {
		delete(shared.m, key)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
