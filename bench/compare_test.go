package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/gcpace"
	"github.com/pxsh/pxsh/procs"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/shell/clientlib"
	"github.com/pxsh/pxsh/starlarklib"
)

// compareMetric is one line of `make bench-compare`: Starlark timed on
// pxsh, and the same operation in testdata/ipp_compare.py.
type compareMetric struct {
	name  string // as ipp_compare.py prints it
	setup string
	code  string
	runs  int
	us    bool // report microseconds
}

var compareMetrics = []compareMetric{
	{"push+pull-10MB-bytes", "", "dv2.push({'a': blob}, block=True)\nback = dv2.pull('a', block=True)", 5, false},
	{"push+pull-1M-floats-list", "", "dv2.push({'a': floats}, block=True)\nback = dv2.pull('a', block=True)", 5, false},
	{"map_sync-100k", "", "back = dv2.map_sync(lambda x: x*x, range(100000))", 10, false},
	{"scatter+gather-1M-floats", "", "dv2.scatter('part', floats, block=True)\nback = dv2.gather('part', block=True)", 5, false},
	{"push+pull-1M-float64-array", "arr = np.random.rand(1000000)", "dv2.push({'a': arr}, block=True)\nback = dv2.pull('a', block=True)", 10, false},
	{"push-100MB-4-engines", "", "dv4.push({'blob': big}, block=True)\nback = dv4.apply_sync(lambda: len(blob))", 3, false},
	{"apply_sync-noop-us", "def noop():\n    return None\ne0 = rc[0]", "back = e0.apply_sync(noop)", 300, true},
}

// starlarkOn returns a Starlark client environment whose Client() is cl.
func starlarkOn(b *testing.B, cl *client.Client) (*starlarklib.Namespace, *starlark.Thread) {
	env := &clientlib.Env{
		Connect: func(context.Context, string, string, time.Duration) (*client.Client, error) { return cl, nil },
	}
	builtins := starlarklib.Modules()
	for k, v := range clientlib.Builtins(env) {
		builtins[k] = v
	}
	ns := starlarklib.NewNamespace(builtins)
	env.NS = ns
	thread := &starlark.Thread{Name: "bench", Load: ns.Load}
	if _, err := ns.Exec(thread, "<bench>", "rc = Client()\ndv2 = rc[:2]\ndv4 = rc[:]", false); err != nil {
		b.Fatal(err)
	}
	return ns, thread
}

// benchFunc returns a function whose body is code, so that each run
// times the operation, not the parsing and compiling of its statement
// (ipp_compare.py times a Python lambda likewise).
func benchFunc(b *testing.B, ns *starlarklib.Namespace, thread *starlark.Thread, code string) starlark.Callable {
	src := "def __bench_run():\n    " + strings.ReplaceAll(code, "\n", "\n    ") + "\n"
	if _, err := ns.Exec(thread, "<bench>", src, false); err != nil {
		b.Fatalf("%s: %v", code, err)
	}
	run, _ := ns.Get("__bench_run")
	return run.(starlark.Callable)
}

// selected reports whether metric name contains one of the
// comma-separated substrings of only (every metric when only is empty).
func selected(name, only string) bool {
	for _, s := range strings.Split(only, ",") {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// BenchmarkCompare (make bench-compare) times the data-plane metrics on
// pxsh (a controller process with its default on-disk task database, 4
// engine processes; dv2 is engines 0 and 1), then the same with
// ipyparallel when Debian's python3-ipyparallel and python3-numpy are
// installed, and prints both with their ratio. Medians, one run, same
// machine.
func BenchmarkCompare(b *testing.B) {
	if os.Getenv("PXSH_BENCH_COMPARE") == "" {
		b.Skip("make bench-compare runs it (PXSH_BENCH_COMPARE=1)")
	}
	cl, pid := processCluster(b, 4)
	b.Cleanup(procs.Hold()) // this process is the client: governed as pxsh run is
	b.Cleanup(gcpace.Start())
	ns, thread := starlarkOn(b, cl)
	blob := make([]byte, 10<<20)
	for i := range blob {
		blob[i] = byte(i)
	}
	ns.Set("blob", starlark.Bytes(blob))
	ns.Set("big", starlark.Bytes(make([]byte, 100<<20)))
	if _, err := ns.Exec(thread, "<bench>", "floats = [x * 0.5 for x in range(1000000)]", false); err != nil {
		b.Fatal(err)
	}
	pxsh, cpu := map[string]float64{}, map[string]float64{}
	steal0 := stealTime()
	if path := os.Getenv("PXSH_BENCH_CLIENT_PROFILE"); path != "" {
		// The client's CPU profile of the metrics alone, without the setup.
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	only := os.Getenv("PXSH_BENCH_ONLY") // substrings of the metrics to run, comma-separated, for profiling
	for _, m := range compareMetrics {
		if !selected(m.name, only) {
			continue
		}
		if m.setup != "" {
			if _, err := ns.Exec(thread, "<bench>", m.setup, false); err != nil {
				b.Fatalf("%s: %v", m.name, err)
			}
		}
		cpu0, flt0, n := cpuByRole(), faultsByRole(), 0
		runs := m.runs
		if n, err := strconv.Atoi(os.Getenv("PXSH_BENCH_RUNS")); err == nil && n > 0 {
			runs = n // more samples for a profile or an A/B
		}
		run := benchFunc(b, ns, thread, m.code)
		ds := timeN(b, runs, func() error { n++; _, err := starlark.Call(thread, run, nil, nil); return err })
		cpu1 := cpuByRole()
		for _, d := range cpu1 {
			cpu[m.name] += ms(d / time.Duration(n))
		}
		for _, d := range cpu0 {
			cpu[m.name] -= ms(d / time.Duration(n))
		}
		if os.Getenv("PXSH_BENCH_CPU") != "" {
			fmt.Printf("%s: CPU ms per run: %s; minor faults per run: %s\n", m.name, cpuSplit(cpu0, cpu1, n), faultSplit(flt0, faultsByRole(), n))
		}
		pxsh[m.name] = ms(median(ds))
		if m.us {
			pxsh[m.name] = us(median(ds))
		}
		runtime.GC()
	}
	b.ReportMetric(peakRSS(pid), "controller-peak-MB")
	steal := stealTime() - steal0
	b.ReportMetric(ms(steal), "pxsh-steal-ms")
	ipp, why := map[string]float64(nil), "skipped (PXSH_BENCH_COMPARE=pxsh)"
	if os.Getenv("PXSH_BENCH_COMPARE") != "pxsh" {
		ipp, why = runIPP()
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-28s %12s %12s %10s %12s\n", "metric (median, ms or µs)", "pxsh", "ipyparallel", "ipp/pxsh", "pxsh CPU ms")
	for _, m := range compareMetrics {
		p := pxsh[m.name]
		if v, ok := ipp[m.name]; ok {
			fmt.Fprintf(&out, "%-28s %12.2f %12.2f %9.2fx %12.1f\n", m.name, p, v, v/p, cpu[m.name])
		} else {
			fmt.Fprintf(&out, "%-28s %12.2f %12s %10s %12.1f\n", m.name, p, "-", "-", cpu[m.name])
		}
		b.ReportMetric(p, m.name)
	}
	fmt.Fprintf(&out, "controller peak RSS: %.0f MB\n", peakRSS(pid))
	fmt.Fprintf(&out, "processor time the host took from this machine during pxsh's runs (steal): %v\n", steal)
	if why != "" {
		fmt.Fprintf(&out, "ipyparallel: %s\n", why)
	}
	fmt.Print(out.String())
}

// runIPP runs testdata/ipp_compare.py with Debian's python3; it returns
// the figures, or why there are none.
func runIPP() (map[string]float64, string) {
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		return nil, "no /usr/bin/python3 (Debian: apt-get install python3-ipyparallel python3-numpy)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", "ipp_compare.py"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() == 3 {
		return nil, "not installed (" + strings.TrimSpace(stderr.String()) + "): apt-get update && apt-get install -y python3-ipyparallel python3-numpy"
	}
	if err != nil {
		return nil, fmt.Sprintf("ipp_compare.py failed: %v\n%s", err, stderr.String())
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(outb))
	for sc.Scan() {
		if name, v, ok := strings.Cut(sc.Text(), " "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				got[name] = f
			}
		}
	}
	return got, ""
}

// BenchmarkMapSplit splits DirectView map_sync(lambda x: x*x,
// range(100000)) on 2 engines into its parts. In the cluster (a
// controller with its on-disk, then in-memory task database, 2 engine
// processes), from the tasks' timestamps, medians: the call to the
// engines' start (client encoding, two hops), the engines' run (decode,
// the calls, encode), their end to the client's receipt (two hops), the
// last receipt to the list in hand (client decoding and assembly). In
// this process, the parts by themselves: the client's encoding of the
// two chunks and decoding of the two results, an engine's decoding of
// its chunk and encoding of its results, and the map chunk function over
// 50,000 elements as engines run it (in Go), beside the same calls as a
// Starlark comprehension timed on an engine.
func BenchmarkMapSplit(b *testing.B) {
	total := map[string]float64{}
	for _, db := range []string{"disk", "memory"} {
		var flags []string
		if db == "memory" {
			flags = []string{"--memory-db"}
		}
		cl, _ := processCluster(b, 2, flags...)
		ns, thread := starlarkOn(b, cl)
		exec := func(code string) {
			if _, err := ns.Exec(thread, "<bench>", code, false); err != nil {
				b.Fatal(err)
			}
		}
		const runs = 20
		var parts [4][]time.Duration
		ds := timeN(b, runs, func() error {
			t0 := time.Now()
			exec("ar = dv2.map_async(lambda x: x*x, range(100000))\nback = ar.get()")
			done := time.Now()
			if len(parts[0]) < runs {
				for k, d := range taskSpans(b, ns, thread, t0, done) {
					parts[k] = append(parts[k], d)
				}
			}
			return nil
		})
		total[db] = ms(median(ds))
		if db == "disk" {
			for k, name := range []string{"to-started", "engine-run", "to-received", "assembly"} {
				b.ReportMetric(ms(median(parts[k])), "wall-"+name+"-ms")
			}
			code := "e0 = rc[0]\ne0.execute(" + strconv.Quote(engineTimer) + ", block=True)\n" +
				"r = e0.apply_sync(lambda: timeit(lambda: [(lambda x: x*x)(x) for x in range(50000)], 20))"
			exec(code)
			v, _ := ns.Get("r")
			f, _ := starlark.AsFloat(v)
			b.ReportMetric(f, "engine-calls-50k-ms")
		}
	}
	mapCodecSplit(b)
	b.ReportMetric(total["disk"], "total-disk-db-ms")
	b.ReportMetric(total["memory"], "total-memory-db-ms")
}

// taskSpans returns, for the map_async in ar that ran from t0 to done,
// the mean over its tasks of submission to start, start to completion and
// completion to receipt, then the last receipt to done.
func taskSpans(b *testing.B, ns *starlarklib.Namespace, thread *starlark.Thread, t0, done time.Time) [4]time.Duration {
	if _, err := ns.Exec(thread, "<bench>", "md = [ar['started'], ar['completed'], ar['received']]", false); err != nil {
		b.Fatal(err)
	}
	md, _ := ns.Get("md")
	at := func(k, task int) time.Time {
		f, _ := starlark.AsFloat(md.(*starlark.List).Index(k).(*starlark.List).Index(task))
		return time.Unix(0, int64(f*1e9))
	}
	var spans [4]time.Duration
	var last time.Time
	for task := range 2 {
		spans[0] += at(0, task).Sub(t0) / 2
		spans[1] += at(1, task).Sub(at(0, task)) / 2
		spans[2] += at(2, task).Sub(at(1, task)) / 2
		if at(2, task).After(last) {
			last = at(2, task)
		}
	}
	spans[3] = done.Sub(last)
	return spans
}

// mapCodecSplit reports the codec's parts of the map, in this process:
// the two chunks of range(100000) and their two results of x*x.
func mapCodecSplit(b *testing.B) {
	var chunks, results [2]*starlark.List
	for c := range 2 {
		in, out := make([]starlark.Value, 50000), make([]starlark.Value, 50000)
		for i := range in {
			x := c*50000 + i
			in[i], out[i] = starlark.MakeInt(x), starlark.MakeInt64(int64(x)*int64(x))
		}
		chunks[c], results[c] = starlark.NewList(in), starlark.NewList(out)
	}
	var bodies, encoded [2][]byte
	each := func(f func(c int) error) func() error {
		return func() error {
			for c := range 2 {
				if err := f(c); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// The client sends a range's chunks as ranges.
	r, err := starlark.Eval(&starlark.Thread{}, "<bench>", "range(100000)", nil)
	if err != nil {
		b.Fatal(err)
	}
	encT := timeN(b, 20, each(func(c int) (err error) {
		chunk, _ := starlarklib.RangeSlice(r, c*50000, (c+1)*50000)
		bodies[c], err = starlarklib.EncodeCall(starlark.None, starlark.Tuple{starlark.None, chunk}, nil, nil)
		return err
	}))
	engDecT := timeN(b, 20, each(func(c int) error { _, _, _, err := starlarklib.DecodeCall(bodies[c], nil); return err }))
	engEncT := timeN(b, 20, each(func(c int) (err error) { encoded[c], err = starlarklib.Encode(results[c], nil); return err }))
	decT := timeN(b, 20, each(func(c int) error { _, err := starlarklib.Decode(encoded[c], nil); return err }))
	b.ReportMetric(mapChunkMs(b, chunks[1]), "map-chunk-50k-ms")
	b.ReportMetric(ms(median(encT)), "client-encode-2-chunks-ms")
	b.ReportMetric(ms(median(engDecT))/2, "engine-decode-chunk-ms")
	b.ReportMetric(ms(median(engEncT))/2, "engine-encode-result-ms")
	b.ReportMetric(ms(median(decT)), "client-decode-2-results-ms")
}

// mapChunkMs is the median ms of the map chunk function over chunk with
// lambda x: x*x, both built as an engine builds received functions.
func mapChunkMs(b *testing.B, chunk *starlark.List) float64 {
	ns := starlarklib.NewNamespace(starlarklib.Modules())
	thread := &starlark.Thread{Name: "map"}
	sq, err := ns.BuildFunction(thread, &protocol.Function{Name: "lambda", Source: "lambda x: x*x", File: "<bench>", Line: 1, Col: 1})
	if err != nil {
		b.Fatal(err)
	}
	f := client.MapChunkFunction()
	fn, err := ns.BuildFunction(thread, &f)
	if err != nil {
		b.Fatal(err)
	}
	ds := timeN(b, 20, func() error { _, err := starlark.Call(thread, fn, starlark.Tuple{sq, chunk}, nil); return err })
	return ms(median(ds))
}
