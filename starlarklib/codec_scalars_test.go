package starlarklib

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// scalarItems are CBOR items for the decoder's run of scalars: every
// width of int head (shortest and not), both signs at the int32, int64
// and uint64 limits, float64s with NaN payloads and signed zeros, and
// items that end a run (half and single floats, bignums, text, arrays).
func scalarItems() [][]byte {
	var items [][]byte
	head := func(m byte, ai byte, arg uint64) []byte {
		b := []byte{m | ai}
		switch ai {
		case 24:
			b = append(b, byte(arg))
		case 25:
			b = binary.BigEndian.AppendUint16(b, uint16(arg))
		case 26:
			b = binary.BigEndian.AppendUint32(b, uint32(arg))
		case 27:
			b = binary.BigEndian.AppendUint64(b, arg)
		}
		return b
	}
	for _, n := range []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxInt32 - 1, math.MaxInt32,
		math.MaxInt32 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64} {
		for _, m := range []byte{majorUint, majorNeg} {
			items = append(items, protocol.AppendHead(nil, m, n))
			for ai := byte(24); ai <= 27; ai++ { // not the shortest form
				if n < 1<<(8<<(ai-24)) || ai == 27 {
					items = append(items, head(m, ai, n))
				}
			}
		}
	}
	for _, bits := range []uint64{0, 1 << 63, 0x7ff8000000000001, 0xfff0000000000abc, 0x7ff0000000000000,
		math.Float64bits(math.Pi), math.Float64bits(-1e300), 1} {
		items = append(items, binary.BigEndian.AppendUint64([]byte{cborFloat64}, bits))
	}
	items = append(items,
		[]byte{0xf9, 0x3c, 0x00},             // half 1.0
		[]byte{0xfa, 0x7f, 0xc0, 0x00, 0x01}, // single NaN
		[]byte{0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		[]byte{0x61, 'x'}, []byte{0x82, 0x01, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0xf6}, []byte{0xf5})
	return items
}

// same reports whether a and b are the same value, floats bit for bit.
func same(a, b starlark.Value) bool {
	if fa, ok := a.(starlark.Float); ok {
		fb, ok := b.(starlark.Float)
		return ok && math.Float64bits(float64(fa)) == math.Float64bits(float64(fb))
	}
	if la, ok := a.(*starlark.List); ok {
		lb, ok := b.(*starlark.List)
		if !ok || la.Len() != lb.Len() {
			return false
		}
		for i := range la.Len() {
			if !same(la.Index(i), lb.Index(i)) {
				return false
			}
		}
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	eq, err := starlark.Equal(a, b)
	return err == nil && eq
}

// A list decodes to what its elements decode to one by one, in any mix
// and order of scalars and other items.
func TestScalarRunsMatchItems(t *testing.T) {
	items := scalarItems()
	want := make([]starlark.Value, len(items))
	for i, it := range items {
		v, err := Decode(it, nil)
		if err != nil {
			t.Fatalf("item %x: %v", it, err)
		}
		want[i] = v
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n := r.IntN(300)
		if round == 0 {
			n = len(items)
		}
		b := protocol.AppendHead(nil, majorArray, uint64(n))
		idx := make([]int, n)
		for i := range idx {
			idx[i] = r.IntN(len(items))
			if round == 0 {
				idx[i] = i
			}
			b = append(b, items[idx[i]]...)
		}
		got, err := Decode(b, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l := got.(*starlark.List)
		if l.Len() != n {
			t.Fatalf("round %d: %d elements, want %d", round, l.Len(), n)
		}
		for i, k := range idx {
			if !same(l.Index(i), want[k]) {
				t.Fatalf("round %d, element %d (%x): got %v, want %v", round, i, items[k], l.Index(i), want[k])
			}
		}
		for cut := max(len(b)-12, 1); cut < len(b); cut++ {
			if _, err := Decode(b[:cut], nil); err == nil {
				t.Fatalf("round %d: %d of %d bytes decoded", round, cut, len(b))
			}
		}
	}
}

// Ints at the edges of each width round-trip exactly, big ones too.
func TestScalarIntsRoundTrip(t *testing.T) {
	var elems []starlark.Value
	for _, s := range []string{"0", "-1", "2147483647", "-2147483648", "2147483648", "-2147483649",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "-18446744073709551616", "18446744073709551616", "-18446744073709551617",
		"340282366920938463463374607431768211457"} {
		x, ok := new(big.Int).SetString(s, 10)
		if !ok {
			t.Fatal(s)
		}
		elems = append(elems, starlark.MakeBigInt(x), starlark.Float(0.5))
	}
	l := starlark.NewList(elems)
	b, err := Encode(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !same(got, l) {
		t.Fatalf("got %v, want %v", got, l)
	}
}

// Decoded floats are ordinary values: the list is mutable and can be
// frozen, an element kept after the list is gone keeps its value, and
// floats of different lists do not share memory.
func TestScalarFloatsIndependent(t *testing.T) {
	src := make([]starlark.Value, 1000)
	for i := range src {
		src[i] = starlark.Float(float64(i) + 0.25)
	}
	b, err := Encode(starlark.NewList(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := Decode(b, nil)
	v2, _ := Decode(b, nil)
	l1, l2 := v1.(*starlark.List), v2.(*starlark.List)
	kept := l1.Index(777)
	if err := l1.SetIndex(777, starlark.Float(-1)); err != nil {
		t.Fatal(err)
	}
	if err := l1.Append(starlark.Float(9)); err != nil {
		t.Fatal(err)
	}
	if l2.Index(777) != starlark.Value(starlark.Float(777.25)) || kept != starlark.Value(starlark.Float(777.25)) {
		t.Fatalf("l2[777] = %v, kept %v", l2.Index(777), kept)
	}
	l2.Freeze()
	if err := l2.Append(starlark.None); err == nil {
		t.Fatal("append to a frozen list")
	}
	v1, l1 = nil, nil
	for range 2 {
		runtime.GC()
	}
	if f, _ := starlark.AsFloat(kept); f != 777.25 {
		t.Fatalf("kept element after GC: %v", kept)
	}
	for i := range 1000 {
		if f, _ := starlark.AsFloat(l2.Index(i)); f != float64(i)+0.25 {
			t.Fatalf("l2[%d] = %v", i, l2.Index(i))
		}
	}
}

// A ListRange encodes as the list of its elements.
func TestListRangeEncodes(t *testing.T) {
	l := eval(t, "[1, 2.5, 'a', [3, 4.0], None, 1 << 70, (5,), -7]").(*starlark.List)
	for lo := 0; lo <= l.Len(); lo++ {
		for hi := lo; hi <= l.Len(); hi++ {
			elems := make([]starlark.Value, 0, hi-lo)
			for i := lo; i < hi; i++ {
				elems = append(elems, l.Index(i))
			}
			want, err := Encode(starlark.NewList(elems), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Encode(ListRange(l, lo, hi), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("[%d:%d]: %x, want %x", lo, hi, got, want)
			}
		}
	}
	bad := starlark.NewList([]starlark.Value{starlark.None, starlark.NewBuiltin("b", nil)})
	if _, err := Encode(ListRange(bad, 0, 2), nil); err == nil || !strings.Contains(err.Error(), "value[1]") {
		t.Fatalf("unsendable element: %v", err)
	}
}

// Ints beyond the int32 range decoded from slabs behave as Starlark's
// own: equal, same hash (dict keys), arithmetic leaves them unchanged.
func TestSlabInts(t *testing.T) {
	if runtime.GOARCH == "amd64" && runtime.GOOS == "linux" && !slabInts {
		t.Fatal("Starlark's int representation check failed on linux/amd64")
	}
	src := "[1 << 40, -(1 << 40), (1 << 63) - 1, -(1 << 63), (1 << 64) - 1, -(1 << 64) + 1, 2147483648, -2147483649]"
	want := eval(t, src).(*starlark.List)
	b, err := Encode(want, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*starlark.List)
	d := starlark.NewDict(want.Len())
	for i := range want.Len() {
		d.SetKey(want.Index(i), starlark.MakeInt(i))
	}
	thread := &starlark.Thread{Name: "test"}
	for i := range got.Len() {
		x, w := got.Index(i), want.Index(i)
		if !same(x, w) || x.String() != w.String() {
			t.Fatalf("element %d: %v, want %v", i, x, w)
		}
		if k, found, _ := d.Get(x); !found || k != starlark.MakeInt(i) {
			t.Fatalf("element %d: not found as a dict key", i)
		}
		env := starlark.StringDict{"x": x}
		r, err := starlark.Eval(thread, "x", "(x + 1, -x, x * x, x // 3, x - x, str(x))", env)
		if err != nil {
			t.Fatal(err)
		}
		rw, _ := starlark.Eval(thread, "w", "(x + 1, -x, x * x, x // 3, x - x, str(x))", starlark.StringDict{"x": w})
		if !same(r, rw) || r.String() != rw.String() {
			t.Fatalf("element %d: %v, want %v", i, r, rw)
		}
		if !same(x, w) {
			t.Fatalf("element %d changed by arithmetic: %v", i, x)
		}
	}
}
