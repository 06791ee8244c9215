package client

import (
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/pxsh/pxsh/protocol"
)

// TestDecodeRange checks that a range on the wire decodes to the list of
// its ints, and that a malformed or huge one is refused.
func TestDecodeRange(t *testing.T) {
	enc := func(content any) []byte {
		b, err := cbor.Marshal(cbor.Tag{Number: protocol.TagRange, Content: content})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		bounds []int64
		want   []any
	}{
		{[]int64{3, 12, 3}, []any{int64(3), int64(6), int64(9)}},
		{[]int64{5, -1, -2}, []any{int64(5), int64(3), int64(1)}},
		{[]int64{4, 4, 1}, []any{}},
		{[]int64{4, 0, 1}, []any{}},
	} {
		got, err := Decode(enc(c.bounds))
		if err != nil {
			t.Fatalf("%v: %v", c.bounds, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%v: got %#v, want %#v", c.bounds, got, c.want)
		}
	}
	for name, content := range map[string]any{
		"zero step":        []int64{0, 5, 0},
		"two bounds":       []int64{0, 5},
		"text":             []any{"a", 5, 1},
		"too long":         []int64{0, 1 << 40, 1},
		"whole int64 span": []any{int64(-1 << 63), uint64(1<<63 - 1), 1},
	} {
		if v, err := Decode(enc(content)); err == nil {
			t.Errorf("%s: decoded %v", name, v)
		}
	}
}
