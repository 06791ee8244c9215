// Command gomodule is a pxsh of its own: the pxsh program with a Go module,
// sim, predeclared on its engines, in its scripts and in its shell. A team
// builds one like it to expose its simulation kernels or data readers to
// parallel Starlark. Every launcher starts engines from the running
// binary, so its clusters have sim too.
//
//	go build -o pxsh-sim ./examples/gomodule
//	./pxsh-sim run -n 2 examples/gomodule/sweep.star
//
// See docs/EMBEDDING.md.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/program"
	"github.com/pxsh/pxsh/starlarklib"
)

func main() {
	os.Exit(program.Main(program.WithModule("sim", starlark.StringDict{
		"kernel": starlark.NewBuiltin("sim.kernel", kernel),
	})))
}

// kernel implements sim.kernel(seed, samples=1000000): a Monte Carlo
// estimate of π from samples points of a random stream seeded by seed,
// computed in Go.
func kernel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seed int
	samples := 1_000_000
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "seed", &seed, "samples?", &samples); err != nil {
		return nil, err
	}
	if samples <= 0 {
		return nil, fmt.Errorf("%s: samples: got %d, want > 0", b.Name(), samples)
	}
	// the task's context: done on abort, timeout or Ctrl-C; long Go
	// kernels should check it now and then
	ctx := starlarklib.Context(thread)
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	inside := 0
	for i := 0; i < samples; i++ {
		if i%65536 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("%s: cancelled: %w", b.Name(), context.Cause(ctx))
		}
		x, y := r.Float64(), r.Float64()
		if x*x+y*y <= 1 {
			inside++
		}
	}
	return starlark.Float(4 * float64(inside) / float64(samples)), nil
}
