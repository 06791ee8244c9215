package protocol

import (
	"bytes"
	"strings"
	"testing"
)

// AppendLarge, StringLarge and CopyLarge give what append, string and
// copy give, with and without room in the buffer.
func TestLargeCopies(t *testing.T) {
	src := make([]byte, 3*LargePiece+7)
	for i := range src {
		src[i] = byte(i * 13)
	}
	for _, b := range [][]byte{nil, []byte("head"), make([]byte, 4, 4+len(src))} {
		want := append(append([]byte(nil), b...), src...)
		if got := AppendLarge(b, src); !bytes.Equal(got, want) {
			t.Errorf("AppendLarge(%d bytes, cap %d): differs", len(b), cap(b))
		}
		if got := AppendLarge(b, string(src)); !bytes.Equal(got, want) {
			t.Errorf("AppendLarge of a string: differs")
		}
	}
	if s := StringLarge(src); s != string(src) {
		t.Error("StringLarge differs")
	}
	dst := make([]byte, len(src))
	CopyLarge(dst, strings.Repeat("x", len(src)))
	if !bytes.Equal(dst, bytes.Repeat([]byte("x"), len(src))) {
		t.Error("CopyLarge differs")
	}
}
