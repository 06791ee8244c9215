package starlarklib

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
)

// eval evaluates a Starlark expression for test values.
func eval(t testing.TB, src string) starlark.Value {
	t.Helper()
	env := starlark.StringDict{
		"struct":    starlark.NewBuiltin("struct", starlarkstruct.Make),
		"Reference": ReferenceBuiltin(),
		"nan":       starlark.Float(math.NaN()),
		"inf":       starlark.Float(math.Inf(1)),
		"err": &ErrorValue{Err: protocol.RemoteError{
			Name: "ZeroDivisionError", Message: "division by zero", Traceback: "tb", Engine: 3, Method: "apply",
		}},
	}
	thread := &starlark.Thread{Name: "test"}
	v, err := starlark.EvalOptions(&syntax.FileOptions{Set: true}, thread, "test.star", src, env)
	if err != nil {
		t.Fatalf("eval %s: %v", src, err)
	}
	return v
}

// fakeHooks ships functions by name through a table.
type fakeHooks struct{ fns map[string]*starlark.Function }

func (h *fakeHooks) export(f *starlark.Function) (*protocol.Function, error) {
	free, err := Encode(starlark.MakeInt(f.NumFreeVars()), nil)
	if err != nil {
		return nil, err
	}
	h.fns[f.Name()] = f
	return &protocol.Function{Name: f.Name(), Source: "def " + f.Name() + "(): pass", Line: 1,
		Free: []protocol.Binding{{Name: "n", Value: free}}}, nil
}

func (h *fakeHooks) build(f *protocol.Function) (starlark.Value, error) {
	if len(f.Free) != 1 || f.Free[0].Name != "n" {
		return nil, errors.New("bad free variables")
	}
	if _, err := Decode(f.Free[0].Value, nil); err != nil {
		return nil, err
	}
	fn, ok := h.fns[f.Name]
	if !ok {
		return nil, errors.New("unknown function " + f.Name)
	}
	return fn, nil
}

func equal(t testing.TB, x, y starlark.Value) bool {
	t.Helper()
	if x.Type() != y.Type() {
		return false
	}
	// NaN is not equal to itself: compare encodings, which are canonical.
	bx, err1 := Encode(x, &EncodeOptions{ExportFunction: func(f *starlark.Function) (*protocol.Function, error) {
		return &protocol.Function{Name: f.Name()}, nil
	}})
	by, err2 := Encode(y, &EncodeOptions{ExportFunction: func(f *starlark.Function) (*protocol.Function, error) {
		return &protocol.Function{Name: f.Name()}, nil
	}})
	if err1 != nil || err2 != nil {
		t.Fatalf("encode for comparison: %v, %v", err1, err2)
	}
	return bytes.Equal(bx, by) && x.String() == y.String()
}

func TestRoundTrip(t *testing.T) {
	fnv := eval(t, "[lambda x: x + 1 for _ in [0]][0]")
	h := &fakeHooks{fns: map[string]*starlark.Function{}}
	eo := &EncodeOptions{ExportFunction: h.export}
	do := &DecodeOptions{BuildFunction: h.build}
	tests := []string{
		"None", "True", "False",
		"0", "1", "-1", "23", "24", "255", "256", "65535", "65536", "-65537",
		"9223372036854775807", "-9223372036854775808", "18446744073709551615", "-18446744073709551616",
		"18446744073709551616", "-18446744073709551617",
		"2 << 100", "-(1 << 100)", "1 << 100", "-(1 << 100) - 1", "(1 << 500) * (1 << 499) + 12345",
		"0.0", "-0.0", "1.5", "1e300", "nan", "inf", "-inf",
		`""`, `"héllo\x00"`, `"x" * 1000`,
		`b""`, `b"\xff\x00abc"`,
		"[]", "()", "{}", "set()", "struct()",
		"[1, [2, [3, (4,)]], {'a': [None]}]",
		"(1, 'a', b'b', 2.5)",
		"{'z': 1, 'a': 2, 'm': {'y': [], 'b': ()}}",
		"{1: 'a', 'b': 2, (1, 2): 3, None: 4, 2.5: 5, True: 6}",
		"{b'k': 1}",
		"set([3, 1, 2, 'x', (1, 2)])",
		"struct(b=1, a=[2], c=struct(x=None))",
		"Reference('a + b')",
		"err",
		"[err, Reference('x'), {'f': 1}]",
		// Runs of scalars broken by other values (the encoder's scalar
		// runs).
		"[1.5, -3, 0, 9223372036854775807, -9223372036854775808, 1 << 70, 2.5, 'a', -1, None, 0.5, -(1 << 64)]",
		"[float(x) / 3 for x in range(70000)] + [1 << 80] + list(range(-5, 70000))",
	}
	for _, src := range tests {
		t.Run(src, func(t *testing.T) {
			v := eval(t, src)
			b, err := Encode(v, eo)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b, do)
			if err != nil {
				t.Fatalf("Decode %x: %v", b, err)
			}
			if !equal(t, v, got) {
				t.Errorf("round trip: got %s (%s), want %s (%s)", got, got.Type(), v, v.Type())
			}
			if !strings.Contains(src, "nan") {
				if eq, err := starlark.Equal(v, got); err != nil || !eq {
					t.Errorf("starlark.Equal(%s, %s) = %v, %v", v, got, eq, err)
				}
			}
		})
	}
	t.Run("function", func(t *testing.T) {
		v := starlark.NewList([]starlark.Value{fnv, starlark.Tuple{fnv}})
		b, err := Encode(v, eo)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b, do)
		if err != nil {
			t.Fatal(err)
		}
		l := got.(*starlark.List)
		if l.Index(0) != fnv || l.Index(1).(starlark.Tuple)[0] != fnv {
			t.Errorf("functions not rebuilt: %s", got)
		}
		if _, err := Decode(b, nil); err == nil || !strings.Contains(err.Error(), "cannot receive function") {
			t.Errorf("Decode without BuildFunction: got %v, want cannot receive function", err)
		}
		if _, err := Encode(fnv, nil); err == nil || !strings.Contains(err.Error(), "cannot send function at value") {
			t.Errorf("Encode without ExportFunction: got %v", err)
		}
	})
}

func TestDictOrder(t *testing.T) {
	for _, src := range []string{
		"{'z': 1, 'a': 2, 'm': 3, 'b': 4}",
		"{3: 1, 'a': 2, 1: 3, (2,): 4}",
	} {
		v := eval(t, src).(*starlark.Dict)
		b, err := Encode(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != v.String() {
			t.Errorf("order: got %s, want %s", got, v)
		}
	}
	// Wire order of a foreign map is kept, not sorted.
	got, err := Decode([]byte{0xa3, 0x61, 'z', 1, 0x61, 'a', 2, 0x61, 'm', 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"z": 1, "a": 2, "m": 3}`; got.String() != want {
		t.Errorf("wire order: got %s, want %s", got, want)
	}
}

func TestStructFieldOrder(t *testing.T) {
	v := eval(t, "struct(zeta=1, alpha=2, mid=3)")
	b, err := Encode(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m cbor.Tag
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Number != protocol.TagStruct {
		t.Fatalf("tag %d, want %d", m.Number, protocol.TagStruct)
	}
	got, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != v.String() || got.String() != "struct(alpha = 2, mid = 3, zeta = 1)" {
		t.Errorf("got %s, want %s", got, v)
	}
}

func TestBigInts(t *testing.T) {
	p := new(big.Int).Lsh(big.NewInt(1), 100)
	n := new(big.Int).Neg(p)
	for _, x := range []*big.Int{p, n} {
		v := starlark.MakeBigInt(x)
		b, err := Encode(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.(starlark.Int).BigInt().Cmp(x) != 0 {
			t.Errorf("got %s, want %s", got, x)
		}
		// The cbor library agrees on the value.
		var any1 any
		dm, _ := protocol.DecMode(protocol.Limits{})
		if err := dm.Unmarshal(b, &any1); err != nil {
			t.Fatal(err)
		}
		bi, ok := any1.(big.Int)
		if !ok {
			t.Fatalf("cbor decodes %T", any1)
		}
		if bi.Cmp(x) != 0 {
			t.Errorf("cbor library: got %s, want %s", &bi, x)
		}
	}
}

func TestReference(t *testing.T) {
	v := eval(t, "Reference('a.b[0]')")
	if v.String() != "<Reference: a.b[0]>" || v.Type() != "Reference" {
		t.Errorf("got %s of type %s", v, v.Type())
	}
	b, err := Encode(starlark.Tuple{v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := got.(starlark.Tuple)[0].(*Reference); !ok || r.Expr != "a.b[0]" {
		t.Errorf("without hook: got %s", got)
	}
	got, err = Decode(b, &DecodeOptions{Reference: func(expr string) (starlark.Value, error) {
		return starlark.String("evaluated " + expr), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.(starlark.Tuple)[0]; s != starlark.String("evaluated a.b[0]") {
		t.Errorf("with hook: got %s", s)
	}
	_, err = Decode(b, &DecodeOptions{Reference: func(expr string) (starlark.Value, error) {
		return nil, errors.New("undefined: a")
	}})
	if err == nil || !strings.Contains(err.Error(), "undefined: a") {
		t.Errorf("hook error: got %v", err)
	}
	thread := &starlark.Thread{}
	if _, err := starlark.Call(thread, ReferenceBuiltin(), starlark.Tuple{starlark.String("a +")}, nil); err == nil {
		t.Error("Reference('a +'): no error")
	}
}

func TestErrorValue(t *testing.T) {
	ev := &ErrorValue{Err: protocol.RemoteError{Name: "ZeroDivisionError", Message: "division by zero", Engine: 0, Method: "apply", Traceback: "tb"}}
	if got, want := ev.String(), "[0:apply] ZeroDivisionError: division by zero"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	if ev.Truth() != starlark.False || ev.Type() != "RemoteError" {
		t.Errorf("Truth %v, Type %s", ev.Truth(), ev.Type())
	}
	noEngine := ErrorValue{Err: protocol.RemoteError{Name: "EngineError", Message: "died", Engine: -1, Method: "apply"}}
	if got, want := noEngine.String(), "EngineError: died"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	for name, want := range map[string]starlark.Value{
		"ename": starlark.String("ZeroDivisionError"), "evalue": starlark.String("division by zero"),
		"engine_id": starlark.MakeInt(0), "method": starlark.String("apply"), "traceback": starlark.String("tb"),
	} {
		got, err := ev.Attr(name)
		if err != nil || got != want {
			t.Errorf("Attr(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
}

func TestUnsendable(t *testing.T) {
	env := starlark.StringDict{"len": starlark.Universe["len"]}
	mk := func(src string) starlark.Value {
		v, err := starlark.EvalOptions(&syntax.FileOptions{Set: true}, &starlark.Thread{}, "t", src, env)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		src, want string
	}{
		{"len", "cannot send builtin_function_or_method at value"},
		{"[1, {'k': [len]}]", `cannot send builtin_function_or_method at value[1]["k"][0]`},
		{"(1, {2: len})", "cannot send builtin_function_or_method at value[1][2]"},
		{"{len: 1}", "cannot send builtin_function_or_method at value[<built-in function len>]"},
		{"set([len])", "cannot send builtin_function_or_method at value{<built-in function len>}"},
	}
	for _, tt := range tests {
		_, err := Encode(mk(tt.src), nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Encode(%s): got %v, want %s", tt.src, err, tt.want)
		}
		if !errors.Is(err, ErrUnsendable) {
			t.Errorf("Encode(%s): error does not wrap ErrUnsendable", tt.src)
		}
	}
	_, err := EncodeCall(starlark.String("f"), starlark.Tuple{starlark.None, mk(`{"k": [len]}`)}, nil, nil)
	if want := `cannot send builtin_function_or_method at args[1]["k"][0]`; err == nil || err.Error() != want {
		t.Errorf("EncodeCall args: got %v, want %s", err, want)
	}
	_, err = EncodeCall(starlark.String("f"), nil, []starlark.Tuple{{starlark.String("x"), mk("[len]")}}, nil)
	if want := `cannot send builtin_function_or_method at kwargs[x][0]`; err == nil || err.Error() != want {
		t.Errorf("EncodeCall kwargs: got %v, want %s", err, want)
	}
	_, err = Encode(starlark.String("\xff"), nil)
	if err == nil || !strings.Contains(err.Error(), "cannot send string at value: invalid UTF-8") {
		t.Errorf("bad UTF-8: got %v", err)
	}
	// A cyclic list is an error, not a stack overflow.
	l := starlark.NewList(nil)
	_ = l.Append(l)
	if _, err := Encode(l, nil); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("cyclic list: got %v", err)
	}
}

func TestCall(t *testing.T) {
	fn := eval(t, "Reference('f')")
	args := eval(t, "(1, 'two', [3.0])").(starlark.Tuple)
	kwargs := []starlark.Tuple{{starlark.String("z"), starlark.None}, {starlark.String("a"), eval(t, "{1: 2}")}}
	b, err := EncodeCall(fn, args, kwargs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var plain []any
	if err := cbor.Unmarshal(b, &plain); err != nil || len(plain) != 3 {
		t.Fatalf("cbor.Unmarshal: %v, %d items", err, len(plain))
	}
	gfn, gargs, gkw, err := DecodeCall(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(t, fn, gfn) || !equal(t, args, gargs) || len(gkw) != 2 ||
		gkw[0][0] != starlark.String("z") || gkw[1][0] != starlark.String("a") || !equal(t, gkw[1][1], kwargs[1][1]) {
		t.Errorf("got %s %s %v", gfn, gargs, gkw)
	}
	if _, _, _, err := DecodeCall(b[:len(b)-1], nil); err == nil {
		t.Error("truncated call: no error")
	}
	if _, _, _, err := DecodeCall([]byte{0x82, 0xf6, 0x80}, nil); err == nil {
		t.Error("two-element call: no error")
	}
}

// TestDifferential checks that the cbor library reads Encode's output.
func TestDifferential(t *testing.T) {
	for _, src := range []string{
		"[None, True, 1, -5, 1 << 70, 1.5, 'x', b'y', {'a': [1, {'b': 2}]}]",
		"(1, set([2]), {1: 2}, struct(a=1), Reference('x'), err)",
	} {
		b, err := Encode(eval(t, src), nil)
		if err != nil {
			t.Fatal(err)
		}
		var x any
		if err := cbor.Unmarshal(b, &x); err != nil {
			t.Errorf("cbor.Unmarshal(Encode(%s)): %v", src, err)
		}
		if err := cbor.Wellformed(b); err != nil {
			t.Errorf("Wellformed(Encode(%s)): %v", src, err)
		}
	}
	// And the codec reads the cbor library's output of plain values.
	b, err := cbor.Marshal([]any{nil, true, int64(-3), uint64(math.MaxUint64), float32(1.5), "s", []byte{1}, map[string]any{"k": []any{}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[None, True, -3, 18446744073709551615, 1.5, "s", b"\x01", {"k": []}]`; v.String() != want {
		t.Errorf("got %s, want %s", v, want)
	}
}

func TestHalfFloat(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want float64
	}{
		{[]byte{0xf9, 0x3c, 0x00}, 1}, {[]byte{0xf9, 0xc0, 0x00}, -2}, {[]byte{0xf9, 0x7b, 0xff}, 65504},
		{[]byte{0xf9, 0x00, 0x01}, 5.960464477539063e-8}, {[]byte{0xf9, 0x7c, 0x00}, math.Inf(1)},
	} {
		v, err := Decode(tc.b, nil)
		if err != nil || float64(v.(starlark.Float)) != tc.want {
			t.Errorf("Decode(%x) = %v, %v; want %v", tc.b, v, err, tc.want)
		}
	}
	v, err := Decode([]byte{0xf9, 0x7e, 0x00}, nil)
	if err != nil || !math.IsNaN(float64(v.(starlark.Float))) {
		t.Errorf("half NaN: %v, %v", v, err)
	}
}

// TestDeepEncodeErrorIsShort: the path in the error of a value nested too
// deep names its ends, not every level (it was 256 "[0]" segments).
func TestDeepEncodeErrorIsShort(t *testing.T) {
	v := starlark.Value(starlark.NewList(nil))
	for range 300 {
		v = starlark.NewList([]starlark.Value{v})
	}
	_, err := Encode(v, nil)
	if err == nil || !strings.Contains(err.Error(), "nested more than") || len(err.Error()) > 200 {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "value[0][0][0][0][0][0][0][0]...(240 levels)...[0][0][0][0][0][0][0][0]: ") {
		t.Errorf("error %v does not start the path", err)
	}
}

// A range arrives as the list of its ints.
func TestRangeArrivesAsList(t *testing.T) {
	b, err := Encode(eval(t, "range(-3, 100000, 7)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eq, _ := starlark.Equal(got, eval(t, "list(range(-3, 100000, 7))")); !eq {
		t.Fatal("range did not arrive as its list")
	}
}
