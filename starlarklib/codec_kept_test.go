//go:build linux

package starlarklib

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"

	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// keeper is what a kept input lives as long as; keptLive counts the
// inputs mapped. It is 32 bytes: a pointer-free object under 16 bytes
// shares its allocation with others, and its cleanup may never run.
type keeper struct{ _ [32]byte }

var keptLive atomic.Int64

// keptInput is b copied into a fresh anonymous mapping, as a received
// memfd body is mapped: the memory is not Go's, and a cleanup unmaps it
// once the returned keeper is unreachable.
func keptInput(t *testing.T, b []byte) ([]byte, *keeper) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, len(b), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	copy(mem, b)
	k := &keeper{}
	keptLive.Add(1)
	runtime.AddCleanup(k, func(mem []byte) { unix.Munmap(mem); keptLive.Add(-1) }, mem)
	return mem, k
}

// waitUnmapped collects until no kept input is mapped (bounded).
func waitUnmapped(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); keptLive.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d kept inputs still mapped", keptLive.Load())
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanups run on their own goroutine
	}
}

func floatRange(n int, scale float64) []float64 {
	f := make([]float64, n)
	for k := range f {
		f[k] = float64(k) * scale
	}
	return f
}

func kdict(kv ...any) *starlark.Dict {
	d := starlark.NewDict(len(kv) / 2)
	for k := 0; k < len(kv); k += 2 {
		d.SetKey(starlark.String(kv[k].(string)), kv[k+1].(starlark.Value))
	}
	return d
}

func get(d starlark.Value, k string) starlark.Value {
	v, _, _ := d.(*starlark.Dict).Get(starlark.String(k))
	return v
}

// Decoding a kept input (DecodeOptions.Keep), several large arrays of one
// body point into it and keep it mapped while any of them is reachable;
// strings are copies; a write to one array changes no other; once the
// values are dropped the collector unmaps the input.
func TestDecodeKeptArrays(t *testing.T) {
	waitUnmapped(t)
	n := 1 << 15 // 256 KiB each
	fa, fb := floatRange(n, 0.5), floatRange(n, -1)
	ints := make([]int64, n)
	for k := range ints {
		ints[k] = int64(k) * 3
	}
	cs := make([]complex128, n/2)
	for k := range cs {
		cs[k] = complex(float64(k), -float64(k))
	}
	text := string(slices.Repeat([]byte("x"), 100<<10))
	enc, err := Encode(kdict("a", numpy.NewFloat64([]int{n}, slices.Clone(fa)), "b", numpy.NewFloat64([]int{n / 2, 2}, slices.Clone(fb)),
		"i", numpy.NewInt64([]int{n}, slices.Clone(ints)), "c", numpy.NewComplex128([]int{n / 2}, slices.Clone(cs)),
		"s", starlark.String(text), "small", numpy.NewFloat64([]int{3}, []float64{1, 2, 3})), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, k := keptInput(t, enc)
	v, err := Decode(in, &DecodeOptions{Owned: true, Keep: k})
	if err != nil {
		t.Fatal(err)
	}
	a, b := get(v, "a").(*numpy.Array), get(v, "b").(*numpy.Array)
	i, c := get(v, "i").(*numpy.Array), get(v, "c").(*numpy.Array)
	for name, f := range map[string][]float64{"a": a.Float64s(), "b": b.Float64s(),
		"i": unsafe.Slice((*float64)(unsafe.Pointer(&i.Int64s()[0])), n),
		"c": unsafe.Slice((*float64)(unsafe.Pointer(&c.Complex128s()[0])), n)} {
		if !inside(f, in) {
			t.Errorf("array %s was copied, want it in the kept input", name)
		}
	}
	s := string(get(v, "s").(starlark.String))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= uintptr(unsafe.Pointer(&in[0])) && p < uintptr(unsafe.Pointer(&in[0]))+uintptr(len(in)) {
		t.Error("a string points into the kept input")
	}
	if inside(get(v, "small").(*numpy.Array).Float64s(), in) {
		t.Error("a small array points into the kept input")
	}
	k, in = nil, nil
	a.Float64s()[0] = 99
	for range 3 { // the arrays hold the input mapped
		runtime.GC()
	}
	if keptLive.Load() != 1 {
		t.Fatal("the kept input was unmapped while arrays pointed into it")
	}
	if !slices.Equal(b.Float64s(), fb) || !slices.Equal(i.Int64s(), ints) || !slices.Equal(c.Complex128s(), cs) ||
		!slices.Equal(a.Float64s()[1:], fa[1:]) || a.Float64s()[0] != 99 || s != text {
		t.Error("values changed, or a write to one array changed another")
	}
	v, a, b, c = nil, nil, nil, nil
	for range 3 { // one array alone keeps it mapped
		runtime.GC()
	}
	if keptLive.Load() != 1 || !slices.Equal(i.Int64s(), ints) {
		t.Fatal("the kept input was unmapped while an array pointed into it")
	}
	runtime.KeepAlive(i)
	waitUnmapped(t)
}

// Arrays that are less than half of a kept input are copied, so that a
// small array does not hold a large input mapped.
func TestDecodeKeptSmallShareCopied(t *testing.T) {
	waitUnmapped(t)
	f := floatRange(1<<14, 2) // 128 KiB beside a 1 MiB string
	enc, err := Encode(kdict("s", starlark.Bytes(slices.Repeat([]byte("y"), 1<<20)), "a", numpy.NewFloat64([]int{len(f)}, slices.Clone(f))), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, k := keptInput(t, enc)
	v, err := Decode(in, &DecodeOptions{Owned: true, Keep: k})
	if err != nil {
		t.Fatal(err)
	}
	a := get(v, "a").(*numpy.Array)
	if inside(a.Float64s(), in) {
		t.Error("the array points into the input it is an eighth of")
	}
	k, in = nil, nil
	waitUnmapped(t) // while v is alive
	if !slices.Equal(a.Float64s(), f) {
		t.Error("the array changed")
	}
	runtime.KeepAlive(v)
}

// Shared (a body several engines of one process decode) copies arrays,
// owned or kept.
func TestDecodeSharedCopiesArrays(t *testing.T) {
	f := floatRange(1<<15, 1)
	enc, err := Encode(numpy.NewFloat64([]int{len(f)}, f), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, len(enc))
	copy(in, enc)
	for _, o := range []*DecodeOptions{{Owned: true, Shared: true}, {Owned: true, Shared: true, Keep: new(keeper)}} {
		v, err := Decode(in, o)
		if err != nil {
			t.Fatal(err)
		}
		if inside(v.(*numpy.Array).Float64s(), in) {
			t.Errorf("%+v: the array points into the shared input", *o)
		}
	}
}

// A kept input cut short or corrupted is an error, never a panic or an
// array over bytes that are not there.
func TestDecodeKeptHostile(t *testing.T) {
	f := floatRange(1<<14, 1)
	enc, err := Encode(starlark.NewList([]starlark.Value{numpy.NewFloat64([]int{len(f)}, f), numpy.NewFloat64([]int{len(f)}, f)}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{1, 9, len(enc) / 2, len(enc) - 8, len(enc) - 1} {
		in, k := keptInput(t, enc[:cut])
		if _, err := Decode(in, &DecodeOptions{Owned: true, Keep: k}); err == nil {
			t.Errorf("%d of %d bytes decoded", cut, len(enc))
		}
	}
	bad := slices.Clone(enc)
	bad[len(bad)-len(f)*8-1] ^= 0x01 // the second payload's length
	in, k := keptInput(t, bad)
	if _, err := Decode(in, &DecodeOptions{Owned: true, Keep: k}); err == nil {
		t.Errorf("a payload of a wrong length decoded (%x)", bad[len(bad)-len(f)*8-9:len(bad)-len(f)*8])
	}
	waitUnmapped(t)
}

// A nil keeper pointer is no keeper: an owned input's large string still
// points into it.
func TestDecodeNilKeeper(t *testing.T) {
	enc, err := Encode(starlark.Bytes(slices.Repeat([]byte("z"), aliasMin)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var k *keeper
	v, err := Decode(enc, &DecodeOptions{Owned: true, Keep: k})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(v.(starlark.Bytes)); unsafe.StringData(s) != &enc[len(enc)-aliasMin] {
		t.Error("the string was copied: a nil keeper counted as a keeper")
	}
}
