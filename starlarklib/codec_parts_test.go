package starlarklib

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"go.starlark.net/starlark"
)

// TestEncodeParts: the parts join to Encode's bytes, and each string or
// bytes value of PartMin bytes or more is a part that points at it.
func TestEncodeParts(t *testing.T) {
	big := starlark.Bytes(strings.Repeat("b", PartMin))
	text := starlark.String(strings.Repeat("é", PartMin/2+1))
	small := starlark.Bytes(strings.Repeat("s", PartMin-1))
	d := starlark.NewDict(4)
	d.SetKey(starlark.String("big"), big)
	d.SetKey(starlark.String("n"), starlark.MakeInt(7))
	d.SetKey(starlark.String("list"), starlark.NewList([]starlark.Value{text, starlark.Float(1.5), big}))
	d.SetKey(starlark.String("small"), small)
	cases := []struct {
		name  string
		v     starlark.Value
		large []string // the values that must be parts of their own, in order
	}{
		{"dict", d, []string{string(big), string(text), string(big)}},
		{"bytes alone", big, []string{string(big)}},
		{"under the threshold", small, nil},
		{"empty", starlark.Bytes(""), nil},
		{"int", starlark.MakeInt(1), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := Encode(c.v, nil)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := EncodeParts(c.v, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(parts, nil); !bytes.Equal(got, want) {
				t.Fatalf("joined parts (%d bytes) differ from Encode (%d bytes)", len(got), len(want))
			}
			aliases := 0
			for _, p := range parts {
				if aliasesOneOf(p, c.large) {
					aliases++
				}
			}
			if aliases != len(c.large) {
				t.Errorf("%d parts point at a value, want %d", aliases, len(c.large))
			}
		})
	}
	if _, err := EncodeParts(starlark.String("\xff"), nil); err == nil {
		t.Error("invalid UTF-8: no error")
	}
}

func aliasesOneOf(p []byte, vals []string) bool {
	for _, v := range vals {
		if unsafe.SliceData(p) == unsafe.StringData(v) && len(p) == len(v) {
			return true
		}
	}
	return false
}
