package clientlib_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/quic"
	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// TestPushedArrayIsACopy: a large array is pushed from its own memory
// (starlarklib.EncodePartsShared), yet changing it right after a
// non-blocking push does not change what the engines get, whether the
// body goes as a memfd (written before the push returns) or in chunks
// (copied before the push returns; quic.FDMin off here); a pulled array
// is the client's own, as are the two engines' copies, and a second
// AsyncResult over the same task decodes its own copy.
func TestPushedArrayIsACopy(t *testing.T) {
	cl := sharedCluster(t)
	for _, chunks := range []bool{false, true} {
		name := "memfd"
		if chunks {
			name = "chunks"
		}
		t.Run(name, func(t *testing.T) {
			if chunks {
				old := quic.FDMin
				quic.FDMin = math.MaxInt64
				t.Cleanup(func() { quic.FDMin = old })
			}
			h := newHarness(t, cl)
			h.must(`load("assert.star", "assert")
rc = Client()
dv = rc[:2]
n = 262144  # 2 MiB of float64, above starlarklib.PartMin
a = np.arange(n) * 0.5
ar = dv.push({'pa': a}, block=False)
a[0] = -1.0
a[n - 1] = -2.0
ar.get()
back = dv.pull('pa', block=True)
assert.eq([back[0][0], back[0][n - 1], back[1][n - 1]], [0.0, (n - 1) * 0.5, (n - 1) * 0.5])
back[0][1] = 99.0
assert.eq([back[0][1], back[1][1]], [99.0, 0.5])
again = dv.pull('pa', block=True)
assert.eq([again[0][1], again[1][1]], [0.5, 0.5])
assert.eq(dv.apply_sync(lambda: pa.sum()), [0.25 * n * (n - 1)] * 2)
ar = rc[0].pull('pa', block=False)
x = ar.get()
y = rc.get_result(ar).get()[0]  # the same task's body, decoded again
x[1] = 99.0
assert.eq([x[1], y[1]], [99.0, 0.5])
`)
		})
	}
}

// TestMappedArrays: arrays arrive in sealed memfds that the engines (a
// push) and this client (a pull) map instead of reading; several arrays
// of one body share its mapping, yet each is independent: a write on an
// engine or here changes nothing anyone else received, nor what is
// pulled again.
func TestMappedArrays(t *testing.T) {
	cl := sharedCluster(t)
	h := newHarness(t, cl)
	h.must(`load("assert.star", "assert")
rc = Client()
dv = rc[:2]
n = 262144  # 2 MiB each
dv.push({'mx': np.arange(n) * 1.0, 'my': np.ones(n), 'mz': np.arange(n)}, block=True)
rc[0].execute("mx[1] = -1.0\nmy[2] = 5.0", block=True)
rc[1].execute("mx[1] = -3.0", block=True)
got = dv.pull(['mx', 'my', 'mz'], block=True)  # one body per engine, three arrays in it
assert.eq([got[0][0][1], got[1][0][1], got[0][1][2], got[1][1][2], got[0][2][n - 1]], [-1.0, -3.0, 5.0, 1.0, n - 1])
got[0][0][1] = 42.0
got[0][2][0] = 7
assert.eq([got[0][0][1], got[0][1][1], got[0][2][0], got[0][2][1], got[1][2][0]], [42.0, 1.0, 7, 1, 0])
again = dv.pull(['mx', 'mz'], block=True)
assert.eq([again[0][0][1], again[0][1][0], again[1][0][1]], [-1.0, 0, -3.0])
assert.eq(dv.apply_sync(lambda: [mx.sum(), mz.sum()]), [[0.5 * n * (n - 1) - 2.0, n * (n - 1) // 2], [0.5 * n * (n - 1) - 4.0, n * (n - 1) // 2]])
`)
	x, y := h.eval("got[0][0]").(*numpy.Array), h.eval("got[0][1]").(*numpy.Array)
	mx, my := memfdMapping(t, unsafe.Pointer(&x.Float64s()[0])), memfdMapping(t, unsafe.Pointer(&y.Float64s()[0]))
	if mx == "" || mx != my {
		t.Errorf("the pulled arrays lie in mappings %q and %q, want one mapping of their memfd", mx, my)
	}
}

// memfdMapping returns the line of /proc/self/maps of the memfd body
// mapping that holds p, or "".
func memfdMapping(t *testing.T, p unsafe.Pointer) string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && uintptr(p) >= lo && uintptr(p) < hi {
			if strings.Contains(line, "memfd:pxsh-body") {
				return line
			}
			return ""
		}
	}
	return ""
}

// TestSharedBodyArraysIndependent: a body pushed once to the engines of
// one process is decoded by each; an array in it is each engine's own.
func TestSharedBodyArraysIndependent(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{PerProcess: 2})
	h := newHarness(t, cl)
	h.must(`load("assert.star", "assert")
rc = Client()
dv = rc[:2]
n = 262144
dv.push({'sa': np.arange(n) * 1.0}, block=True)
rc[0].execute("sa[1] = -1.0", block=True)
assert.eq([x[1] for x in dv.pull('sa', block=True)], [-1.0, 1.0])
`)
}
