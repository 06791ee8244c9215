package client

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
	"unsafe"

	"github.com/pxsh/pxsh/protocol"
)

// decodeLarge decodes b if it is one large byte or text string (a pulled
// or returned blob), copying it in pieces (protocol.LargePiece: one copy
// of 1 GiB stopped the whole client for as long); ok is false for
// anything else, which the CBOR decoder takes.
func decodeLarge(b []byte) (v any, ok bool, err error) {
	if len(b) <= protocol.LargePiece {
		return nil, false, nil
	}
	major, info := b[0]&0xe0, b[0]&0x1f
	if major != majorBytes && major != majorText {
		return nil, false, nil
	}
	var n uint64
	var head int
	switch info {
	case 26:
		n, head = uint64(binary.BigEndian.Uint32(b[1:5])), 5
	case 27:
		n, head = binary.BigEndian.Uint64(b[1:9]), 9
	default:
		return nil, false, nil
	}
	if n != uint64(len(b)-head) {
		return nil, false, nil // more after it, or cut short: the decoder says which
	}
	out := make([]byte, n)
	protocol.CopyLarge(out, b[head:])
	if major == majorBytes {
		return out, true, nil
	}
	if !utf8.Valid(out) {
		return nil, true, errors.New("decode value: invalid UTF-8 in text string")
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), true, nil
}
