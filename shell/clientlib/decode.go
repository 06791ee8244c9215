package clientlib

import (
	"runtime"
	"sync"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
)

// Several finished tasks' values of at least parallelItemMin bytes, and
// parallelMin in all, are decoded side by side (a large value pulled from
// several engines, a gather's chunks): each on its own core instead of
// one after the other.
const (
	parallelItemMin = 64 << 10
	parallelMin     = 1 << 20
)

// decodeParallel decodes the large values of ar's finished tasks side by
// side and caches them for taskValue. It decodes without the namespace,
// which belongs to the caller's thread: a value holding a function is
// left to taskValue, which rebuilds it there.
func (ar *AsyncResult) decodeParallel() {
	todo, total := ar.largeUndecoded()
	if len(todo) < 2 || total < parallelMin || runtime.GOMAXPROCS(0) < 2 {
		return
	}
	var limits protocol.Limits
	if ar.rc != nil {
		limits = ar.rc.env.NS.DecodeOptions(nil).Limits
	}
	vals := make([]starlark.Value, len(todo))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k, i := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t := ar.res.Tasks[i]
			_, body := t.Result()
			o := &starlarklib.DecodeOptions{Limits: limits, Owned: t.ClaimBody(), Keep: t.Keep()} // as taskValue
			if v, err := starlarklib.Decode(body, o); err == nil {
				vals[k] = v
			}
			runtime.KeepAlive(t) // body may be t's mapping
		})
	}
	wg.Wait()
	ar.mu.Lock()
	defer ar.mu.Unlock()
	for k, i := range todo {
		if vals[k] != nil && ar.vals[i] == nil {
			ar.vals[i] = vals[k]
		}
	}
}

// largeUndecoded lists the finished tasks whose values of at least
// parallelItemMin bytes are not decoded yet, and their total size.
func (ar *AsyncResult) largeUndecoded() (todo []int, total int) {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if ar.vals == nil {
		ar.vals = make([]starlark.Value, len(ar.res.Tasks))
	}
	for i, t := range ar.res.Tasks {
		if !t.Ready() || ar.vals[i] != nil {
			continue
		}
		if r, body := t.Result(); r.Error == nil && r.HasValue && len(body) >= parallelItemMin {
			todo, total = append(todo, i), total+len(body)
		}
	}
	return todo, total
}
