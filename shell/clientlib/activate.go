package clientlib

import (
	"fmt"
	"io"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// viewActivate implements view.activate(suffix=""): it makes the view the
// target of the %px magics (%px<suffix>, %%px<suffix>, %autopx<suffix>,
// %pxresult<suffix>) through Env.Activate.
func viewActivate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	suffix := ""
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "suffix?", &suffix); err != nil {
		return nil, err
	}
	if v.rc.env.Activate == nil {
		return nil, fmt.Errorf("activate: magics are only available in the interactive shell")
	}
	if err := v.rc.env.Activate(v, suffix); err != nil {
		return nil, fmt.Errorf("activate: %w", err)
	}
	return starlark.None, nil
}

// MagicTargets returns the engines a call on the view would address now
// and whether its results are single values (an int target).
func (v *DirectView) MagicTargets() (ids []int, single bool) { return v.Targets(), v.single }

// MagicBlock reports the view's block flag.
func (v *DirectView) MagicBlock() bool { return v.block }

// MagicExecute submits code for execution on targets (nil: the view's
// targets) without waiting, as the %px magics do: silent=false makes an
// expression's value come back as the result. A positive timeout bounds
// each task end to end on the engines (the task fails with TaskTimeout).
func (v *DirectView) MagicExecute(code string, targets []int, single, silent bool, timeout time.Duration) (*AsyncResult, error) {
	if targets == nil {
		targets, single = v.Targets(), v.single
	}
	body, err := starlarklib.Encode(starlark.String(code), nil)
	if err != nil {
		return nil, err
	}
	req := protocol.Request{Kind: protocol.KindExecute, Silent: silent, Name: "%px"}
	if timeout > 0 {
		req.Timeout = timeout.Seconds()
	}
	return v.rc.submit(req, body, targets, single)
}

// WriteStreams writes the stdout (to w) and stderr (to ew) of one of the
// result's finished tasks as Display lays them out, for the %px magics to
// stream each engine's output as it arrives.
// When p streamed some of t's stdout already, the rest follows in the
// streamed layout (p may be nil).
func (ar *AsyncResult) WriteStreams(w, ew io.Writer, t *client.Task, p *StreamPrinter) {
	r, _ := t.Result()
	bare := ar.res.Single
	if p != nil && p.Streamed(t) {
		p.Flush(t, true)
	} else {
		writeStream(w, r.Stdout, prefixFor(bare, "stdout", r.Engine))
	}
	writeStream(ew, r.Stderr, prefixFor(bare, "stderr", r.Engine))
}
