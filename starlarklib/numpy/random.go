package numpy

import (
	crand "crypto/rand"
	bin "encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"

	"go.starlark.net/starlark"
)

// generator is a random stream (PCG, math/rand/v2). np.random is one per
// module; np.random.default_rng(seed) makes new ones.
type generator struct {
	mu  sync.Mutex
	pcg *rand.PCG // rng's source, called directly for uniform fills
	rng *rand.Rand
}

func newGenerator(seed starlark.Value) (*generator, error) {
	g := &generator{}
	return g, g.seed(seed)
}

// seed reseeds from an int, or from the operating system for None.
func (g *generator) seed(v starlark.Value) error {
	var s1, s2 uint64
	if v == nil || v == starlark.None {
		var b [16]byte
		if _, err := crand.Read(b[:]); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		s1, s2 = bin.LittleEndian.Uint64(b[:8]), bin.LittleEndian.Uint64(b[8:])
	} else {
		i, ok := v.(starlark.Int)
		if !ok {
			return fmt.Errorf("seed: got %s, want int or None", v.Type())
		}
		u, ok := i.Uint64()
		if !ok {
			x, ok := i.Int64()
			if !ok {
				return fmt.Errorf("seed: %s out of range", i)
			}
			u = uint64(x)
		}
		s1, s2 = u, 0x9e3779b97f4a7c15
	}
	g.mu.Lock()
	g.pcg = rand.NewPCG(s1, s2)
	g.rng = rand.New(g.pcg)
	g.mu.Unlock()
	return nil
}

func (g *generator) String() string        { return "Generator(PCG64)" }
func (g *generator) Type() string          { return "Generator" }
func (g *generator) Freeze()               {}
func (g *generator) Truth() starlark.Bool  { return true }
func (g *generator) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: Generator") }

var generatorMethods = []string{"choice", "integers", "normal", "permutation", "rand", "randint", "randn", "random", "random_sample", "seed", "shuffle", "standard_normal", "uniform"}

func (g *generator) Attr(name string) (starlark.Value, error) {
	i := sort.SearchStrings(generatorMethods, name)
	if i == len(generatorMethods) || generatorMethods[i] != name {
		return nil, nil
	}
	return builtin(name, g.method), nil
}

func (g *generator) AttrNames() []string { return generatorMethods }

// newRandomModule returns np.random with a stream seeded by the OS.
func newRandomModule() starlark.Value {
	g, err := newGenerator(nil)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	members := starlark.StringDict{
		"default_rng": builtin("default_rng", func(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var seed starlark.Value = starlark.None
			if err := starlark.UnpackArgs(fn, args, kwargs, "seed?", &seed); err != nil {
				return nil, err
			}
			return newGenerator(seed)
		}),
	}
	for _, name := range generatorMethods {
		members[name] = builtin(name, g.method)
	}
	return &randomModule{members: members}
}

// randomModule is np.random: the module generator's methods and
// default_rng.
type randomModule struct{ members starlark.StringDict }

func (m *randomModule) String() string        { return "<module 'numpy.random'>" }
func (m *randomModule) Type() string          { return "module" }
func (m *randomModule) Freeze()               {}
func (m *randomModule) Truth() starlark.Bool  { return true }
func (m *randomModule) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: module") }
func (m *randomModule) Attr(name string) (starlark.Value, error) {
	return m.members[name], nil
}
func (m *randomModule) AttrNames() []string { return m.members.Keys() }

// sizeArg parses size=None|int|tuple; ok=false means a scalar result.
func sizeArg(fn string, v starlark.Value) ([]int, bool, error) {
	if v == nil || v == starlark.None {
		return nil, false, nil
	}
	s, err := asShape(v)
	if err != nil {
		return nil, false, fmt.Errorf("%s: size: %w", fn, err)
	}
	return s, true, nil
}

// varShape parses rand(d0, d1, ...) dimensions.
func varShape(fn string, args starlark.Tuple, kwargs []starlark.Tuple) ([]int, bool, error) {
	if len(kwargs) > 0 {
		return nil, false, fmt.Errorf("%s: unexpected keyword arguments", fn)
	}
	if len(args) == 0 {
		return nil, false, nil
	}
	s, err := asShape(args)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", fn, err)
	}
	return s, true, nil
}

// floats fills an array (or returns a scalar) with draws of f.
func (g *generator) floats(shape []int, isArray bool, f func(r *rand.Rand) float64) starlark.Value {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !isArray {
		return starlark.Float(f(g.rng))
	}
	out := make([]float64, prod(shape))
	for k := range out {
		out[k] = f(g.rng)
	}
	return NewFloat64(shape, out)
}

// uniform draws from [0, 1) as rand.Float64 does (53 random bits), calling
// the PCG source directly.
func (g *generator) uniform(shape []int, isArray bool) starlark.Value {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !isArray {
		return starlark.Float(float64(g.pcg.Uint64()<<11>>11) / (1 << 53))
	}
	out := make([]float64, prod(shape))
	pcg := g.pcg
	for k := range out {
		out[k] = float64(pcg.Uint64()<<11>>11) / (1 << 53)
	}
	return NewFloat64(shape, out)
}

func (g *generator) method(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	switch fn {
	case "seed":
		var s starlark.Value = starlark.None
		if err := starlark.UnpackArgs(fn, args, kwargs, "seed?", &s); err != nil {
			return nil, err
		}
		return starlark.None, g.seed(s)
	case "rand", "randn":
		shape, isArray, err := varShape(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		if fn == "rand" {
			return g.uniform(shape, isArray), nil
		}
		return g.floats(shape, isArray, (*rand.Rand).NormFloat64), nil
	case "random", "random_sample", "standard_normal":
		var size starlark.Value
		if err := starlark.UnpackArgs(fn, args, kwargs, "size?", &size); err != nil {
			return nil, err
		}
		shape, isArray, err := sizeArg(fn, size)
		if err != nil {
			return nil, err
		}
		if fn != "standard_normal" {
			return g.uniform(shape, isArray), nil
		}
		return g.floats(shape, isArray, (*rand.Rand).NormFloat64), nil
	case "normal", "uniform":
		return g.twoParam(fn, args, kwargs)
	case "integers", "randint":
		return g.integers(fn, args, kwargs)
	case "permutation", "shuffle":
		return g.permute(fn, args, kwargs)
	case "choice":
		return g.choice(fn, args, kwargs)
	}
	return nil, fmt.Errorf("random.%s: not implemented", fn)
}

func (g *generator) twoParam(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p1, p2 := floatParam(0), floatParam(1)
	var size starlark.Value
	n1, n2 := "loc", "scale"
	if fn == "uniform" {
		n1, n2 = "low", "high"
	}
	if err := starlark.UnpackArgs(fn, args, kwargs, n1+"?", &p1, n2+"?", &p2, "size?", &size); err != nil {
		return nil, err
	}
	shape, isArray, err := sizeArg(fn, size)
	if err != nil {
		return nil, err
	}
	if fn == "normal" {
		if p2 < 0 {
			return nil, fmt.Errorf("%s: scale < 0", fn)
		}
		return g.floats(shape, isArray, func(r *rand.Rand) float64 { return float64(p1) + float64(p2)*r.NormFloat64() }), nil
	}
	return g.floats(shape, isArray, func(r *rand.Rand) float64 { return float64(p1) + float64(p2-p1)*r.Float64() }), nil
}

// integers is integers(low, high=None, size=None): high exclusive, or
// [0, low) when high is None (randint is the same).
func (g *generator) integers(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo int64
	var hiV, size starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "low", &lo, "high?", &hiV, "size?", &size); err != nil {
		return nil, err
	}
	hi := lo
	if hiV == nil || hiV == starlark.None {
		lo = 0
	} else if err := starlark.AsInt(hiV, &hi); err != nil {
		return nil, fmt.Errorf("%s: high: %w", fn, err)
	}
	if hi <= lo {
		return nil, fmt.Errorf("%s: low >= high", fn)
	}
	shape, isArray, err := sizeArg(fn, size)
	if err != nil {
		return nil, err
	}
	span := uint64(hi - lo)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !isArray {
		return starlark.MakeInt64(lo + int64(g.rng.Uint64N(span))), nil
	}
	out := make([]int64, prod(shape))
	for k := range out {
		out[k] = lo + int64(g.rng.Uint64N(span))
	}
	return NewInt64(shape, out), nil
}

// permute is permutation(x) (a shuffled copy, or of arange(x) for an int)
// and shuffle(x) (in place, along the first axis).
func (g *generator) permute(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var xv starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "x", &xv); err != nil {
		return nil, err
	}
	var a *Array
	if n, ok := xv.(starlark.Int); ok && fn == "permutation" {
		m, err := starlark.AsInt32(n)
		if err != nil || m < 0 {
			return nil, fmt.Errorf("%s: bad length %s", fn, n)
		}
		a = NewInt64([]int{m}, nil)
		a.i = make([]int64, m)
		for k := range a.i {
			a.i[k] = int64(k)
		}
	} else {
		var err error
		if a, err = arrayArg(fn, xv); err != nil {
			return nil, err
		}
		if len(a.shape) == 0 {
			return nil, fmt.Errorf("%s: x must be an integer or at least 1-dimensional", fn)
		}
	}
	n := a.shape[0]
	order := make([]int, n)
	for k := range order {
		order[k] = k
	}
	g.mu.Lock()
	g.rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	g.mu.Unlock()
	out := takeAxis(a, 0, order)
	if fn == "shuffle" {
		orig, ok := xv.(*Array)
		if !ok {
			return nil, fmt.Errorf("%s: x must be an ndarray", fn)
		}
		if orig.frozen {
			return nil, fmt.Errorf("%s: cannot shuffle a frozen array", fn)
		}
		orig.b, orig.i, orig.f, orig.c, orig.keep = out.b, out.i, out.f, out.c, out.keep
		return starlark.None, nil
	}
	return out, nil
}

// choice is choice(a, size=None, replace=True): uniform draws from the
// elements of a 1-d array (or arange(a) for an int).
func (g *generator) choice(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, size starlark.Value
	replace := true
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "size?", &size, "replace?", &replace); err != nil {
		return nil, err
	}
	var a *Array
	if n, ok := av.(starlark.Int); ok {
		v, err := npArange(nil, "arange", starlark.Tuple{n}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		a = v.(*Array)
	} else {
		var err error
		if a, err = arrayArg(fn, av); err != nil {
			return nil, err
		}
	}
	if len(a.shape) != 1 || a.Size() == 0 {
		return nil, fmt.Errorf("%s: a must be a non-empty 1-dimensional array or a positive int", fn)
	}
	shape, isArray, err := sizeArg(fn, size)
	if err != nil {
		return nil, err
	}
	k := 1
	if isArray {
		k = prod(shape)
	}
	n := a.Size()
	if !replace && k > n {
		return nil, fmt.Errorf("%s: cannot take a larger sample than population when replace=False", fn)
	}
	idx := make([]int, k)
	g.mu.Lock()
	if replace {
		for j := range idx {
			idx[j] = g.rng.IntN(n)
		}
	} else {
		perm := g.rng.Perm(n)
		copy(idx, perm)
	}
	g.mu.Unlock()
	if !isArray {
		return a.elem(idx[0]), nil
	}
	return a.gather(idx, shape), nil
}
