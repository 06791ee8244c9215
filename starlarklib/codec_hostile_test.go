package starlarklib

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/protocol"
)

// nested returns n opening bytes b followed by a null.
func nested(prefix []byte, n int) []byte {
	return append(bytes.Repeat(prefix, n), 0xf6)
}

func TestHostile(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		o    *DecodeOptions
		want string
	}{
		{"empty", nil, nil, "unexpected end of input"},
		{"deep arrays", nested([]byte{0x81}, 300), nil, "nested more than 256 levels"},
		{"deep maps", append(bytes.Repeat([]byte{0xa1, 0x61, 'k'}, 300), 0xf6), nil, "nested more than"},
		{"deep tuples", nested([]byte{0xd9, 0x9d, 0x6d, 0x81}, 300), nil, "nested more than"},
		{"deep tags", nested([]byte{0xd9, 0x9d, 0x6d}, 300), nil, "is not an array"},
		{"deep function", append([]byte{0xd9, 0x9d, 0x70}, nested([]byte{0x81}, 300)...), nil, "nested more than"},
		{"depth limit", nested([]byte{0x81}, 5), &DecodeOptions{Limits: protocol.Limits{MaxDepth: 4}}, "nested more than 4"},
		{"huge array", []byte{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, "exceeds the limit"},
		{"array longer than input", []byte{0x9a, 0x00, 0x10, 0x00, 0x00, 0xf6}, nil, "longer than the input"},
		{"map longer than input", []byte{0xba, 0x00, 0x10, 0x00, 0x00, 0xf6}, nil, "longer than the input"},
		{"huge bytes", []byte{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, "longer than the input"},
		{"huge text", []byte{0x7a, 0x7f, 0xff, 0xff, 0xff, 'a'}, nil, "longer than the input"},
		{"huge bignum", []byte{0xc2, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, "longer than the input"},
		{"element limit", []byte{0x83, 1, 2, 3}, &DecodeOptions{Limits: protocol.Limits{MaxElements: 2}}, "exceeds the limit of 2"},
		{"truncated float", []byte{0xfb, 0, 0, 0}, nil, "unexpected end of input"},
		{"truncated array", []byte{0x82, 0x01}, nil, "longer than the input"},
		{"truncated nested", []byte{0x82, 0x81, 0x01}, nil, "unexpected end of input"},
		{"truncated head", []byte{0x19, 0x01}, nil, "unexpected end of input"},
		{"truncated text", []byte{0x63, 'a', 'b'}, nil, "longer than the input"},
		{"bad utf8", []byte{0x62, 0xc3, 0x28}, nil, "invalid UTF-8"},
		{"bad utf8 key", []byte{0xa1, 0x61, 0xff, 0x01}, nil, "invalid UTF-8"},
		{"indefinite array", []byte{0x9f, 0x01, 0xff}, nil, "indefinite length"},
		{"indefinite bytes", []byte{0x5f, 0x41, 0x01, 0xff}, nil, "indefinite length"},
		{"reserved", []byte{0x1c}, nil, "reserved"},
		{"undefined", []byte{0xf7}, nil, "unsupported simple value 23"},
		{"simple 0", []byte{0xe0}, nil, "unsupported simple value"},
		{"break", []byte{0xff}, nil, "indefinite length"},
		{"unknown tag", []byte{0xc1, 0x01}, nil, "unknown tag 1"},
		{"unknown big tag", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, nil, "unknown tag"},
		{"bignum of int", []byte{0xc2, 0x01}, nil, "not a byte string"},
		{"tuple of map", []byte{0xd9, 0x9d, 0x6d, 0xa0}, nil, "tuple is not an array"},
		{"set of list", []byte{0xd9, 0x9d, 0x6e, 0x81, 0x80}, nil, "unhashable type: list"},
		{"set duplicate", []byte{0xd9, 0x9d, 0x6e, 0x82, 0x01, 0x01}, nil, "duplicate set element 1"},
		{"ordered map list key", []byte{0xd9, 0x9d, 0x73, 0x81, 0x82, 0x80, 0x01}, nil, "unhashable type: list"},
		{"ordered map bad pair", []byte{0xd9, 0x9d, 0x73, 0x81, 0x83, 0x01, 0x01, 0x01}, nil, "two-element array"},
		{"map list key", []byte{0xa1, 0x80, 0x01}, nil, "unhashable type: list"},
		{"map duplicate key", []byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}, nil, `duplicate dict key "a"`},
		{"struct int field", []byte{0xd9, 0x9d, 0x6f, 0xa1, 0x01, 0x01}, nil, "struct field name is not a text string"},
		{"struct duplicate", []byte{0xd9, 0x9d, 0x6f, 0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x01}, nil, "duplicate struct field"},
		{"reference of int", []byte{0xd9, 0x9d, 0x71, 0x01}, nil, "reference is not a text string"},
		{"error of int", []byte{0xd9, 0x9d, 0x72, 0x01}, nil, "error:"},
		{"function of int", []byte{0xd9, 0x9d, 0x70, 0x01}, &DecodeOptions{BuildFunction: func(*protocol.Function) (starlark.Value, error) {
			return starlark.None, nil
		}}, "function:"},
		{"trailing", []byte{0x01, 0x02}, nil, "1 trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode(tt.in, tt.o)
			if err == nil {
				t.Fatalf("Decode(%x) = %s, want error %q", tt.in, v, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%x): got %q, want it to contain %q", tt.in, err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) && !strings.Contains(tt.want, "function") {
				t.Errorf("Decode(%x): %v does not wrap ErrMalformed", tt.in, err)
			}
		})
	}
}

// TestTruncations decodes every prefix of a rich value: each is an error.
func TestTruncations(t *testing.T) {
	v := eval(t, `[None, 1, -1 << 80, 2.5, "héllo", b"\x00", (1,), {"a": {1: set([2])}}, struct(x=1), Reference("r"), err]`)
	b, err := Encode(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(b) {
		if _, err := Decode(b[:i], nil); err == nil {
			t.Errorf("Decode of %d of %d bytes: no error", i, len(b))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, src := range []string{
		"None", "[1, -2, 1 << 70, -(1 << 70), 2.5, nan, 'x', b'y']",
		"(1, set([2, 'a']), {1: 2, 'a': [3]}, {'z': 1, 'a': 2})",
		"struct(a=1, b=struct(c=[]))", "Reference('a + b')", "err",
	} {
		b, err := Encode(eval(f, src), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xf9, 0x7e, 0x00})
	f.Add([]byte{0xfa, 0x3f, 0xc0, 0x00, 0x00})
	f.Add([]byte{0xd9, 0x9d, 0x70, 0xa2, 0x01, 0x61, 'f', 0x02, 0x60})
	f.Add(nested([]byte{0x81}, 20))
	o := &DecodeOptions{
		Limits: protocol.Limits{MaxDepth: 64, MaxElements: 1 << 16},
		BuildFunction: func(fn *protocol.Function) (starlark.Value, error) {
			return &Reference{Expr: "function " + fn.Name}, nil
		},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("slow input of %d bytes: %v", len(b), d)
			}
		}()
		v, err := Decode(b, o)
		if err != nil {
			return
		}
		b2, err := Encode(v, nil)
		if err != nil {
			if errors.Is(err, ErrUnsendable) || strings.Contains(err.Error(), "nested more than") {
				return // e.g. an invalid UTF-8 struct field cannot happen; deep ordered maps can
			}
			t.Fatalf("re-encode %s: %v", v, err)
		}
		v2, err := Decode(b2, o)
		if err != nil {
			t.Fatalf("decode re-encoded %x: %v", b2, err)
		}
		b3, err := Encode(v2, nil)
		if err != nil {
			t.Fatalf("re-encode again: %v", err)
		}
		if !bytes.Equal(b2, b3) {
			t.Fatalf("not stable: %x then %x", b2, b3)
		}
		// A range (TagRange, as map chunks travel) is sent on as the list
		// of its ints, as every Starlark range is.
		if !holdsRange(v, 0) && v.String() != v2.String() {
			t.Fatalf("got %s, then %s", v, v2)
		}
	})
}

// holdsRange reports whether v is or holds a range.
func holdsRange(v starlark.Value, depth int) bool {
	if v.Type() == "range" || depth > 100 {
		return true
	}
	var elems []starlark.Value
	switch x := v.(type) {
	case *starlark.List:
		for i := range x.Len() {
			elems = append(elems, x.Index(i))
		}
	case starlark.Tuple:
		elems = x
	case *starlark.Dict:
		for _, kv := range x.Items() {
			elems = append(elems, kv[0], kv[1])
		}
	case *starlark.Set:
		for e := range x.Elements() {
			elems = append(elems, e)
		}
	case *starlarkstruct.Struct:
		for _, name := range x.AttrNames() {
			e, _ := x.Attr(name)
			elems = append(elems, e)
		}
	}
	for _, e := range elems {
		if holdsRange(e, depth+1) {
			return true
		}
	}
	return false
}

func floatList(n int) *starlark.List {
	elems := make([]starlark.Value, n)
	for i := range elems {
		elems[i] = starlark.Float(float64(i) * math.Pi)
	}
	return starlark.NewList(elems)
}

func TestLargeValues(t *testing.T) {
	l := floatList(1_000_000)
	b, err := Encode(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 9_000_005 {
		t.Errorf("encoded size %d, want 9000005", len(b))
	}
	v, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.(*starlark.List).Len() != 1_000_000 || v.(*starlark.List).Index(999_999) != l.Index(999_999) {
		t.Error("1M floats did not round-trip")
	}
	big := starlark.Bytes(strings.Repeat("\xab", 10<<20))
	b, err = Encode(big, nil)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		v, err = Decode(b, nil)
	})
	if err != nil || v != big {
		t.Fatal("10 MB bytes did not round-trip")
	}
	if allocs > 4 {
		t.Errorf("decoding bytes: %v allocations", allocs)
	}
}

func BenchmarkFloats1M(b *testing.B) {
	l := floatList(1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		buf, err := Encode(l, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBytes10MB(b *testing.B) {
	v := starlark.Bytes(strings.Repeat("\xab", 10<<20))
	b.SetBytes(10 << 20)
	b.ReportAllocs()
	for b.Loop() {
		buf, err := Encode(v, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFloatSlab checks floats decoded without per-element allocation behave
// like ordinary floats, also after a garbage collection.
func TestFloatSlab(t *testing.T) {
	v := eval(t, "[1.5, 'a', -2.5, None, nan, (0.25, 8.0)]")
	b, err := Encode(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	b = nil
	runtime.GC()
	l := got.(*starlark.List)
	f, ok := l.Index(2).(starlark.Float)
	if !ok || f != -2.5 || l.Index(2) != starlark.Value(starlark.Float(-2.5)) {
		t.Errorf("element 2: %#v", l.Index(2))
	}
	if h1, _ := l.Index(0).Hash(); true {
		h2, _ := starlark.Float(1.5).Hash()
		if h1 != h2 {
			t.Errorf("hash %d, want %d", h1, h2)
		}
	}
	if s := got.String(); s != `[1.5, "a", -2.5, None, nan, (0.25, 8.0)]` {
		t.Errorf("got %s", s)
	}
}

func BenchmarkFloats1MEncode(b *testing.B) {
	l := floatList(1_000_000)
	for b.Loop() {
		if _, err := Encode(l, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloats1MDecode(b *testing.B) { benchDecode(b, floatList(1_000_000)) }

func BenchmarkInts50kDecode(b *testing.B) {
	elems := make([]starlark.Value, 50000)
	for i := range elems {
		x := int64(50000 + i)
		elems[i] = starlark.MakeInt64(x * x)
	}
	benchDecode(b, starlark.NewList(elems))
}

// benchDecode times decoding the encoding of v.
func benchDecode(b *testing.B, v starlark.Value) {
	buf, err := Encode(v, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloats1MLive is an engine's side of a push and a pull of a
// million floats: decode the pushed value and keep it (the previous one
// becomes garbage), then encode it; the live list is what each garbage
// collection marks.
func BenchmarkFloats1MLive(b *testing.B) {
	body, err := Encode(floatList(1_000_000), nil)
	if err != nil {
		b.Fatal(err)
	}
	var live starlark.Value
	for b.Loop() {
		if live, err = Decode(append([]byte(nil), body...), nil); err != nil {
			b.Fatal(err)
		}
		if _, err := Encode(live, nil); err != nil {
			b.Fatal(err)
		}
	}
}
