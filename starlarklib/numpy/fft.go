package numpy

import (
	"fmt"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"gonum.org/v1/gonum/dsp/fourier"
)

func fftModule() *starlarkstruct.Module {
	return subModule("fft", map[string]impl{
		"fft":      fftComplex,
		"ifft":     fftComplex,
		"rfft":     fftReal,
		"irfft":    fftInverseReal,
		"fftfreq":  fftFreq,
		"rfftfreq": fftFreq,
	})
}

// Plans are costly to make for large sizes (about 12 ms for 2^20 points):
// the last few are kept, one user at a time each.
type plan struct {
	mu sync.Mutex
	r  *fourier.FFT
	c  *fourier.CmplxFFT
}

var (
	plansMu sync.Mutex
	plans   = map[[2]int]*plan{} // [n, complex?] → plan
	planAge [][2]int
)

const maxPlans = 8

func getPlan(n int, complexPlan bool) *plan {
	key := [2]int{n, 0}
	if complexPlan {
		key[1] = 1
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	if p, ok := plans[key]; ok {
		return p
	}
	p := &plan{}
	if complexPlan {
		p.c = fourier.NewCmplxFFT(n)
	} else {
		p.r = fourier.NewFFT(n)
	}
	if len(planAge) == maxPlans {
		delete(plans, planAge[0])
		planAge = planAge[1:]
	}
	plans[key] = p
	planAge = append(planAge, key)
	return p
}

// fftInput parses (a, n=None) for a 1-d array and returns it, and the
// transform length.
func fftInput(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Array, int, error) {
	var av, nv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "n?", &nv); err != nil {
		return nil, 0, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, 0, err
	}
	if len(a.shape) != 1 {
		return nil, 0, fmt.Errorf("%s: only 1-d arrays are supported", fn)
	}
	n := a.Size()
	if fn == "irfft" {
		n = 2 * (a.Size() - 1)
	}
	if nv != nil && nv != starlark.None {
		if n, err = starlark.AsInt32(nv); err != nil {
			return nil, 0, fmt.Errorf("%s: n: %w", fn, err)
		}
	}
	if n < 1 || n > maxElements {
		return nil, 0, fmt.Errorf("%s: invalid number of data points (%d) specified", fn, n)
	}
	return a, n, nil
}

// fitLen truncates or zero-pads s to n elements.
func fitLen[T any](s []T, n int) []T {
	out := make([]T, n)
	copy(out, s)
	return out
}

func fftComplex(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, n, err := fftInput(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	src := fitLen(a.complexes(), n)
	dst := make([]complex128, n)
	p := getPlan(n, true)
	p.mu.Lock()
	if fn == "fft" {
		p.c.Coefficients(dst, src)
	} else {
		p.c.Sequence(dst, src)
	}
	p.mu.Unlock()
	if fn == "ifft" {
		for k := range dst {
			dst[k] /= complex(float64(n), 0)
		}
	}
	return NewComplex128([]int{n}, dst), nil
}

func fftReal(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, n, err := fftInput(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 {
		return nil, fmt.Errorf("%s: input must be real", fn)
	}
	src := a.floats()
	if len(src) != n {
		src = fitLen(src, n)
	}
	dst := make([]complex128, n/2+1)
	p := getPlan(n, false)
	p.mu.Lock()
	p.r.Coefficients(dst, src)
	p.mu.Unlock()
	return NewComplex128([]int{len(dst)}, dst), nil
}

func fftInverseReal(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, n, err := fftInput(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	coeff := fitLen(a.complexes(), n/2+1)
	// The imaginary parts of the DC and (for even n) Nyquist terms are
	// ignored, as NumPy's C2R transform does.
	coeff[0] = complex(real(coeff[0]), 0)
	if n%2 == 0 {
		coeff[n/2] = complex(real(coeff[n/2]), 0)
	}
	dst := make([]float64, n)
	p := getPlan(n, false)
	p.mu.Lock()
	p.r.Sequence(dst, coeff)
	p.mu.Unlock()
	for k := range dst {
		dst[k] /= float64(n)
	}
	return NewFloat64([]int{n}, dst), nil
}

// fftFreq is fftfreq(n, d=1.0) and rfftfreq(n, d=1.0).
func fftFreq(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int
	d := floatParam(1)
	if err := starlark.UnpackArgs(fn, args, kwargs, "n", &n, "d?", &d); err != nil {
		return nil, err
	}
	if n < 1 || n > maxElements {
		return nil, fmt.Errorf("%s: n must be positive", fn)
	}
	m := n
	if fn == "rfftfreq" {
		m = n/2 + 1
	}
	out := make([]float64, m)
	for k := range out {
		f := k
		if fn == "fftfreq" && k > (n-1)/2 {
			f = k - n
		}
		out[k] = float64(f) / (float64(n) * float64(d))
	}
	return NewFloat64([]int{m}, out), nil
}
