package starlarklib

import (
	"math"
	"math/big"
	"math/bits"
	"unsafe"

	"go.starlark.net/starlark"
)

// Decoding an int beyond the int32 range costs Starlark two allocations
// (a big.Int and its word). intSlab makes such ints from shared slabs
// instead, where Starlark's representation allows: on 64-bit POSIX
// systems a starlark.Int is one pointer, a *big.Int for such values,
// which Starlark never changes (its arithmetic makes new big.Ints).
// slabInts checks that representation once, and the decoder falls back
// to starlark.MakeInt64 without it.
var slabInts = func() bool {
	if bits.UintSize != 64 || unsafe.Sizeof(starlark.Int{}) != unsafe.Sizeof(unsafe.Pointer(nil)) {
		return false
	}
	x := starlark.MakeInt64(-1 << 40)
	if b := (*big.Int)(*(*unsafe.Pointer)(unsafe.Pointer(&x))); !b.IsInt64() || b.Int64() != -1<<40 {
		return false
	}
	var s intSlab
	y := s.make(true, 1<<41, 1)
	v, ok := y.Int64()
	return ok && v == -1<<41 && y.String() == "-2199023255552"
}()

// intSlabLen is how many big.Ints share one allocation (512 bytes, as
// for floats).
const intSlabLen = 16

// intSlab hands out ints beyond the int32 range.
type intSlab struct {
	ints  []big.Int
	words []big.Word
}

// make returns the Int of magnitude mag (negative if neg); mag must be
// beyond the int32 range, and left is how many more may follow.
func (s *intSlab) make(neg bool, mag uint64, left int) starlark.Int {
	if len(s.ints) == 0 {
		s.ints = make([]big.Int, min(left, intSlabLen))
	}
	if len(s.words) == 0 {
		s.words = make([]big.Word, min(left, 4*intSlabLen))
	}
	z, w := &s.ints[0], s.words[:1:1]
	s.ints, s.words = s.ints[1:], s.words[1:]
	w[0] = big.Word(mag)
	z.SetBits(w)
	if neg {
		z.Neg(z)
	}
	var i starlark.Int
	*(*unsafe.Pointer)(unsafe.Pointer(&i)) = unsafe.Pointer(z)
	return i
}

// int returns the Int of a CBOR unsigned (neg false) or negative (neg
// true: -1-x) integer x, if it fits in 64 bits.
func (s *intSlab) int(neg bool, x uint64, left int) (starlark.Int, bool) {
	switch {
	case x <= math.MaxInt32 && !neg:
		return starlark.MakeInt64(int64(x)), true
	case x <= math.MaxInt32:
		return starlark.MakeInt64(-1 - int64(x)), true
	case neg && x == math.MaxUint64:
		return starlark.Int{}, false // -2^64: two words
	case !slabInts:
		if neg {
			if x > math.MaxInt64 {
				return starlark.Int{}, false
			}
			return starlark.MakeInt64(-1 - int64(x)), true
		}
		return starlark.MakeUint64(x), true
	case neg:
		return s.make(true, x+1, left), true
	}
	return s.make(false, x, left), true
}
