package hostlib

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/starlarklib"
)

// waitDelay is how long sh waits for the output pipes after the program
// exited (a background grandchild may hold them open) or was killed.
const waitDelay = 2 * time.Second

// sh implements sh(cmd, shell=False, cwd=None, env=None, stdin=None,
// timeout=None, max_output=None).
func (h *host) sh(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmdv, cwdv, envv, stdinv, timeoutv, maxv starlark.Value = nil, starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	var shell bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmdv, "shell?", &shell, "cwd?", &cwdv,
		"env?", &envv, "stdin?", &stdinv, "timeout?", &timeoutv, "max_output?", &maxv); err != nil {
		return nil, err
	}
	if !h.cfg.Grant.Sh {
		return nil, h.denied("sh", "sh")
	}
	argv, err := shArgv(cmdv, shell)
	if err != nil {
		return nil, fmt.Errorf("sh: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cwdv != starlark.None {
		s, ok := starlark.AsString(cwdv)
		if !ok {
			return nil, fmt.Errorf("sh: cwd: got %s, want string", cwdv.Type())
		}
		cmd.Dir = s
	}
	if cmd.Env, err = shEnv(envv); err != nil {
		return nil, fmt.Errorf("sh: %w", err)
	}
	switch v := stdinv.(type) {
	case starlark.NoneType:
	case starlark.String:
		cmd.Stdin = strings.NewReader(string(v))
	case starlark.Bytes:
		cmd.Stdin = strings.NewReader(string(v))
	default:
		return nil, fmt.Errorf("sh: stdin: got %s, want string or bytes", stdinv.Type())
	}
	timeout, err := optSeconds("timeout", timeoutv)
	if err != nil {
		return nil, fmt.Errorf("sh: %w", err)
	}
	limit := h.cfg.MaxOutput
	if maxv != starlark.None {
		n, err := starlark.AsInt32(maxv)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("sh: max_output: got %s, want a non-negative int", maxv)
		}
		limit = n
	}
	name := argv[0]
	if shell {
		name = strconv.Quote(argv[2])
		if len(argv[2]) > 60 {
			name = strconv.Quote(argv[2][:57] + "...")
		}
	}
	return run(starlarklib.Context(thread), cmd, name, timeout, limit)
}

// shArgv turns sh's cmd argument into an argv.
func shArgv(v starlark.Value, shell bool) ([]string, error) {
	if s, ok := v.(starlark.String); ok {
		if shell {
			return []string{"/bin/sh", "-c", string(s)}, nil
		}
		if strings.TrimSpace(string(s)) == "" {
			return nil, errors.New("empty command")
		}
		return []string{string(s)}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok || v.Type() == "dict" || v.Type() == "bytes" {
		return nil, fmt.Errorf("cmd: got %s, want list of strings or string", v.Type())
	}
	var argv []string
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return nil, fmt.Errorf("cmd[%d]: got %s, want string", len(argv), x.Type())
		}
		argv = append(argv, s)
	}
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	if shell {
		return []string{"/bin/sh", "-c", strings.Join(argv, " ")}, nil
	}
	return argv, nil
}

// shEnv returns the environment for env=: nil (inherit) for None, else
// ours with the dict's entries set (a None value unsets the name).
func shEnv(v starlark.Value) ([]string, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("env: got %s, want dict", v.Type())
	}
	env := os.Environ()
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok || k == "" || strings.Contains(k, "=") {
			return nil, fmt.Errorf("env: bad name %s", kv[0])
		}
		env = deleteEnv(env, k)
		if kv[1] == starlark.None {
			continue
		}
		val, ok := starlark.AsString(kv[1])
		if !ok {
			return nil, fmt.Errorf("env[%q]: got %s, want string or None", k, kv[1].Type())
		}
		env = append(env, k+"="+val)
	}
	return env, nil
}

func deleteEnv(env []string, k string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// optSeconds reads an optional duration in seconds (None: 0).
func optSeconds(name string, v starlark.Value) (time.Duration, error) {
	if v == starlark.None {
		return 0, nil
	}
	f, ok := starlark.AsFloat(v)
	if !ok || f <= 0 {
		return 0, fmt.Errorf("%s: got %s, want a positive number of seconds", name, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// errTimeout is the cancellation cause of a program that ran past its
// timeout.
var errTimeout = errors.New("sh timeout")

// run runs cmd (called name in errors) in its own process group and kills the whole group when
// ctx is done, when the timeout passes, and when the program exits (so no
// background child outlives the call).
func run(ctx context.Context, cmd *exec.Cmd, name string, timeout time.Duration, limit int) (starlark.Value, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() { cancel(errTimeout) })
		defer t.Stop()
	}
	stdout, stderr := &boundedBuffer{limit: limit}, &boundedBuffer{limit: limit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sh: %w", err)
	}
	pgid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	err := cmd.Wait()
	stop()
	syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of a program that exited
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return nil, &TimeoutError{Msg: fmt.Sprintf("sh: %s timed out after %gs (its process group was killed)", name, timeout.Seconds())}
		}
		return nil, fmt.Errorf("sh: %s: cancelled: %w", name, context.Cause(ctx))
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
	case errors.Is(err, exec.ErrWaitDelay):
		code = cmd.ProcessState.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("sh: %s: %w", name, err)
	}
	return result(code, stdout, stderr), nil
}

// result builds sh's struct.
func result(code int, stdout, stderr *boundedBuffer) starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"code":         starlark.MakeInt(code),
		"ok":           starlark.Bool(code == 0),
		"stdout":       starlark.String(stdout.text()),
		"stderr":       starlark.String(stderr.text()),
		"stdout_bytes": starlark.Bytes(stdout.buf.String()),
		"stderr_bytes": starlark.Bytes(stderr.buf.String()),
		"truncated":    starlark.Bool(stdout.dropped > 0 || stderr.dropped > 0),
	})
}

// boundedBuffer keeps the first limit bytes written and counts the rest.
type boundedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped int64
}

var _ io.Writer = (*boundedBuffer)(nil)

func (b *boundedBuffer) Write(p []byte) (int, error) {
	keep := min(len(p), b.limit-b.buf.Len())
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	b.dropped += int64(len(p) - max(keep, 0))
	return len(p), nil
}

// text returns the kept output, with a marker when some was dropped.
func (b *boundedBuffer) text() string {
	if b.dropped == 0 {
		return b.buf.String()
	}
	return fmt.Sprintf("%s\n[sh: output truncated: kept the first %d bytes, dropped %d]\n", b.buf.String(), b.buf.Len(), b.dropped)
}
