package clientlib_test

import (
	"math"
	"math/big"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
)

// valueGen builds a Starlark value from fuzz input bytes.
type valueGen struct {
	b []byte
	n int // values made, bounded
}

func (g *valueGen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *valueGen) str() string {
	n := int(g.byte() % 6)
	s := make([]rune, n)
	for i := range s {
		s[i] = rune("a1é\u00ff\U0001F600 "[g.byte()%6])
	}
	return string(s)
}

// hashable returns a value usable as a dict key or set element.
func (g *valueGen) hashable() starlark.Value {
	switch g.byte() % 5 {
	case 0:
		return starlark.MakeInt(int(int8(g.byte())))
	case 1:
		return starlark.String(g.str())
	case 2:
		return starlark.Tuple{starlark.MakeInt(int(g.byte())), starlark.String(g.str())}
	case 3:
		return starlark.Bool(g.byte()%2 == 0)
	}
	return starlark.None
}

func (g *valueGen) value(depth int) starlark.Value {
	g.n++
	k := g.byte() % 16
	if depth > 4 || g.n > 200 {
		k %= 8
	}
	switch k {
	case 0:
		return starlark.None
	case 1:
		return starlark.Bool(g.byte()%2 == 1)
	case 2:
		return starlark.MakeInt64(int64(int16(uint16(g.byte())<<8 | uint16(g.byte()))))
	case 3:
		b := new(big.Int).Lsh(big.NewInt(int64(g.byte())+1), 64+uint(g.byte()%70))
		if g.byte()%2 == 0 {
			b.Neg(b)
		}
		return starlark.MakeBigInt(b)
	case 4:
		return starlark.Float([]float64{0, -0.5, 1e300, math.Inf(1), math.Inf(-1), 3.25, -1e-310}[g.byte()%7])
	case 5:
		return starlark.String(g.str())
	case 6:
		return starlark.Bytes(g.str())
	case 7:
		return starlark.MakeUint64(math.MaxUint64 - uint64(g.byte()))
	case 8, 9:
		n := int(g.byte() % 4)
		l := make([]starlark.Value, n)
		for i := range l {
			l[i] = g.value(depth + 1)
		}
		if k == 8 {
			return starlark.NewList(l)
		}
		return starlark.Tuple(l)
	case 10, 11:
		d := starlark.NewDict(4)
		for range g.byte() % 4 {
			var key starlark.Value = starlark.String(g.str())
			if k == 11 {
				key = g.hashable()
			}
			d.SetKey(key, g.value(depth+1))
		}
		return d
	case 12:
		s := starlark.NewSet(4)
		for range g.byte() % 4 {
			s.Insert(g.hashable())
		}
		return s
	case 13:
		d := starlark.StringDict{}
		for range g.byte() % 3 {
			d["f"+g.str()] = g.value(depth + 1)
		}
		return starlarkstruct.FromStringDict(starlarkstruct.Default, d)
	case 14:
		// {1: "a", "1": "b"}: keys equal as text, distinct as values.
		d := starlark.NewDict(2)
		d.SetKey(starlark.MakeInt(1), starlark.String("a"))
		d.SetKey(starlark.String("1"), starlark.String("b"))
		return d
	}
	return starlark.Tuple{}
}

// roundTrip sends v through both codecs: Starlark → CBOR (starlarklib) →
// Go (client) → CBOR (client) → Starlark.
func roundTrip(t *testing.T, v starlark.Value) {
	t.Helper()
	b, err := starlarklib.Encode(v, nil)
	if err != nil {
		t.Fatalf("starlarklib encode %s: %v", v, err)
	}
	g, err := client.Decode(b)
	if err != nil {
		t.Fatalf("client decode %s: %v", v, err)
	}
	b2, err := client.Encode(g)
	if err != nil {
		t.Fatalf("client encode %s (%#v): %v", v, g, err)
	}
	back, err := starlarklib.Decode(b2, &starlarklib.DecodeOptions{})
	if err != nil {
		t.Fatalf("starlarklib decode of %s: %v", v, err)
	}
	eq, err := starlark.Equal(v, back)
	if err != nil || !eq {
		t.Fatalf("round trip changed the value:\n  sent %s\n  got  %s (%v)", v, back, err)
	}
}

func TestCodecsAgree(t *testing.T) {
	d := starlark.NewDict(2)
	d.SetKey(starlark.MakeInt(1), starlark.String("a"))
	d.SetKey(starlark.String("1"), starlark.String("b"))
	b, err := starlarklib.Encode(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := client.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if gd, ok := g.(client.Dict); !ok || len(gd) != 2 {
		t.Fatalf("client.Decode(%s) = %#v, want a Dict of 2 entries", d, g)
	}
	for _, seed := range [][]byte{nil, {10, 3, 1, 2, 0, 5}, {14}, {9, 3, 3, 0, 12, 3, 2, 1, 0}, {13, 2, 1, 8, 2, 5}} {
		roundTrip(t, (&valueGen{b: seed}).value(0))
	}
}

func FuzzCodecsAgree(f *testing.F) {
	f.Add([]byte{10, 3, 1, 2, 0, 5})
	f.Add([]byte{11, 3, 0, 7, 1, 2, 3, 12, 2, 2, 9})
	f.Add([]byte{14})
	f.Add([]byte{13, 2, 1, 8, 2, 5, 3, 4, 4, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, (&valueGen{b: b}).value(0))
	})
}
