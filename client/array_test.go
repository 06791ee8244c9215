package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// TestArrayTransport pushes typed arrays to two engines, computes on them
// with np, and pulls typed arrays back.
func TestArrayTransport(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	v := c.View()
	a := client.Array{Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, 6}}
	if err := v.Push(ctx, map[string]any{
		"a": a,
		"i": client.Array{Shape: []int{3}, Data: []int64{-1, 0, 1 << 62}},
		"m": &client.Array{Shape: []int{2}, Data: []bool{true, false}},
		"z": client.Array{Shape: []int{1}, Data: []complex128{complex(1, -2)}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := v.Execute(ctx, "b = a.T * 2\nw = np.linalg.eigvals(np.array([[0., -1], [1, 0]]))\nk = i + 1\nn = ~m\nzz = z + z"); err != nil {
		t.Fatal(err)
	}
	pull := func(expr string) []any {
		t.Helper()
		got, err := v.Pull(ctx, expr)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("pull %s: %d values, want 2", expr, len(got))
		}
		return got
	}
	for _, tc := range []struct {
		expr string
		want client.Array
	}{
		{"b", client.Array{Shape: []int{3, 2}, Data: []float64{2, 8, 4, 10, 6, 12}}},
		{"w", client.Array{Shape: []int{2}, Data: []complex128{complex(0, 1), complex(0, -1)}}},
		{"k", client.Array{Shape: []int{3}, Data: []int64{0, 1, 1<<62 + 1}}},
		{"n", client.Array{Shape: []int{2}, Data: []bool{false, true}}},
		{"zz", client.Array{Shape: []int{1}, Data: []complex128{complex(2, -4)}}},
		{"np.zeros((0, 2))", client.Array{Shape: []int{0, 2}, Data: []float64{}}},
	} {
		for _, got := range pull(tc.expr) {
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pull %s (-want +got):\n%s", tc.expr, diff)
			}
		}
	}
	for _, got := range pull("w[0]") {
		if got != complex(0, 1) {
			t.Errorf("pull of a complex element gave %#v", got)
		}
	}
	// An array as an apply argument and as a result inside a list.
	got, err := v.Apply(ctx, "lambda x: [x.sum(), x[1]]", a)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{float64(21), client.Array{Shape: []int{3}, Data: []float64{4, 5, 6}}}
	for _, g := range got {
		if diff := cmp.Diff(want, g); diff != "" {
			t.Errorf("apply (-want +got):\n%s", diff)
		}
	}
	// Bad arrays are refused before sending.
	if err := v.Push(ctx, map[string]any{"x": client.Array{Shape: []int{3}, Data: []float64{1}}}); err == nil {
		t.Error("push of an array whose data does not fill its shape succeeded")
	}
	// A large array travels as one typed byte string.
	big := make([]float64, 1<<20)
	for k := range big {
		big[k] = float64(k)
	}
	if err := v.Push(ctx, map[string]any{"big": client.Array{Shape: []int{len(big)}, Data: big}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range pull("big.sum()") {
		if s != float64(len(big))*float64(len(big)-1)/2 {
			t.Errorf("engine sum of the pushed array = %v", s)
		}
	}
	for _, g := range pull("big") {
		if got := g.(client.Array).Data.([]float64); len(got) != len(big) || got[12345] != 12345 {
			t.Errorf("pulled big array of %d elements", len(got))
		}
	}
}
