package kernel

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"
)

// flushAfter is how long written output may wait before it is published:
// prints appear as they happen, and a loop of prints makes a few messages
// rather than one per line.
const flushAfter = 50 * time.Millisecond

// streams publishes what the session writes as IOPub stream messages, in
// the order written, with the running request as parent.
type streams struct {
	k *Kernel

	mu     sync.Mutex
	parent json.RawMessage
	segs   []segment
	timer  *time.Timer

	flushMu sync.Mutex // one flush at a time, so output stays in order
}

type segment struct {
	name string
	text []byte
}

func (st *streams) writer(name string) io.Writer { return streamWriter{st, name} }

type streamWriter struct {
	st   *streams
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.st.write(w.name, p)
	return len(p), nil
}

func (st *streams) write(name string, p []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if n := len(st.segs); n == 0 || st.segs[n-1].name != name {
		st.segs = append(st.segs, segment{name: name})
	}
	last := &st.segs[len(st.segs)-1]
	last.text = append(last.text, p...)
	if st.timer == nil {
		st.timer = time.AfterFunc(flushAfter, st.flush)
	}
}

// setParent publishes what is pending and makes later output children of
// parent.
func (st *streams) setParent(parent json.RawMessage) {
	st.flush()
	st.mu.Lock()
	st.parent = parent
	st.mu.Unlock()
}

// flush publishes what is pending.
func (st *streams) flush() {
	st.flushMu.Lock()
	defer st.flushMu.Unlock()
	st.mu.Lock()
	segs, parent := st.segs, st.parent
	st.segs = nil
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	st.mu.Unlock()
	for i := range segs {
		// Notebooks honour \r (progress bars redraw in place) but not the
		// terminal's erase-line sequence.
		text := strings.ReplaceAll(string(segs[i].text), "\x1b[K", "")
		if text == "" {
			continue
		}
		st.k.publishRaw(parent, "stream", map[string]any{"name": segs[i].name, "text": text})
	}
}
