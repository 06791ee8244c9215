package starlarklib

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/protocol"
)

// mapChunk gives what the Starlark source it replaces gives.
func TestMapChunkMatchesSource(t *testing.T) {
	thread := &starlark.Thread{Name: "test"}
	g, err := starlark.ExecFile(thread, "<pxsh map>", mapChunkSource+`
sq = lambda x: x * x
add = lambda *a: a
def boom(x):
    if x == 2:
        fail("boom at", x)
    return x
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args starlark.Tuple
	}{
		{"one list", starlark.Tuple{g["sq"], eval(t, "[1, 2.5, -3]")}},
		{"empty", starlark.Tuple{g["sq"], eval(t, "[]")}},
		{"zip, shortest wins", starlark.Tuple{g["add"], eval(t, "[1, 2, 3]"), eval(t, "('a', 'b')")}},
		{"one list, *args kept", starlark.Tuple{g["add"], eval(t, "[1, 2]")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := starlark.Call(thread, g["pxsh_map"], c.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := starlark.Call(thread, mapChunkBuiltin, c.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if eq, err := starlark.Equal(got, want); err != nil || !eq {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	_, err = starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{g["boom"], eval(t, "[1, 2, 3]")}, nil)
	if err == nil || !strings.Contains(err.Error(), "boom at 2") {
		t.Fatalf("error from f: %v", err)
	}
	if _, err := starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{g["sq"], starlark.MakeInt(3)}, nil); err == nil {
		t.Fatal("an int accepted as a sequence")
	}
}

// Each call gets its own arguments: a builtin that keeps its argument
// tuple and a function that keeps *args see every element, not the last.
func TestMapChunkKeptArguments(t *testing.T) {
	thread := &starlark.Thread{Name: "test"}
	keep := starlark.NewBuiltin("keep", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return args, nil
	})
	g, err := starlark.ExecFile(thread, "<test>", "def star(*a):\n    return a\nxs = [1, 2.5, 'c']", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []starlark.Value{keep, g["star"]} {
		got, err := starlark.Call(thread, mapChunkBuiltin, starlark.Tuple{f, g["xs"], g["xs"]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s := got.String(); s != `[(1, 1), (2.5, 2.5), ("c", "c")]` {
			t.Errorf("%s: got %s", f, s)
		}
	}
}

// Only the exact map chunk function is replaced.
func TestIsMapChunk(t *testing.T) {
	f := protocol.Function{Name: "pxsh_map", Source: mapChunkSource, File: "<pxsh map>", Line: 1, Col: 1}
	if !IsMapChunk(&f) {
		t.Fatal("map chunk function not recognised")
	}
	f.Source += "\n"
	if IsMapChunk(&f) {
		t.Fatal("another source recognised")
	}
}

func BenchmarkMapChunk50k(b *testing.B) {
	thread := &starlark.Thread{Name: "bench"}
	g, err := starlark.ExecFile(thread, "<bench>", "sq = lambda x: x * x\nxs = list(range(50000))", nil)
	if err != nil {
		b.Fatal(err)
	}
	args := starlark.Tuple{g["sq"], g["xs"]}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := starlark.Call(thread, mapChunkBuiltin, args, nil); err != nil {
			b.Fatal(err)
		}
	}
}
