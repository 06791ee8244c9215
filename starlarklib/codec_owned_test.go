package starlarklib

import (
	"strings"
	"testing"
	"unsafe"

	"go.starlark.net/starlark"
)

// With Owned, a large byte or text string that is most of the input points
// into it; small ones, and any without Owned, are copies. Values are equal
// either way.
func TestDecodeOwnedAliases(t *testing.T) {
	big := strings.Repeat("\xab", aliasMin)
	text := strings.Repeat("é", aliasMin)
	for _, c := range []struct {
		name  string
		v     starlark.Value
		owned bool
		alias bool
	}{
		{"bytes owned", starlark.Bytes(big), true, true},
		{"text owned", starlark.String(text), true, true},
		{"bytes not owned", starlark.Bytes(big), false, false},
		{"small bytes owned", starlark.Bytes("abc"), true, false},
		{"bytes beside more data", starlark.NewList([]starlark.Value{starlark.Bytes(big), starlark.Bytes(big + big)}), true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			enc, err := Encode(c.v, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(enc, &DecodeOptions{Owned: c.owned})
			if err != nil {
				t.Fatal(err)
			}
			if eq, err := starlark.Equal(got, c.v); err != nil || !eq {
				t.Fatalf("round trip: got a different value (%v)", err)
			}
			s := got
			if l, ok := got.(*starlark.List); ok {
				s = l.Index(0)
			}
			var str string
			switch x := s.(type) {
			case starlark.Bytes:
				str = string(x)
			case starlark.String:
				str = string(x)
			}
			p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
			start := uintptr(unsafe.Pointer(&enc[0]))
			inside := p >= start && p < start+uintptr(len(enc))
			if inside != c.alias {
				t.Fatalf("string points into the input: %v, want %v", inside, c.alias)
			}
		})
	}
}

// Strings of several MiB (encoded a MiB at a time) arrive byte for byte,
// owned or not.
func TestLargeStringsExact(t *testing.T) {
	b := make([]byte, 3<<20+7)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	for _, v := range []starlark.Value{starlark.Bytes(b), starlark.NewList([]starlark.Value{starlark.Bytes(b), starlark.Bytes(b[:5])})} {
		enc, err := Encode(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, owned := range []bool{false, true} {
			got, err := Decode(enc, &DecodeOptions{Owned: owned})
			if err != nil {
				t.Fatal(err)
			}
			if eq, err := starlark.Equal(got, v); err != nil || !eq {
				t.Fatalf("owned %v: the value changed", owned)
			}
		}
	}
}
