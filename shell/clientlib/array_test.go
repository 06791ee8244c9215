package clientlib_test

import (
	"math"
	"testing"

	"github.com/pxsh/pxsh/quic"
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
