package protocol

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The fast path decodes the common Request and Result headers (a flat
// map of small integer keys to integers, text, bools and float64s) by
// hand; the generic decoder costs several microseconds per header at
// every hop. Anything else (nested fields, unknown keys, duplicates,
// non-minimal forms the fast path does not know, trailing bytes) makes it
// decline, and the generic decoder then decides, so accepted input and
// errors are the generic decoder's.

// flatReader reads CBOR data items of a flat header map.
type flatReader struct {
	b []byte
	i int
}

// head reads an item's major type (0-7) and argument; ok is false for
// indefinite lengths, reserved values and short input.
func (r *flatReader) head() (major byte, arg uint64, ok bool) {
	m, arg, size, ok := ReadHead(r.b[r.i:])
	r.i += size
	return m >> 5, arg, ok
}

// int reads an integer that fits an int.
func (r *flatReader) int() (int, bool) {
	v, ok := r.int64()
	if !ok || v < math.MinInt || v > math.MaxInt {
		return 0, false
	}
	return int(v), true
}

func (r *flatReader) int64() (int64, bool) {
	major, arg, ok := r.head()
	if !ok || arg > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case 0:
		return int64(arg), true
	case 1:
		return -1 - int64(arg), true
	}
	return 0, false
}

// text reads a valid UTF-8 text string.
func (r *flatReader) text() (string, bool) {
	major, n, ok := r.head()
	if !ok || major != 3 || n > uint64(len(r.b)-r.i) {
		return "", false
	}
	s := r.b[r.i : r.i+int(n)]
	if !utf8.Valid(s) {
		return "", false
	}
	r.i += int(n)
	return string(s), true
}

func (r *flatReader) bool() (bool, bool) {
	if r.i >= len(r.b) {
		return false, false
	}
	switch r.b[r.i] {
	case 0xf4:
		r.i++
		return false, true
	case 0xf5:
		r.i++
		return true, true
	}
	return false, false
}

// float64 reads a double-precision float (how headers are encoded).
func (r *flatReader) float64() (float64, bool) {
	if r.i+9 > len(r.b) || r.b[r.i] != 0xfb {
		return 0, false
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(r.b[r.i+1:]))
	r.i += 9
	return v, true
}

// flatMap reads the map head and calls field for each key (1..63, each
// once); it reports false unless every field was read and the input ends
// with the map.
func flatMap(b []byte, field func(r *flatReader, key int) bool) bool {
	r := flatReader{b: b}
	major, n, ok := r.head()
	if !ok || major != 5 || n > 63 {
		return false
	}
	var seen uint64
	for range n {
		major, key, ok := r.head()
		if !ok || major != 0 || key == 0 || key > 63 || seen&(1<<key) != 0 {
			return false
		}
		seen |= 1 << key
		if !field(&r, int(key)) {
			return false
		}
	}
	return r.i == len(b)
}

// fastRequest decodes a flat Request header into h; false leaves h as it
// was.
func fastRequest(b []byte, h *Request) bool {
	t := *h
	ok := flatMap(b, func(r *flatReader, key int) (ok bool) {
		switch key {
		case 1:
			t.MsgID, ok = r.text()
		case 2:
			t.Client, ok = r.text()
		case 3:
			var s string
			s, ok = r.text()
			t.Kind = Kind(s)
		case 4:
			t.Engine, ok = r.int()
		case 5:
			t.Silent, ok = r.bool()
		case 6:
			t.Timeout, ok = r.float64()
		case 7:
			t.Submitted, ok = r.int64()
		case 8:
			t.Label, ok = r.text()
		case 10:
			t.Retries, ok = r.int()
		case 11:
			t.Priority, ok = r.int()
		case 14:
			t.DepAny, ok = r.bool()
		case 15:
			t.DepSuccess, ok = r.bool()
		case 16:
			t.DepFailure, ok = r.bool()
		case 17:
			t.Name, ok = r.text()
		case 19:
			t.Prefetched, ok = r.bool()
		case 20:
			t.Share, ok = r.text()
		case 21:
			t.ShareN, ok = r.int()
		case 22:
			t.SharedBody, ok = r.text()
		case 23:
			t.BodyOf, ok = r.text()
		}
		return ok
	})
	if ok {
		*h = t
	}
	return ok
}

// fastResult decodes a Result header without an Error into h; false
// leaves h as it was.
func fastResult(b []byte, h *Result) bool {
	t := *h
	ok := flatMap(b, func(r *flatReader, key int) (ok bool) {
		switch key {
		case 1:
			t.MsgID, ok = r.text()
		case 2:
			t.Engine, ok = r.int()
		case 3:
			var s string
			s, ok = r.text()
			t.Status = Status(s)
		case 4:
			t.Submitted, ok = r.int64()
		case 5:
			t.Started, ok = r.int64()
		case 6:
			t.Completed, ok = r.int64()
		case 7:
			t.Stdout, ok = r.text()
		case 8:
			t.Stderr, ok = r.text()
		case 10:
			t.ExecCount, ok = r.int()
		case 11:
			var s string
			s, ok = r.text()
			t.Kind = Kind(s)
		case 12:
			t.HasValue, ok = r.bool()
		case 13:
			t.Client, ok = r.text()
		case 14:
			t.Label, ok = r.text()
		case 15:
			t.Received, ok = r.int64()
		}
		return ok
	})
	if ok {
		*h = t
	}
	return ok
}
