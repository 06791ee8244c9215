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

// runBinary runs a chunk in the real binary: as a script (`pxsh run
// FILE`), a command (`pxsh -c CODE`) or typed into the shell (piped
// input, one top-level statement per input).
func runBinary(t *testing.T, bin, dir, mode string, c chunk, src string, env []string) outcome {
	switch mode {
	case "run":
		path := filepath.Join(dir, filepath.Base(bin)+"_"+strings.ReplaceAll(c.id(), ":", "_"))
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, failed := pxsh(t, bin, dir, env, "", "run", path)
		return processOutcome(stdout, stderr, failed, path)
	case "-c":
		stdout, stderr, failed := pxsh(t, bin, dir, env, "", "-c", src)
		return processOutcome(stdout, stderr, failed, "<command>")
	}
	ins, err := replInputs(src)
	if err != nil {
		return outcome{errMsg: err.Error()}
	}
	stdout, stderr, _ := pxsh(t, bin, dir, env, feed(ins))
	if n := failedInput(stderr); n > 0 && len(c.want) > 0 && n < len(ins) {
		ins = ins[:n]
		stdout, stderr, _ = pxsh(t, bin, dir, env, feed(ins))
	}
	return replOutcome(stderr, ins, markers(stdout))
}

// pxsh runs the binary and returns its stdout, its stderr and whether it
// failed.
func pxsh(t *testing.T, bin, dir string, env []string, stdin string, args ...string) (string, string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*clustertest.Scale())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "PXSH_DIR="+dir, "NO_COLOR=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("pxsh %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), err != nil
}

// processOutcome reads the outcome of a script or command from its
// output: the shim's markers and the error report.
func processOutcome(stdout, stderr string, failed bool, file string) outcome {
	o := outcome{asserts: markers(stdout)}
	if !failed {
		return o
	}
	o.errLine, o.errMsg = tracebackLine(stderr, file), tracebackMsg(stderr)
	if m := staticErrRE.FindStringSubmatch(stderr); o.errMsg == "" && m != nil && m[1] == file {
		o.errLine, _ = strconv.Atoi(m[2])
		o.errMsg = m[3]
	}
	if o.errMsg == "" {
		o.errMsg = strings.TrimSpace(stderr)
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

// TestSpecBinary runs the chunks in real processes: every chunk that
// passes under plain starlark-go as a script, a command and typed into the
// shell of specbin (shell.Main, as pxsh runs it, with the spec tests' host
// values and modules), and one chunk per file that the shim allows as a
// script of the pxsh binary itself. A few processes run at a time.
func TestSpecBinary(t *testing.T) {
	t.Parallel()
	dir := specDir(t)
	passing := plainPassing(t, dir, readChunks(t, dir))
	spec := buildSpecbin(t)
	pxshBin := clustertest.Binary(t)
	specEnv := []string{"PXSH_SPEC_STARLARK_DIR=" + dir}
	work := t.TempDir()
	type job struct {
		bin, mode string
		c         chunk
		src       string
		env       []string
	}
	var jobs []job
	sampled := map[string]bool{}
	for _, c := range passing {
		if why, ok := lateBinding[c.id()]; ok {
			t.Logf("%s: excluded: %s", c.id(), why)
			continue
		}
		for _, mode := range []string{"run", "-c", "shell"} {
			jobs = append(jobs, job{spec, mode, c, c.src, specEnv})
		}
		src, why := binarySource(c)
		switch {
		case why != "":
		case hostValues.MatchString(src):
			why = "uses hasfields or fibonacci, test values pxsh does not have"
		case c.id() == "module.star:1":
			why = "tests the type of assert itself (a module); the shim's assert is a struct"
		}
		if why != "" {
			t.Logf("%s: not in the pxsh binary: %s", c.id(), why)
			continue
		}
		if !sampled[c.file] {
			// The pxsh binary runs the same shell code as specbin: a
			// sample of one chunk per file checks the shim's way in.
			sampled[c.file] = true
			jobs = append(jobs, job{pxshBin, "run", c, src, nil})
		}
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if p := j.c.check(runBinary(t, j.bin, work, j.mode, j.c, j.src, j.env)); p != "" {
				mu.Lock()
				t.Errorf("%s %s: %s: %s", filepath.Base(j.bin), j.mode, j.c.id(), p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d chunk runs in real processes", len(jobs))
}

// buildSpecbin builds the specbin command into a temporary directory.
func buildSpecbin(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "specbin")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/spectest/specbin")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build specbin: %v\n%s", err, out)
	}
	return bin
}

var hostValues = regexp.MustCompile(`\b(hasfields|fibonacci)\b`)
