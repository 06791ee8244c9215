package starlarklib

import (
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib/numpy"
)

func TestArrayWireForm(t *testing.T) {
	// tag 40, [[2], tag 86, 16 bytes: 1.5, -2 little-endian]
	b, err := Encode(numpy.NewFloat64([]int{2}, []float64{1.5, -2}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "d8288281" + "02" + "d856" + "50" + "000000000000f83f" + "00000000000000c0"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("wire form %s, want %s", got, want)
	}
	// A generic CBOR decoder sees RFC 8746 tags.
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	tag, ok := v.(cbor.Tag)
	if !ok || tag.Number != 40 {
		t.Fatalf("generic decode %#v, want tag 40", v)
	}
}

func TestArrayRoundTrip(t *testing.T) {
	big := make([]float64, 1<<20)
	for k := range big {
		big[k] = float64(k) * 0.5
	}
	arrays := []*numpy.Array{
		numpy.NewFloat64([]int{2, 3}, []float64{1, 2, 3, 4, 5, math.NaN()}),
		numpy.NewFloat64([]int{1 << 20}, big),
		numpy.NewInt64([]int{3}, []int64{-1, math.MaxInt64, math.MinInt64}),
		numpy.NewBool([]int{2, 2}, []bool{true, false, false, true}),
		numpy.NewComplex128([]int{2}, []complex128{complex(1, 2), complex(-3, 0.5)}),
		numpy.NewFloat64([]int{0, 4}, []float64{}),
		numpy.NewInt64([]int{}, []int64{7}),
	}
	b, err := Encode(numpy.Complex(complex(1, -2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Decode(b, nil); err != nil || v != numpy.Complex(complex(1, -2)) {
		t.Fatalf("complex scalar round trip gave %v, %v", v, err)
	}
	for _, a := range arrays {
		b, err := Encode(starlark.NewList([]starlark.Value{a}), nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Decode(b, nil)
		if err != nil {
			t.Fatalf("decode %v: %v", a.Shape(), err)
		}
		got := v.(*starlark.List).Index(0).(*numpy.Array)
		if got.DType() != a.DType() || !equalInts(got.Shape(), a.Shape()) || got.String() != a.String() {
			t.Fatalf("round trip of %s gave %s", a, got)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func TestArrayHostile(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		o    *DecodeOptions
		want string
	}{
		{"shape mismatch", h("d828 82 81 03 d856 48 0000000000000000"), nil, "does not fill shape"},
		{"odd bytes", h("d856 43 000000"), nil, "whole number of 8-byte"},
		{"not bytes", h("d856 80"), nil, "not a byte string"},
		{"not a pair", h("d828 81 80"), nil, "two-element array"},
		{"bad dim", h("d828 82 81 20 d856 40"), nil, "not a size"},
		{"text dim", h("d828 82 81 6161 d856 40"), nil, "not a size"},
		{"too many dims", h("d828 82 9821" + strings.Repeat("01", 33) + "d856 40"), nil, "exceeds the limit of 32"},
		{"huge shape", h("d828 82 82 1a00ffffff 1a00ffffff d856 40"), nil, "more than"},
		{"element limit", h("d856 50 00000000000000000000000000000000"), &DecodeOptions{Limits: protocol.Limits{MaxElements: 1}}, "exceeds the limit of 1"},
		{"unsupported type", h("d828 82 81 01 d855 44 00000000"), nil, "not a supported typed array"},
		{"truncated payload", h("d856 58f8 00"), nil, "longer than the input"},
		{"complex not pairs", h("d99d74 d828 82 81 01 d856 48 0000000000000000"), nil, "not float64 pairs"},
		{"complex not tag 40", h("d99d74 80"), nil, "not a multi-dimensional array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkArrayEncodeDecode1M(b *testing.B) {
	a := numpy.NewFloat64([]int{1 << 20}, make([]float64, 1<<20))
	b.SetBytes(8 << 20)
	for b.Loop() {
		buf, err := Encode(a, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeArrays starts from typed arrays: whatever decodes re-encodes
// to a stable form.
func FuzzDecodeArrays(f *testing.F) {
	for _, a := range []starlark.Value{
		numpy.NewFloat64([]int{2, 2}, []float64{1, 2, 3, 4}),
		numpy.NewInt64([]int{3}, []int64{1, -1, 7}),
		numpy.NewBool([]int{1, 2}, []bool{true, false}),
		numpy.NewComplex128([]int{1}, []complex128{complex(1, 2)}),
		numpy.Complex(complex(0, 1)),
		starlark.NewList([]starlark.Value{numpy.NewFloat64([]int{0}, nil)}),
	} {
		b, err := Encode(a, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	o := &DecodeOptions{Limits: protocol.Limits{MaxDepth: 64, MaxElements: 1 << 16}}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b, o)
		if err != nil {
			return
		}
		b2, err := Encode(v, nil)
		if err != nil {
			return // e.g. deep nesting
		}
		v2, err := Decode(b2, o)
		if err != nil {
			t.Fatalf("decode re-encoded %x: %v", b2, err)
		}
		if !holdsRange(v, 0) && v.String() != v2.String() { // a range goes on as a list
			t.Fatalf("got %s, then %s", v, v2)
		}
	})
}

// Arrays of several MiB (copied a MiB at a time both ways) arrive element
// for element.
func TestLargeArraysExact(t *testing.T) {
	const n = 3<<17 + 5 // 3 MiB and 40 bytes of float64
	f := make([]float64, n)
	i := make([]int64, n)
	c := make([]complex128, n)
	for k := range f {
		f[k], i[k], c[k] = float64(k)*0.25, int64(k)*-7, complex(float64(k), -float64(k))
	}
	for _, a := range []*numpy.Array{numpy.NewFloat64([]int{n}, f), numpy.NewInt64([]int{n}, i), numpy.NewComplex128([]int{n}, c)} {
		b, err := Encode(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Decode(b, &DecodeOptions{Owned: true})
		if err != nil {
			t.Fatal(err)
		}
		got := v.(*numpy.Array)
		switch a.DType() {
		case numpy.Float64:
			if !slices.Equal(got.Float64s(), f) {
				t.Fatal("float64 array changed")
			}
		case numpy.Int64:
			if !slices.Equal(got.Int64s(), i) {
				t.Fatal("int64 array changed")
			}
		default:
			if !slices.Equal(got.Complex128s(), c) {
				t.Fatal("complex array changed")
			}
		}
	}
}

// TestArrayAliasesOwnedInput: a large array's payload is aligned to 8
// bytes from the start of the encoding, whatever precedes it, so that an
// owned, aligned input is the decoded array's memory; an input not owned
// or not aligned is copied. The values are exact either way, and a
// generic CBOR decoder (the Go client's) reads the longer heads.
func TestArrayAliasesOwnedInput(t *testing.T) {
	f := make([]float64, 1<<14) // 128 KiB, above aliasMin
	for k := range f {
		f[k] = float64(k)*0.25 - 7
	}
	src := numpy.NewFloat64([]int{1 << 7, 1 << 7}, f)
	for pad := range 9 { // keys of 0 to 8 bytes shift the payload
		key := strings.Repeat("k", pad)
		b, err := Encode(dictOf(key, src), nil)
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]cbor.Tag // longer heads are valid CBOR: a Go client decodes them
		if err := cbor.Unmarshal(b, &generic); err != nil || generic[key].Number != tagMultiDim {
			t.Fatalf("key %q: generic decode %v, tag %d", key, err, generic[key].Number)
		}
		for _, owned := range []bool{false, true} {
			for _, shift := range []int{0, 1} {
				in := make([]byte, len(b)+shift)[shift:] // a fresh, 8-aligned allocation, or 1 byte off
				copy(in, b)
				v, err := Decode(in, &DecodeOptions{Owned: owned})
				if err != nil {
					t.Fatalf("key %q: %v", key, err)
				}
				got := v.(*starlark.Dict)
				x, _, _ := got.Get(starlark.String(key))
				a := x.(*numpy.Array)
				if !slices.Equal(a.Float64s(), f) || !equalInts(a.Shape(), src.Shape()) {
					t.Fatalf("key %q owned %v shift %d: values or shape changed", key, owned, shift)
				}
				aliased := inside(a.Float64s(), in)
				if want := owned && shift == 0; aliased != want {
					t.Fatalf("key %q owned %v shift %d: aliased %v, want %v", key, owned, shift, aliased, want)
				}
			}
		}
	}
}

func dictOf(k string, v starlark.Value) *starlark.Dict {
	d := starlark.NewDict(1)
	d.SetKey(starlark.String(k), v)
	return d
}

// inside reports whether f's memory lies in b.
func inside(f []float64, b []byte) bool {
	p := uintptr(unsafe.Pointer(&f[0]))
	lo := uintptr(unsafe.Pointer(&b[0]))
	return p >= lo && p < lo+uintptr(len(b))
}

// EncodePartsShared leaves a large array's payload where it is, as a
// part, and its parts are Encode's bytes; small arrays and bools are
// copied as before.
func TestEncodePartsSharedArrays(t *testing.T) {
	big := make([]float64, PartMin/8)
	for k := range big {
		big[k] = float64(k)
	}
	for _, tc := range []struct {
		v      *numpy.Array
		shared bool
	}{
		{numpy.NewFloat64([]int{len(big)}, big), true},
		{numpy.NewInt64([]int{2}, []int64{1, 2}), false},
		{numpy.NewBool([]int{PartMin}, make([]bool, PartMin)), false},
	} {
		v := starlark.NewList([]starlark.Value{starlark.String("x"), tc.v, starlark.MakeInt(3)})
		want, err := Encode(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		parts, shared, err := EncodePartsShared(v, nil)
		if err != nil || shared != tc.shared {
			t.Fatalf("%s: shared %v, %v; want %v", tc.v.DType(), shared, err, tc.shared)
		}
		var got []byte
		pointsAtArray := false
		for _, p := range parts {
			got = append(got, p...)
			if len(p) > 0 && tc.shared && unsafe.Pointer(&p[0]) == unsafe.Pointer(&big[0]) {
				pointsAtArray = true
			}
		}
		if !slices.Equal(got, want) || pointsAtArray != tc.shared {
			t.Fatalf("%s: parts differ from Encode or do not point at the array (%v)", tc.v.DType(), pointsAtArray)
		}
	}
}
