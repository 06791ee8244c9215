package starlarklib

import (
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

// TestRangeSliceRoundTrip checks that every chunk of a range, sent with
// RangeSlice, decodes to a range of the same elements.
func TestRangeSliceRoundTrip(t *testing.T) {
	for _, src := range []string{"range(0)", "range(7)", "range(3, 50, 4)", "range(50, 3, -4)",
		"range(-5, 5)", "range(2147483600, 2147483647, 10)", "range(-2147483648, -2147483600, 7)", "range(9223372036854775800, 9223372036854775807, 3)"} {
		v, err := starlark.Eval(&starlark.Thread{}, "<test>", src, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := v.(starlark.Indexable)
		n := r.Len()
		for lo := 0; lo <= n; lo++ {
			for hi := lo; hi <= n && hi <= lo+12; hi++ {
				w, ok := RangeSlice(v, lo, hi)
				if !ok {
					t.Fatalf("%s: not a range", src)
				}
				b, err := Encode(w, nil)
				if err != nil {
					t.Fatalf("%s[%d:%d]: %v", src, lo, hi, err)
				}
				got, err := Decode(b, nil)
				if err != nil {
					t.Fatalf("%s[%d:%d]: %v", src, lo, hi, err)
				}
				if got.Type() != "range" {
					t.Fatalf("%s[%d:%d]: decoded a %s", src, lo, hi, got.Type())
				}
				g := got.(starlark.Indexable)
				if g.Len() != hi-lo {
					t.Fatalf("%s[%d:%d]: %s has %d elements", src, lo, hi, got, g.Len())
				}
				for i := range hi - lo {
					if eq, _ := starlark.Equal(g.Index(i), r.Index(lo+i)); !eq {
						t.Fatalf("%s[%d:%d]: element %d is %s, want %s", src, lo, hi, i, g.Index(i), r.Index(lo+i))
					}
				}
			}
		}
	}
	if _, ok := RangeSlice(starlark.NewList(nil), 0, 0); ok {
		t.Fatal("a list taken for a range")
	}
}

// TestRangeDecodeBad checks that a malformed range is refused with an
// error, not a panic.
func TestRangeDecodeBad(t *testing.T) {
	for name, b := range map[string][]byte{
		"two bounds":   {0xd9, 0x9d, 0x75, 0x82, 0x01, 0x02},
		"zero step":    {0xd9, 0x9d, 0x75, 0x83, 0x01, 0x02, 0x00},
		"text bound":   {0xd9, 0x9d, 0x75, 0x83, 0x61, 'a', 0x02, 0x01},
		"beyond int64": {0xd9, 0x9d, 0x75, 0x83, 0x00, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
		"not an array": {0xd9, 0x9d, 0x75, 0x01},
	} {
		if v, err := Decode(b, nil); err == nil {
			t.Errorf("%s: decoded %v", name, v)
		}
	}
}

// A range that arrived as one (a map chunk) is sent on as the list of
// its ints, as every Starlark range is: only RangeSlice sends ranges.
func TestDecodedRangeGoesOnAsList(t *testing.T) {
	w, _ := RangeSlice(starlark.Value(rangeOf(t, "range(3, 12, 4)")), 0, 3)
	b, _ := Encode(w, nil)
	r, err := Decode(b, nil)
	if err != nil || r.Type() != "range" {
		t.Fatalf("decoded %v, %v", r, err)
	}
	b2, err := Encode(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Decode(b2, nil)
	if err != nil || v.String() != "[3, 7, 11]" {
		t.Errorf("sent on as %v, %v; want the list [3, 7, 11]", v, err)
	}
}

func rangeOf(t *testing.T, src string) starlark.Value {
	t.Helper()
	v, err := starlark.Eval(&starlark.Thread{}, "<test>", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A range longer than a list may be is refused at once with an error
// that says so, not expanded until memory runs out (a fuzz finding: a
// received range of 10^17 elements, sent on).
func TestHugeRangeRefused(t *testing.T) {
	for _, src := range []string{"range(10000000000)", "range(-17, -3472328296227680304, -18)"} {
		done := make(chan error, 1)
		go func() {
			_, err := Encode(rangeOf(t, src), nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "a range of") || !strings.Contains(err.Error(), "at most") {
				t.Errorf("Encode(%s) = %v, want the range refused", src, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Encode(%s) did not return", src)
		}
	}
}
