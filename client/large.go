package client

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/pxsh/pxsh/protocol"
)

// Large strings are decoded here, copied in pieces (protocol.LargePiece):
// the CBOR decoder copies each in one go, and one copy of 1 GiB stopped
// the whole client for as long (its collector waits for the copy). Taken
// here: a large byte or text string, and the lists, tuples, sets and
// string-keyed maps of a few elements that hold one (several values
// pulled at once, a tuple or dict returned), maxLargeDepth levels deep;
// anything else goes to the CBOR decoder.
const (
	maxLargeItems = 256
	maxLargeDepth = 8
)

// decodeLarge decodes b if it is one value taken here; ok is false for
// anything else.
func decodeLarge(b []byte) (v any, ok bool, err error) {
	if len(b) <= protocol.LargePiece {
		return nil, false, nil
	}
	v, rest, ok, err := largeItem(b, 0)
	if !ok || len(rest) != 0 {
		return nil, false, nil // more after it: the CBOR decoder says what
	}
	return v, true, err
}

// largeItem decodes the first item of b if it is taken here (see above),
// and returns what follows it.
func largeItem(b []byte, depth int) (v any, rest []byte, ok bool, err error) {
	major, n, size, ok := protocol.ReadHead(b)
	if !ok || depth > maxLargeDepth {
		return nil, nil, false, nil
	}
	switch major {
	case majorBytes, majorText:
		if n <= protocol.LargePiece || n > uint64(len(b)-size) {
			return nil, nil, false, nil
		}
		v, err := largeString(major, b[size:size+int(n)])
		return v, b[size+int(n):], true, err
	case majorArray:
		if n > maxLargeItems || len(b) <= protocol.LargePiece {
			return nil, nil, false, nil
		}
		list := make([]any, n)
		rest = b[size:]
		for i := range list {
			if list[i], rest, err = anyItem(rest, depth); err != nil {
				return nil, nil, true, err
			}
		}
		return list, rest, true, nil
	case majorMap:
		if n > maxLargeItems || len(b) <= protocol.LargePiece {
			return nil, nil, false, nil
		}
		m, rest, err := largeMap(b[size:], int(n), depth)
		return m, rest, true, err
	case majorTag:
		if n != protocol.TagTuple && n != protocol.TagSet {
			return nil, nil, false, nil
		}
		v, rest, ok, err := largeItem(b[size:], depth+1)
		l, isList := v.([]any)
		if !ok || err == nil && !isList {
			return nil, nil, false, nil // not an array: the decoder says so
		}
		if err != nil {
			return nil, nil, true, err
		}
		if n == protocol.TagTuple {
			return Tuple(l), rest, true, nil
		}
		return Set(l), rest, true, nil
	}
	return nil, nil, false, nil
}

// largeMap decodes the n pairs at the start of b as a dict.
func largeMap(b []byte, n, depth int) (m map[string]any, rest []byte, err error) {
	m = make(map[string]any, n)
	rest = b
	for range n {
		var k any
		if rest, err = decMode.UnmarshalFirst(rest, &k); err != nil {
			return nil, nil, fmt.Errorf("decode value: %w", err)
		}
		s, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("decode value: dict key %v is not a string", k)
		}
		if _, dup := m[s]; dup {
			return nil, nil, fmt.Errorf("decode value: dict key %q twice", s)
		}
		if m[s], rest, err = anyItem(rest, depth); err != nil {
			return nil, nil, err
		}
	}
	return m, rest, nil
}

// anyItem decodes the first item of b, here or by the CBOR decoder.
func anyItem(b []byte, depth int) (any, []byte, error) {
	if v, rest, ok, err := largeItem(b, depth+1); ok {
		return v, rest, err
	}
	var x any
	rest, err := decMode.UnmarshalFirst(b, &x)
	if err != nil {
		return nil, nil, fmt.Errorf("decode value: %w", err)
	}
	v, err := fromWire(x)
	return v, rest, err
}

// largeString copies a byte or text string's content p in pieces.
func largeString(major byte, p []byte) (any, error) {
	out := make([]byte, len(p))
	protocol.CopyLarge(out, p)
	if major == majorBytes {
		return out, nil
	}
	if !utf8.Valid(out) {
		return nil, errors.New("decode value: invalid UTF-8 in text string")
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), nil
}
