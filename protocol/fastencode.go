package protocol

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The fast encoder writes flat Request and Result headers by hand, byte
// for byte as the generic encoder does (fields in declaration order,
// omitempty fields left out when zero, shortest integer heads); a header
// with nested fields, a NaN or infinite timeout or invalid UTF-8 goes to
// the generic encoder.

// flatWriter appends a header map's fields.
type flatWriter struct {
	b  []byte
	n  int // fields written
	ok bool
}

// AppendHead appends a CBOR initial byte of major type m (in its top
// three bits: 0x00 unsigned, 0x20 negative, 0x40 bytes, ...) with
// argument n in its shortest form.
func AppendHead(b []byte, m byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// ReadHead reads the CBOR head at the start of b: its major type (in the
// top three bits, as AppendHead takes it), its argument and its size in
// bytes; ok is false for indefinite lengths, reserved values and short
// input.
func ReadHead(b []byte) (m byte, arg uint64, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, false
	}
	m, ai := b[0]&0xe0, b[0]&0x1f
	switch {
	case ai < 24:
		return m, uint64(ai), 1, true
	case ai == 24 && len(b) >= 2:
		return m, uint64(b[1]), 2, true
	case ai == 25 && len(b) >= 3:
		return m, uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case ai == 26 && len(b) >= 5:
		return m, uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case ai == 27 && len(b) >= 9:
		return m, binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, 0, false
}

func (w *flatWriter) key(k int) {
	w.b = AppendHead(w.b, 0x00, uint64(k))
	w.n++
}

func (w *flatWriter) int(k int, v int64, omitEmpty bool) {
	if omitEmpty && v == 0 {
		return
	}
	w.key(k)
	if v >= 0 {
		w.b = AppendHead(w.b, 0x00, uint64(v))
	} else {
		w.b = AppendHead(w.b, 0x20, uint64(-1-v))
	}
}

func (w *flatWriter) text(k int, s string, omitEmpty bool) {
	if omitEmpty && s == "" {
		return
	}
	if !utf8.ValidString(s) {
		w.ok = false
		return
	}
	w.key(k)
	w.b = append(AppendHead(w.b, 0x60, uint64(len(s))), s...)
}

func (w *flatWriter) bool(k int, v bool) { // always omitempty
	if !v {
		return
	}
	w.key(k)
	w.b = append(w.b, 0xf5)
}

func (w *flatWriter) float(k int, v float64) { // always omitempty
	if v == 0 {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.ok = false
		return
	}
	w.key(k)
	w.b = binary.BigEndian.AppendUint64(append(w.b, 0xfb), math.Float64bits(v))
}

// request writes r's fields; it reports false when r is not flat.
func (w *flatWriter) request(r *Request) bool {
	if r.Targets != nil || r.After != nil || r.Follow != nil || r.Fan != nil {
		return false
	}
	w.text(1, r.MsgID, false)
	w.text(2, r.Client, true)
	w.text(3, string(r.Kind), false)
	w.int(4, int64(r.Engine), false)
	w.bool(5, r.Silent)
	w.float(6, r.Timeout)
	w.int(7, r.Submitted, true)
	w.text(8, r.Label, true)
	w.int(10, int64(r.Retries), true)
	w.int(11, int64(r.Priority), true)
	w.bool(14, r.DepAny)
	w.bool(15, r.DepSuccess)
	w.bool(16, r.DepFailure)
	w.text(17, r.Name, true)
	w.bool(19, r.Prefetched)
	w.text(20, r.Share, true)
	w.int(21, int64(r.ShareN), true)
	w.text(22, r.SharedBody, true)
	w.text(23, r.BodyOf, true)
	return w.ok
}

// result writes r's fields; it reports false when r has an Error.
func (w *flatWriter) result(r *Result) bool {
	if r.Error != nil {
		return false
	}
	w.text(1, r.MsgID, false)
	w.int(2, int64(r.Engine), false)
	w.text(3, string(r.Status), false)
	w.int(4, r.Submitted, true)
	w.int(5, r.Started, true)
	w.int(6, r.Completed, true)
	w.text(7, r.Stdout, true)
	w.text(8, r.Stderr, true)
	w.int(10, int64(r.ExecCount), true)
	w.text(11, string(r.Kind), true)
	w.bool(12, r.HasValue)
	w.text(13, r.Client, true)
	w.text(14, r.Label, true)
	w.int(15, r.Received, true)
	return w.ok
}

// appendFlat appends a frame of type t with h's encoding as its header
// when h is a flat Request or Result of fewer than 128 bytes (one byte of
// length, one of map head: at most 23 fields); ok is false otherwise and
// dst is then unchanged.
func appendFlat(dst []byte, t Type, h any) (_ []byte, ok bool) {
	start := len(dst)
	w := flatWriter{b: append(dst, byte(t), 0, 0), ok: true}
	switch h := h.(type) {
	case *Request:
		ok = w.request(h)
	case Request:
		ok = w.request(&h)
	case *Result:
		ok = w.result(h)
	case Result:
		ok = w.result(&h)
	}
	n := len(w.b) - start - 2
	if !ok || n >= 128 || w.n > 23 {
		return dst, false
	}
	w.b[start+1] = byte(n)
	w.b[start+2] = 5<<5 | byte(w.n)
	return w.b, true
}
