package protocol

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/fxamacker/cbor/v2"
)

// CBOR tags of Starlark values that have no plain CBOR form. Bigints use the
// standard bignum tags 2 and 3.
const (
	TagTuple     = 40301 // array
	TagSet       = 40302 // array
	TagStruct    = 40303 // map text → value, in field order
	TagFunction  = 40304 // Function
	TagReference = 40305 // text: an expression evaluated on the engine
	TagError     = 40306 // RemoteError, a failure held as a value
	// TagOrderedMap wraps a dict whose keys are not all strings, as an
	// array of [key, value] pairs in insertion order. Plain CBOR maps are
	// used when every key is a string; CBOR keeps their order on the wire.
	TagOrderedMap = 40307
	// TagComplexArray wraps an RFC 8746 multi-dimensional array (tag 40)
	// of little-endian float64 (tag 86) whose last dimension is 2 (real,
	// imaginary): a complex128 ndarray. Other ndarrays are plain RFC 8746
	// tag 40 arrays of tag 64 (bool as uint8), 79 (int64 LE) or 86
	// (float64 LE) typed arrays.
	TagComplexArray = 40308
	// TagRange is a range of ints, [start, stop, step]: a map chunk of a
	// range, sent as its bounds rather than its elements. Starlark
	// receivers get a range; Go receivers the list of its ints.
	TagRange = 40309
)

// Binding is a name and its encoded value.
type Binding struct {
	Name  string          `cbor:"1,keyasint"`
	Value cbor.RawMessage `cbor:"2,keyasint"`
}

// Function is a Starlark function in transit: its source text and the values
// it closes over. On the engine its other global names resolve in the
// engine's namespace.
type Function struct {
	// Name is the def's name, or "lambda".
	Name string `cbor:"1,keyasint"`
	// Source is the def statement (dedented) or the lambda expression.
	Source string `cbor:"2,keyasint"`
	// File and Line locate Source in the client's program, so that
	// tracebacks from the engine name the client's lines.
	File string `cbor:"3,keyasint,omitempty"`
	Line int    `cbor:"4,keyasint,omitempty"`
	Col  int    `cbor:"5,keyasint,omitempty"`
	// Free holds the values of the function's free variables.
	Free []Binding `cbor:"6,keyasint,omitempty"`
	// Defaults holds the evaluated defaults of parameters, by name.
	Defaults []Binding `cbor:"7,keyasint,omitempty"`
	Doc      string    `cbor:"8,keyasint,omitempty"`
}

// Limits bound what a decoder accepts from a peer.
type Limits struct {
	MaxDepth    int // nesting levels; 0 means 256
	MaxElements int // elements of one array or map; 0 means 1<<26
}

var (
	headerEnc, _ = cbor.EncOptions{}.EncMode()
	headerDec, _ = cbor.DecOptions{
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 16,
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
)

// decModes holds the modes DecMode made, by limits (at most
// maxDecModes): making one costs more than decoding a small value (an
// engine decodes a call per task).
var (
	decModes  sync.Map // Limits -> cbor.DecMode
	nDecModes atomic.Int32
)

const maxDecModes = 64

// DecMode returns a CBOR decoding mode for values (bodies) with the given
// limits; decoded maps are map[any]any unless the caller's type says
// otherwise.
func DecMode(l Limits) (cbor.DecMode, error) {
	if l.MaxDepth == 0 {
		l.MaxDepth = 256
	}
	if l.MaxElements == 0 {
		l.MaxElements = 1 << 26
	}
	if dm, ok := decModes.Load(l); ok {
		return dm.(cbor.DecMode), nil
	}
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  l.MaxDepth,
		MaxArrayElements: l.MaxElements,
		MaxMapPairs:      l.MaxElements,
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IntDec:           cbor.IntDecConvertSignedOrBigInt,
	}.DecMode()
	if err != nil {
		return nil, fmt.Errorf("cbor decode options: %w", err)
	}
	if nDecModes.Add(1) <= maxDecModes {
		decModes.Store(l, dm)
	}
	return dm, nil
}

// MarshalValue encodes a header-like Go value (used for control bodies).
func MarshalValue(v any) ([]byte, error) { return headerEnc.Marshal(v) }

// UnmarshalValue decodes a control body into v.
func UnmarshalValue(b []byte, v any) error { return headerDec.Unmarshal(b, v) }

// PartsMayHoldArray is MayHoldArray of the start of the concatenation
// of parts (a value encoded in parts): a sender marks a body whose value
// may not (quic.Body.Unmapped), since its receivers will read it.
func PartsMayHoldArray(parts [][]byte) bool {
	var prefix []byte
	for _, p := range parts {
		if len(prefix) == 0 && len(p) >= PeekArrayBytes {
			return MayHoldArray(p[:PeekArrayBytes])
		}
		prefix = append(prefix, p[:min(len(p), PeekArrayBytes-len(prefix))]...)
		if len(prefix) == PeekArrayBytes {
			break
		}
	}
	return MayHoldArray(prefix)
}

// PeekArrayBytes is how much of an encoded value MayHoldArray looks at.
const PeekArrayBytes = 4096

// MayHoldArray reports whether prefix, the start of an encoded value,
// has the head of an RFC 8746 multi-dimensional array (tag 40, in any
// head width, on a two-element array): a receiver maps a large body
// whose value may hold a large array, and reads any other. It may err
// both ways (a byte string can hold the bytes; an array can start
// further on); either way the value decodes the same.
func MayHoldArray(prefix []byte) bool {
	for k := 0; k < len(prefix); k++ {
		var w int
		switch prefix[k] {
		case 0xd8:
			w = 1
		case 0xd9:
			w = 2
		case 0xda:
			w = 4
		case 0xdb:
			w = 8
		default:
			continue
		}
		if k+1+w >= len(prefix) || prefix[k+w+1] != 0x82 {
			continue
		}
		tag := uint64(0)
		for _, c := range prefix[k+1 : k+1+w] {
			tag = tag<<8 | uint64(c)
		}
		if tag == 40 {
			return true
		}
	}
	return false
}
