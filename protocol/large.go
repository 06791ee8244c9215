package protocol

import (
	"runtime"
	"strings"
)

// LargePiece is the most that AppendLarge, StringLarge and CopyLarge copy
// in one go. One copy of a large value (a single runtime memmove) cannot
// be preempted, and the garbage collector, which must stop the copying
// goroutine to scan its stack, spins on another processor meanwhile: an
// engine's transport (one P) did not answer for seconds during a 1 GB
// copy and was declared dead, and a client on two processors stopped
// reading its connection past its idle timeout. Copying in pieces and
// yielding between them lets the other goroutines run.
const LargePiece = 1 << 20

// AppendLarge appends s to b in pieces; when b lacks room, it moves to a
// new buffer (with an eighth more room) in pieces too.
func AppendLarge[S ~string | ~[]byte](b []byte, s S) []byte {
	if len(s) <= LargePiece {
		return append(b, s...)
	}
	n := len(b)
	if cap(b)-n < len(s) {
		size := n + len(s)
		grown := make([]byte, n, size+size/8)
		CopyLarge(grown, b)
		b = grown
	}
	b = b[:n+len(s)]
	CopyLarge(b[n:], s)
	return b
}

// StringLarge returns p as a string, copied in pieces.
func StringLarge(p []byte) string {
	if len(p) <= LargePiece {
		return string(p)
	}
	var sb strings.Builder
	sb.Grow(len(p))
	for len(p) > 0 {
		n := min(len(p), LargePiece)
		sb.Write(p[:n])
		p = p[n:]
		runtime.Gosched()
	}
	return sb.String()
}

// CopyLarge is copy in pieces.
func CopyLarge[S ~string | ~[]byte](dst []byte, src S) {
	for len(src) > LargePiece {
		copy(dst, src[:LargePiece])
		dst, src = dst[LargePiece:], src[LargePiece:]
		runtime.Gosched()
	}
	copy(dst, src)
}
