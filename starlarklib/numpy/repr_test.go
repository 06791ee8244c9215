package numpy

import "testing"

// TestReprComplex checks complex printing against NumPy 1.24.2's output.
func TestReprComplex(t *testing.T) {
	for _, tc := range []struct {
		a    *Array
		want string
	}{
		{NewComplex128([]int{2}, []complex128{complex(1, 2), complex(-3.5, -0.25)}), "array([ 1. +2.j  , -3.5-0.25j])"},
		{NewComplex128([]int{2}, []complex128{complex(0, 1), complex(0, -1)}), "array([0.+1.j, 0.-1.j])"},
		{NewComplex128([]int{1, 2}, []complex128{complex(1e-5, 0), 1}), "array([[1.e-05+0.j, 1.e+00+0.j]])"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("repr\n got %s\nwant %s", got, tc.want)
		}
	}
	if got := Complex(complex(1, -2)).String(); got != "(1-2j)" {
		t.Errorf("complex scalar %s", got)
	}
}
