package spectest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxsh/pxsh/internal/clustertest"
)

// assertShim replaces a chunk's load of assert.star when it runs in the
// real pxsh binary, which cannot load Go-implemented test modules: one
// line (so the chunk keeps its line numbers) that defines assert with
// pxsh's own builtins. Failures and the regular expressions that
// assert.fails must match are printed as marker lines that the test
// checks.
const assertShim = `_spec_err = lambda m: print("@@SPEC-ERROR " + str(m)); ` +
	`_spec_num = lambda x: type(x) in ("float", "int"); ` +
	`_spec_feq = lambda x, y: x == y or abs(x - y) <= abs(x) * 2.3e-16; ` +
	`_spec_fails = lambda r, p: print("@@SPEC-MATCH " + json.encode([p, r.evalue])) if type(r) == "RemoteError" else _spec_err("evaluation succeeded unexpectedly (want error matching %r)" % p); ` +
	`assert = struct(fail = _spec_err, ` +
	`eq = lambda x, y: None if x == y or ((type(x) == "float" or type(y) == "float") and _spec_num(x) and _spec_num(y) and _spec_feq(float(x), float(y))) else _spec_err("%r != %r" % (x, y)), ` +
	`ne = lambda x, y: _spec_err("%r == %r" % (x, y)) if x == y else None, ` +
	`true = lambda cond, msg = "assertion failed": None if cond else _spec_err(msg), ` +
	`lt = lambda x, y: None if x < y else _spec_err("%s is not less than %s" % (x, y)), ` +
	`contains = lambda x, y: None if y in x else _spec_err("%s does not contain %s" % (x, y)), ` +
	`fails = lambda f, pattern: _spec_fails(catch(f), pattern))`

var (
	assertLoadRE = regexp.MustCompile(`(?m)^load\((["'])assert\.star(["']), (["'])assert(["'])\)[ \t]*$`)
	stdLoadRE    = regexp.MustCompile(`(?m)^load\((["'])(json|math|time)\.star(["']), (["'])(json|math|time)(["'])\)[ \t]*$`)
	loadRE       = regexp.MustCompile(`(?m)^\s*load\(`)
)

// binarySource returns the chunk as the binary runs it (assert.star's
// load replaced by the shim, loads of json.star, math.star and time.star
// blanked: pxsh predeclares those modules) or a reason to skip it.
func binarySource(c chunk) (string, string) {
	src := assertLoadRE.ReplaceAllString(c.src, assertShim)
	src = stdLoadRE.ReplaceAllString(src, "")
	switch {
	case loadRE.MatchString(src):
		return "", "loads assert.star's freeze or expects a load error: the binary has no Go test modules"
	case strings.Contains(src, "freeze("):
		return "", "uses freeze, which pxsh does not offer"
	}
	return src, ""
}

// runBinary runs a chunk with `pxsh run FILE` in the real binary.
func runBinary(t *testing.T, bin, dir string, c chunk, src string) outcome {
	path := filepath.Join(dir, strings.ReplaceAll(c.id(), ":", "_"))
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", path)
	cmd.Env = append(os.Environ(), "PXSH_DIR="+dir, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", c.id(), err)
	}
	o := outcome{asserts: markers(stdout.String())}
	if err != nil {
		tb := stderr.String()
		o.errLine, o.errMsg = tracebackLine(tb, path), tracebackMsg(tb)
		if m := staticErrRE.FindStringSubmatch(tb); o.errMsg == "" && m != nil && m[1] == path {
			o.errLine, _ = strconv.Atoi(m[2])
			o.errMsg = m[3]
		}
		if o.errMsg == "" {
			o.errMsg = strings.TrimSpace(tb)
		}
	}
	return o
}

// markers returns the assertion failures that the shim printed.
func markers(stdout string) []string {
	var fails []string
	for _, l := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "@@SPEC-ERROR "):
			fails = append(fails, "assert: "+strings.TrimPrefix(l, "@@SPEC-ERROR "))
		case strings.HasPrefix(l, "@@SPEC-MATCH "):
			var pm [2]string
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "@@SPEC-MATCH ")), &pm); err != nil {
				fails = append(fails, "bad marker "+l)
			} else if !regexp.MustCompile(pm[0]).MatchString(pm[1]) {
				fails = append(fails, fmt.Sprintf("assert: regular expression (%s) did not match error (%s)", pm[0], pm[1]))
			}
		}
	}
	return fails
}

var staticErrRE = regexp.MustCompile(`(?m)^(\S+):(\d+):\d+: (.*)$`)

// TestSpecBinary runs every chunk that passes under plain starlark-go
// through the real binary with `pxsh run`, a few at a time.
func TestSpecBinary(t *testing.T) {
	t.Parallel()
	dir := specDir(t)
	chunks := readChunks(t, dir)
	passing := plainPassing(t, dir, chunks)
	bin := clustertest.Binary(t)
	work := t.TempDir()
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	ran := 0
	for _, c := range passing {
		if why, ok := lateBinding[c.id()]; ok {
			t.Logf("%s: excluded: %s", c.id(), why)
			continue
		}
		src, why := binarySource(c)
		if why != "" {
			t.Logf("%s: excluded: %s", c.id(), why)
			continue
		}
		if c.id() == "module.star:1" {
			t.Logf("%s: excluded: tests the type of assert itself (a module); the shim's assert is a struct", c.id())
			continue
		}
		if hostValues.MatchString(src) {
			t.Logf("%s: excluded: uses hasfields or fibonacci, test values the binary does not have", c.id())
			continue
		}
		ran++
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p := c.check(runBinary(t, bin, work, c, src))
			if p != "" {
				mu.Lock()
				t.Errorf("%s: %s", c.id(), p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d chunks ran in the binary", ran)
}

var hostValues = regexp.MustCompile(`\b(hasfields|fibonacci)\b`)
