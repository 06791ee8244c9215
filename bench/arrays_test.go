package bench

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// numpyRef are NumPy 1.24.2 + OpenBLAS medians in ms measured on a quiet
// machine of this project's kind (2 vCPU), single-threaded, used when
// python3 has no NumPy (Debian: apt-get install python3-numpy); pi was
// not measured there. push+pull is ipyparallel 7.1 pushing and pulling a
// NumPy array to 2 engines (49–61 ms), always taken from here.
var numpyRef = map[string]float64{
	"push+pull": 55,
	"sum":       0.19,
	"eigvals":   2.02,
	"rfft":      7.25,
	"matmul":    0.90,
}

// goals are the bounds on pxsh/NumPy time ratios.
var goals = map[string]float64{"push+pull": 0.5, "sum": 2, "pi": 2, "eigvals": 2, "rfft": 2, "matmul": 6}

// numpyScript times the same operations with NumPy (when python3 has it)
// and prints "name ms" lines.
const numpyScript = `
import time, numpy as np
def t(f, n):
    f(); ds = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ds.append((time.perf_counter() - t0) * 1e3)
    return min(ds)
x = np.random.rand(1000000); a = np.random.randn(100, 100); m = np.random.randn(300, 300)
def pi():
    u = np.random.rand(1000000); v = np.random.rand(1000000)
    return 4 * np.sum(u * u + v * v < 1) / 1000000
print("sum", t(lambda: np.sum(x), 50))
print("pi", t(pi, 10))
print("eigvals", t(lambda: np.linalg.eigvals(a), 20))
print("rfft", t(lambda: np.fft.rfft(x), 10))
print("matmul", t(lambda: m @ m, 20))
`

// liveNumPy runs numpyScript with python3, if NumPy is importable.
func liveNumPy() map[string]float64 {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		cmd := exec.Command(py, "-c", numpyScript)
		cmd.Env = append(cmd.Environ(), "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1")
		out, err := cmd.Output()
		if err != nil {
			continue
		}
		got := map[string]float64{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if name, v, ok := strings.Cut(l, " "); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					got[name] = f
				}
			}
		}
		return got
	}
	return nil
}

// engineTimer is Starlark run on an engine: the best ms of n calls (the
// minimum, like Python's timeit, is the figure least disturbed by other
// work on a shared machine; NumPy's side is timed the same way).
const engineTimer = `
def timeit(f, n):
    f()
    ds = []
    for i in range(n):
        t0 = time.now()
        f()
        ds.append((time.now() - t0).seconds * 1000)
    return min(ds)
`

// pushPull returns the median ms of pushing and pulling 1,000,000
// float64 to and from 2 engines, from Starlark.
func pushPull(b *testing.B, opts clustertest.Options) float64 {
	c := clustertest.Start(b, 2, opts)
	ns, thread := starlarkClient(b, c)
	if _, err := ns.Exec(thread, "<bench>", "data = np.random.rand(1000000)\ndv = rc[:]", false); err != nil {
		b.Fatal(err)
	}
	ds := timeN(b, 10, func() error {
		_, err := ns.Exec(thread, "<bench>", "dv.push({'a': data}, block=True)\nback = dv.pull('a', block=True)", false)
		return err
	})
	if v, _ := ns.Get("back"); v.(*starlark.List).Len() != 2 {
		b.Fatal("wrong pull result")
	}
	return ms(median(ds))
}

// BenchmarkArrays times push+pull of 1,000,000 float64 to 2 engines from
// Starlark (median; with the controller's task database on disk, the
// default, and in memory, as ipyparallel's default DictDB), and array
// operations on an engine (timed there, best of n), and prints them beside
// NumPy's figures.
func BenchmarkArrays(b *testing.B) {
	memOpts := benchOpts
	memOpts.MemoryDB = true
	got := map[string]float64{"push+pull": pushPull(b, benchOpts), "push+pull (memory db)": pushPull(b, memOpts)}
	c := clustertest.Start(b, 2, benchOpts)
	ns, thread := starlarkClient(b, c)
	exec := func(code string) {
		b.Helper()
		if _, err := ns.Exec(thread, "<bench>", code, false); err != nil {
			b.Fatal(err)
		}
	}
	exec("e0 = rc[0]")
	exec("e0.execute(" + strconv.Quote(engineTimer) + ", block=True)")
	exec(`e0.execute("""
x = np.random.rand(1000000)
a = np.random.randn(100, 100)
m = np.random.randn(300, 300)
def pi():
    u = np.random.rand(1000000)
    v = np.random.rand(1000000)
    return 4 * np.sum(np.less(u * u + v * v, 1)) / 1000000
""", block=True)`)
	for _, op := range []struct{ name, expr string }{
		{"sum", "timeit(lambda: np.sum(x), 50)"},
		{"pi", "timeit(pi, 10)"},
		{"eigvals", "timeit(lambda: np.linalg.eigvals(a), 20)"},
		{"rfft", "timeit(lambda: np.fft.rfft(x), 10)"},
		{"matmul", "timeit(lambda: np.matmul(m, m), 20)"},
	} {
		exec("r = e0.apply_sync(lambda: " + op.expr + ")")
		v, _ := ns.Get("r")
		f, ok := starlark.AsFloat(v)
		if !ok {
			b.Fatalf("%s: engine returned %s", op.name, v)
		}
		got[op.name] = f
	}
	ref, source := liveNumPy(), "NumPy measured now, single-threaded"
	if ref == nil {
		ref, source = numpyRef, "NumPy reference figures (python3 has no numpy here)"
	}
	ref["push+pull"] = numpyRef["push+pull"]
	ref["push+pull (memory db)"] = numpyRef["push+pull"]
	goals["push+pull (memory db)"] = goals["push+pull"]
	b.Logf("arrays, 2 engines; %s; push+pull against ipyparallel 7.1", source)
	for _, name := range []string{"push+pull", "push+pull (memory db)", "sum", "pi", "eigvals", "rfft", "matmul"} {
		r, ok := ref[name]
		if !ok {
			b.Logf("%-22s pxsh %8.2f ms   numpy     n/a", name, got[name])
			b.ReportMetric(got[name], name+"-ms")
			continue
		}
		ratio := got[name] / r
		verdict := "ok"
		if ratio > goals[name] {
			verdict = fmt.Sprintf("over the goal of %.1fx", goals[name])
		}
		b.Logf("%-22s pxsh %8.2f ms   numpy %7.2f ms   ratio %5.2f  (%s)", name, got[name], r, ratio, verdict)
		b.ReportMetric(got[name], strings.NewReplacer(" (memory db)", "-memdb").Replace(name)+"-ms")
	}
}
