package starlarklib

import (
	"runtime"
	"strings"
)

// copyPiece is the most the codec copies in one go. One copy of a large
// value (a single runtime memmove) cannot be preempted: engines run with
// one P, and a 1 GB copy kept an engine's transport from answering for
// seconds on a loaded machine (the controller declared it dead), while
// the garbage collector, which must stop the copying goroutine, spun on
// the other core. Copying in pieces, yielding between them, lets the
// other goroutines run.
const copyPiece = 1 << 20

// appendLarge appends s to b in pieces.
func appendLarge[S ~string | ~[]byte](b []byte, s S) []byte {
	for len(s) > copyPiece {
		b = append(b, s[:copyPiece]...)
		s = s[copyPiece:]
		runtime.Gosched()
	}
	return append(b, s...)
}

// stringLarge returns p as a string, copied in pieces.
func stringLarge(p []byte) string {
	if len(p) <= copyPiece {
		return string(p)
	}
	var sb strings.Builder
	sb.Grow(len(p))
	for len(p) > 0 {
		n := min(len(p), copyPiece)
		sb.Write(p[:n])
		p = p[n:]
		runtime.Gosched()
	}
	return sb.String()
}

// copyChunked is copy in pieces (see copyPiece).
func copyChunked(dst, src []byte) {
	for len(src) > copyPiece {
		copy(dst, src[:copyPiece])
		dst, src = dst[copyPiece:], src[copyPiece:]
		runtime.Gosched()
	}
	copy(dst, src)
}
