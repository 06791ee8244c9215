package client

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/protocol"
)

// Large strings and bytes, copied a piece at a time, encode and decode
// as the CBOR decoder has them, alone and inside other values.
func TestLargeValuesRoundTrip(t *testing.T) {
	blob := make([]byte, 3*protocol.LargePiece+5)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	text := strings.Repeat("é", protocol.LargePiece) // 2 bytes a character
	for _, v := range []any{blob, text, map[string]any{"a": blob, "b": text, "c": int64(1)}, []any{text, blob},
		[]any{int64(1), []any{blob, map[string]any{"t": text, "n": nil}}, Tuple{blob}, 2.5, "x"},
		map[string]any{"nested": map[string]any{"deep": []any{[]any{blob}}}},
		Tuple{blob, int64(3)}, Set{text}, []any{Tuple{Tuple{blob}}, Set{}}} {
		enc, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := decodeLarge(enc); !ok {
			t.Errorf("%T: not decoded in pieces", v)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := decMode.Unmarshal(enc, &want); err != nil {
			t.Fatal(err)
		}
		if want, _ = fromWire(want); !reflect.DeepEqual(got, want) {
			t.Errorf("%T: decoded value differs from the CBOR decoder's", v)
		}
	}
	if b, _ := Decode(mustEncode(t, blob)); !bytes.Equal(b.([]byte), blob) {
		t.Error("bytes differ")
	}
	if s, _ := Decode(mustEncode(t, text)); s.(string) != text {
		t.Error("text differs")
	}
}

// A large text string of invalid UTF-8, or one with bytes after it, is
// refused or left to the CBOR decoder, as a small one is.
func TestDecodeLargeRefusesBadInput(t *testing.T) {
	bad := mustEncode(t, strings.Repeat("a", protocol.LargePiece))
	bad[len(bad)-1] = 0xff
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	for name, b := range map[string][]byte{
		"an int key":     append([]byte{0xa1, 0x01}, mustEncode(t, make([]byte, 2*protocol.LargePiece))...),
		"a key twice":    append(append([]byte{0xa2, 0x61, 'k'}, mustEncode(t, make([]byte, 2*protocol.LargePiece))...), 0x61, 'k', 0x01),
		"a cut list":     append([]byte{0x83}, mustEncode(t, make([]byte, 2*protocol.LargePiece))...),
		"bad UTF-8 deep": append([]byte{0x81}, bad...),
		"a tagged blob":  append(mustEncode(t, Tuple{})[:3], mustEncode(t, make([]byte, 2*protocol.LargePiece))...),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	extra := append(mustEncode(t, make([]byte, protocol.LargePiece)), 0x01)
	if _, err := Decode(extra); err == nil {
		t.Error("trailing bytes accepted")
	}
	short := mustEncode(t, make([]byte, protocol.LargePiece))
	if _, err := Decode(short[:len(short)-1]); err == nil {
		t.Error("a cut value accepted")
	}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
