package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// commandRuns is how many commands each measurement runs.
const commandRuns = 400

// BenchmarkCommands400 runs `true` 400 times through the load-balanced
// view on 2 engines granted sh, from Starlark
// (lv.map_sync(lambda i: sh(["true"]).code, range(400))), and the same
// 400 commands with GNU parallel -j2 when it is installed, and reports
// both in commands per second (issue 12: GNU parallel about 400/s,
// ipyparallel with subprocess.run about 360/s on the reference machine).
func BenchmarkCommands400(b *testing.B) {
	opts := benchOpts
	opts.EngineArgs = []string{"--allow", "sh"}
	c := clustertest.Start(b, 2, opts)
	ns, thread := starlarkClient(b, c)
	if _, err := ns.Exec(thread, "<bench>", "lv = rc.load_balanced_view()", false); err != nil {
		b.Fatal(err)
	}
	code := fmt.Sprintf(`codes = lv.map_sync(lambda i: sh(["true"]).code, range(%d))`, commandRuns)
	ds := timeN(b, 5, func() error {
		if _, err := ns.Exec(thread, "<bench>", code, false); err != nil {
			return err
		}
		v, _ := ns.Get("codes")
		if l, ok := v.(*starlark.List); !ok || l.Len() != commandRuns || l.Index(0) != starlark.MakeInt(0) {
			return fmt.Errorf("wrong result %v", v)
		}
		return nil
	})
	pxsh := commandRuns / median(ds).Seconds()
	b.ReportMetric(pxsh, "pxsh-cmds/s")

	line := fmt.Sprintf("commands/s, %d runs of true on 2 workers: pxsh %.0f", commandRuns, pxsh)
	if path, err := exec.LookPath("parallel"); err == nil {
		args := []string{"-j2", "true", ":::"}
		for i := range commandRuns {
			args = append(args, strconv.Itoa(i))
		}
		pds := timeN(b, 1, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			return exec.CommandContext(ctx, path, args...).Run()
		})
		gnu := commandRuns / median(pds).Seconds()
		b.ReportMetric(gnu, "parallel-cmds/s")
		line += fmt.Sprintf(", GNU parallel -j2 %.0f (pxsh %.1fx)", gnu, pxsh/gnu)
	} else {
		line += ", GNU parallel not installed (apt-get install parallel)"
	}
	b.Log(line)
	fmt.Println(line)
}
