package starlarklib

import (
	"runtime"
	"strings"
)

// copyPiece is the most the codec copies in one go. One copy of a large
// value (a single runtime memmove) cannot be preempted, and engines run
// with one P: a 1 GB copy, page faults included, kept the engine's
// transport from answering for seconds on a loaded machine, and the
// controller declared it dead. Copying in pieces, yielding between
// them, lets the other goroutines run.
const copyPiece = 4 << 20

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
