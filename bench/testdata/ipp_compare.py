"""ipyparallel's side of `make bench-compare`: the same metrics as pxsh's
BenchmarkCompare, printed as "name value" lines (milliseconds, or
microseconds for names ending in -us). Run with Debian's python3."""
import statistics
import sys
import time

try:
    import ipyparallel as ipp
    import numpy as np
except ImportError as e:
    print("missing", e, file=sys.stderr)
    sys.exit(3)


def med(f, n):
    f()
    ds = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ds.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ds)


def noop():
    return None


def main():
    cluster = ipp.Cluster(n=4, log_level=40)
    rc = cluster.start_and_connect_sync()
    try:
        rc.wait_for_engines(4, timeout=120)
        dv2, dv4 = rc[:2], rc[:]
        blob = bytes(bytearray(i % 256 for i in range(10 << 20)))
        floats = [x * 0.5 for x in range(1000000)]
        arr = np.random.rand(1000000)
        big = bytes(100 << 20)

        def pushpull(v):
            def f():
                dv2.push({"a": v}, block=True)
                dv2.pull("a", block=True)
            return f

        def scatter_gather():
            dv2.scatter("part", floats, block=True)
            dv2.gather("part", block=True)

        def big_push():
            dv4.push({"blob": big}, block=True)
            dv4.apply_sync(lambda: len(blob))

        out = [
            ("push+pull-10MB-bytes", med(pushpull(blob), 5)),
            ("push+pull-1M-floats-list", med(pushpull(floats), 5)),
            ("map_sync-100k", med(lambda: dv2.map_sync(lambda x: x * x, range(100000)), 10)),
            ("scatter+gather-1M-floats", med(scatter_gather, 5)),
            ("push+pull-1M-float64-array", med(pushpull(arr), 10)),
            ("push-100MB-4-engines", med(big_push, 3)),
            ("apply_sync-noop-us", 1e3 * med(lambda: rc[0].apply_sync(noop), 300)),
        ]
        for name, v in out:
            print(name, "%.3f" % v, flush=True)
    finally:
        rc.close()
        cluster.stop_cluster_sync()


if __name__ == "__main__":
    main()
