"""ipyparallel's side of BenchmarkMapSyncRange100k: the median ms of
dv2.map_sync(lambda x: x * x, range(100000)) on 2 engines, one warm-up then
N runs (argument, default 100). Run with Debian's python3."""
import statistics, sys, time
import ipyparallel as ipp
def main():
    cluster = ipp.Cluster(n=2, log_level=40)
    rc = cluster.start_and_connect_sync()
    try:
        rc.wait_for_engines(2, timeout=120)
        dv2 = rc[:2]
        f = lambda: dv2.map_sync(lambda x: x * x, range(100000))
        assert f()[-1] == 99999 ** 2
        ds = []
        for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 100):
            t0 = time.perf_counter(); f(); ds.append((time.perf_counter() - t0) * 1e3)
        print("%.2f median-ms" % statistics.median(ds))
    finally:
        rc.close(); cluster.stop_cluster_sync()
main()
