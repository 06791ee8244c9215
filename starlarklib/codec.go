// Package starlarklib holds the Starlark builtins shared by the pxsh client
// and engines, and the codec that carries Starlark values (functions
// included, through hooks) to and from CBOR.
//
// The codec's wire format uses the tags of package protocol: None is CBOR
// null, ints are CBOR ints or bignums (tags 2 and 3), floats are float64,
// strings are text, bytes are byte strings, lists are arrays, tuples, sets,
// structs, functions, references and remote errors are tagged, dicts whose
// keys are all strings are CBOR maps in insertion order, and other dicts are
// tagged arrays of [key, value] pairs.
//
// starlarklib must not import engine, hub, quic or shell.
package starlarklib

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// EncodeOptions controls Encode and EncodeCall. The zero value (or nil)
// encodes plain values only.
type EncodeOptions struct {
	// ExportFunction turns a *starlark.Function into its wire form; nil
	// means functions cannot be sent.
	ExportFunction func(*starlark.Function) (*protocol.Function, error)
	// ExportBuiltin turns a *starlark.Builtin into a function that calls
	// the receiver's builtin of the same name; nil means builtins cannot
	// be sent.
	ExportBuiltin func(*starlark.Builtin) (*protocol.Function, error)
}

// DecodeOptions controls Decode and DecodeCall. The zero value (or nil)
// applies the default limits, refuses functions and decodes references as
// *Reference values.
type DecodeOptions struct {
	// Limits bounds nesting and container sizes; zero fields take the
	// defaults of protocol.Limits.
	Limits protocol.Limits
	// BuildFunction rebuilds a received function in the receiver's
	// namespace; nil means functions are refused with "cannot receive
	// function".
	BuildFunction func(*protocol.Function) (starlark.Value, error)
	// Reference evaluates a received Reference; nil means the *Reference
	// value itself is the result.
	Reference func(expr string) (starlark.Value, error)
	// Owned says the caller gives the input to the decoder: nothing
	// modifies it afterwards (a frame just read). A large byte or text
	// string then points into the input instead of being copied (see
	// aliasMin), which saves a copy of a large pushed or pulled value.
	Owned bool
	// Keep, with Owned, says the input is memory outside the Go heap (a
	// mapped body, quic.Mapping) that lives as long as Keep is reachable.
	// Large int64, float64 and complex128 arrays then point into it and
	// hold Keep (numpy.Array.SetKeep), if together they are at least half
	// the input (otherwise they are copied, so that a small array does
	// not pin a large input); strings and bytes are always copied (a
	// Starlark substring would share their memory without holding Keep).
	Keep any
	// Shared, with Owned, says other decoders read the same input (a body
	// shared by the engines of one process): strings may still point into
	// it (they do not change), arrays are copied.
	Shared bool
}

// Default limits, as documented on protocol.Limits.
const (
	defaultMaxDepth    = 256
	defaultMaxElements = 1 << 26
	// maxEncodeDepth bounds the nesting the encoder produces, so that a
	// cyclic value is an error, and a receiver with default limits
	// accepts what it sends.
	maxEncodeDepth = 255
)

// ErrUnsendable is wrapped by encoding errors about a value that cannot
// travel (a builtin, a client object, a function without an exporter).
var ErrUnsendable = errors.New("value cannot be sent")

// ErrMalformed is wrapped by decoding errors about input that is not a
// well-formed encoded value within the limits.
var ErrMalformed = errors.New("malformed value")

// encodeError is an encoding failure and the path to the value that caused
// it. The path is collected in reverse while the encoder unwinds.
type encodeError struct {
	rpath []string // path segments, innermost first
	typ   string   // Starlark type of an unsendable value, or ""
	msg   string   // detail for an unsendable value, or ""
	err   error    // cause of any other failure
}

// pathEnds is how many segments a long path keeps at each end.
const pathEnds = 8

func (e *encodeError) path(root string) string {
	var sb strings.Builder
	sb.WriteString(root)
	n := len(e.rpath)
	for i := n - 1; i >= 0; i-- {
		if n > 3*pathEnds && i == n-1-pathEnds {
			fmt.Fprintf(&sb, "...(%d levels)...", n-2*pathEnds)
			i = pathEnds - 1
		}
		sb.WriteString(e.rpath[i])
	}
	return sb.String()
}

// withRoot turns e into the error returned to the caller.
func (e *encodeError) withRoot(root string) error {
	p := e.path(root)
	switch {
	case e.err != nil:
		return fmt.Errorf("encode value at %s: %w", p, e.err)
	case e.msg != "":
		return &unsendableError{fmt.Sprintf("cannot send %s at %s: %s", e.typ, p, e.msg)}
	default:
		return &unsendableError{fmt.Sprintf("cannot send %s at %s", e.typ, p)}
	}
}

// unsendableError is the error of a value that cannot travel; it wraps
// ErrUnsendable.
type unsendableError struct{ s string }

func (e *unsendableError) Error() string { return e.s }
func (e *unsendableError) Unwrap() error { return ErrUnsendable }

// Encode encodes v as CBOR. A value that cannot travel gives an error
// naming its type and its path from "value".
func Encode(v starlark.Value, o *EncodeOptions) ([]byte, error) {
	e := encoder{o: o}
	if err := e.value(v, 0); err != nil {
		return nil, err.withRoot("value")
	}
	return e.buf, nil
}

// Decode decodes one CBOR-encoded value. It never panics, and it rejects
// trailing bytes, nesting and container sizes beyond o.Limits, and
// anything that is not a value of the wire format.
func Decode(b []byte, o *DecodeOptions) (starlark.Value, error) {
	d := newDecoder(b, o)
	v, err := d.value(0)
	if err == nil && d.off != len(d.b) {
		err = d.errorf("%d trailing bytes", len(d.b)-d.off)
	}
	d.settleKept()
	if err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return v, nil
}
