package numpy_test

import (
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/starlarklib"
)

// benchExpr evaluates setup once, then expr b.N times, in a namespace
// with np.
func benchExpr(b *testing.B, setup, expr string) {
	thread := &starlark.Thread{Name: "bench"}
	g, err := starlark.ExecFileOptions(starlarklib.FileOptions(), thread, "setup", setup, starlarklib.Modules())
	if err != nil {
		b.Fatal(err)
	}
	env := starlarklib.Modules()
	for k, v := range g {
		env[k] = v
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := starlark.EvalOptions(starlarklib.FileOptions(), thread, "expr", expr, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSum1M(b *testing.B)  { benchExpr(b, "x = np.random.rand(1000000)", "np.sum(x)") }
func BenchmarkRand1M(b *testing.B) { benchExpr(b, "", "np.random.rand(1000000)") }
func BenchmarkMul1M(b *testing.B)  { benchExpr(b, "x = np.random.rand(1000000)", "x * x") }
func BenchmarkLess1M(b *testing.B) { benchExpr(b, "x = np.random.rand(1000000)", "np.less(x, 1)") }
func BenchmarkSumBool1M(b *testing.B) {
	benchExpr(b, "x = np.less(np.random.rand(1000000), 0.5)", "np.sum(x)")
}
func BenchmarkPi1M(b *testing.B) {
	benchExpr(b, "", "4 * np.sum(np.less(np.square(np.random.rand(1000000)) + np.square(np.random.rand(1000000)), 1)) / 1000000")
}
func BenchmarkEigvals100(b *testing.B) {
	benchExpr(b, "a = np.random.randn(100, 100)", "np.linalg.eigvals(a)")
}
func BenchmarkRfft1M(b *testing.B) { benchExpr(b, "x = np.random.rand(1000000)", "np.fft.rfft(x)") }
func BenchmarkMatmul300(b *testing.B) {
	benchExpr(b, "m = np.random.randn(300, 300)", "np.matmul(m, m)")
}
