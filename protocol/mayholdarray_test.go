package protocol

import "testing"

// MayHoldArray finds a tag 40 head of any width on a two-element array,
// and nothing else.
func TestMayHoldArray(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"shortest head", []byte{0xa1, 0x61, 'a', 0xd8, 0x28, 0x82, 0x81}, true},
		{"2-byte tag", []byte{0xd9, 0x00, 0x28, 0x82}, true},
		{"4-byte tag", []byte{0x00, 0xda, 0x00, 0x00, 0x00, 0x28, 0x82}, true},
		{"8-byte tag", []byte{0xdb, 0, 0, 0, 0, 0, 0, 0, 0x28, 0x82}, true},
		{"complex array", []byte{0xd9, 0x9d, 0x74, 0xd8, 0x28, 0x82}, true},
		{"tag 40 on another item", []byte{0xd8, 0x28, 0x83}, false},
		{"another tag", []byte{0xd8, 0x29, 0x82}, false},
		{"cut short", []byte{0xd8, 0x28}, false},
		{"bytes", []byte{0x5a, 0, 0x10, 0, 0, 1, 2, 3}, false},
		{"empty", nil, false},
	} {
		if got := MayHoldArray(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// PartsMayHoldArray looks at the first PeekArrayBytes of the parts
// together, wherever the parts split them.
func TestPartsMayHoldArray(t *testing.T) {
	head := []byte{0xd8, 40, 0x82}
	far := append(make([]byte, PeekArrayBytes-len(head)), head...)
	beyond := append(make([]byte, PeekArrayBytes), head...)
	for _, c := range []struct {
		name  string
		parts [][]byte
		want  bool
	}{
		{"none", nil, false},
		{"in one part", [][]byte{head}, true},
		{"split across parts", [][]byte{head[:1], {}, head[1:]}, true},
		{"at the end of the look", [][]byte{far[:10], far[10:]}, true},
		{"beyond the look", [][]byte{beyond}, false},
		{"beyond, in parts", [][]byte{beyond[:PeekArrayBytes-1], beyond[PeekArrayBytes-1:]}, false},
	} {
		if got := PartsMayHoldArray(c.parts); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
