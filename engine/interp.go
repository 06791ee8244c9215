// Package engine is the pxsh engine: a sandboxed Starlark interpreter host
// (Interp: predeclared set, allow-listed load, step budgets, cancellation,
// captured print, persistent namespace), usable in-process from Go, and the
// service loop that joins it to a controller.
//
// engine imports starlarklib, protocol and quic; it must not import hub,
// client, scheduler or shell. It does not know how it is scheduled.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
)

// InterpConfig configures an Interp.
type InterpConfig struct {
	// ID is the engine id, reported in results and errors and visible as
	// engine.id.
	ID int
	// Host and PID are visible as engine.host and engine.pid.
	Host string
	PID  int
	// MaxSteps is the per-task budget of Starlark execution steps; 0
	// means no limit.
	MaxSteps uint64
	// Limits bound the values the engine decodes; Limits.MaxDepth also
	// bounds json.decode (0: DefaultMaxDepth).
	Limits protocol.Limits
	// MaxMemory is the heap size over which a running task is cancelled
	// with a MemoryError; 0 means no limit. (The program layer sets
	// DefaultMaxMemory and the Go runtime's memory limit.)
	MaxMemory int64
	// MaxStack is the call-stack size over which a running task is
	// cancelled with a RecursionError; 0 means DefaultMaxStack, a
	// negative value no limit.
	MaxStack int64
	// MaxOutput bounds the output captured per task; the rest is replaced
	// by a marker line. 0 means DefaultMaxOutput, a negative value no
	// limit.
	MaxOutput int
	// Grant is the host capabilities of tasks (sh, env, fs); the zero
	// Grant keeps the sandbox (host only).
	Grant hostlib.Grant
	// Modules are extra predeclared names (Go-defined modules); they
	// shadow the standard ones.
	Modules starlark.StringDict
	// Stream, when set, receives a running task's output as it goes: its
	// printed text every OutputInterval (only text printed since the last
	// Output; nothing for a task that prints nothing), and at once each
	// dict it publishes with publish_data (o.Data, body the encoded dict).
	// It is called from the task's goroutine and from a timer's.
	Stream func(o protocol.Output, body []byte)
	// OutputInterval is how often Stream gets printed text; 0 means
	// DefaultOutputInterval.
	OutputInterval time.Duration
}

// DefaultOutputInterval is how often a running task's new output is
// streamed to its client.
const DefaultOutputInterval = 100 * time.Millisecond

// Interp runs tasks in one persistent Starlark namespace. Its predeclared
// names are Starlark's universe, the standard modules (math, json, time,
// struct, np/numpy), the engine module (id, pid, host), Reference, catch,
// the host modules (sh, fs, env, host: see package hostlib) and the
// configured Modules. Unless the Grant allows it, code has no access to
// files, programs, the network or the environment.
//
// Run must not be called concurrently; cancellation goes through its
// context.
type Interp struct {
	cfg   InterpConfig
	ns    *starlarklib.Namespace
	count int
	// share asks the running task's encoding to share large arrays'
	// memory; shared records that it did (RunShared).
	share, shared bool
	// keep is what the running task's body lives as long as (RunShared).
	keep any
	// held is the last value encoded with shared arrays: parts point into
	// its arrays, whose memory may be a mapping only they keep mapped, so
	// it is held until the Interp runs again.
	held starlark.Value
}

// NewInterp returns an Interp with an empty namespace.
func NewInterp(cfg InterpConfig) *Interp {
	if cfg.Limits.MaxDepth <= 0 {
		cfg.Limits.MaxDepth = DefaultMaxDepth
	}
	if cfg.MaxStack == 0 {
		cfg.MaxStack = DefaultMaxStack
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	builtins := starlarklib.Modules()
	builtins["json"] = starlarklib.JSONModule(cfg.Limits.MaxDepth)
	builtins["engine"] = &starlarkstruct.Module{Name: "engine", Members: starlark.StringDict{
		"id":   starlark.MakeInt(cfg.ID),
		"pid":  starlark.MakeInt(cfg.PID),
		"host": starlark.String(cfg.Host),
	}}
	builtins["Reference"] = starlarklib.ReferenceBuiltin()
	builtins["publish_data"] = starlark.NewBuiltin("publish_data", publishData)
	builtins["catch"] = starlarklib.CatchBuiltin(func(err error) starlark.Value {
		re := classify(err)
		re.Engine = cfg.ID
		return starlarklib.ErrorValue{Err: re}
	})
	for k, v := range hostlib.Modules(hostlib.Config{Grant: cfg.Grant}) {
		builtins[k] = v
	}
	for k, v := range cfg.Modules {
		builtins[k] = v
	}
	ns := starlarklib.NewNamespace(builtins)
	ns.SetLimits(cfg.Limits)
	return &Interp{cfg: cfg, ns: ns}
}

// Namespace returns the interpreter's namespace.
func (in *Interp) Namespace() *starlarklib.Namespace { return in.ns }

// ExecCount returns the number of execute and apply tasks run so far.
func (in *Interp) ExecCount() int { return in.count }

// Run executes one task and returns its Result header (Status, Stdout,
// Error, ExecCount, HasValue, Started, Completed, Kind, MsgID, Engine and
// the request's Client, Label and Submitted) and the encoded value body.
//
// When ctx is done the running code is cancelled promptly (also inside
// time.sleep); the error is named after context.Cause(ctx) when it is a
// *CancelError, TaskCancelled otherwise. A TaskAborted cancellation has
// Status aborted. The Interp serves the next task normally.
//
// Run takes body over: large strings in the decoded values may point into
// it, so the caller must not modify it afterwards.
func (in *Interp) Run(ctx context.Context, req *protocol.Request, body []byte) (protocol.Result, []byte) {
	res, parts := in.RunParts(ctx, req, body)
	switch len(parts) {
	case 0:
		return res, nil
	case 1:
		return res, parts[0]
	}
	return res, bytes.Join(parts, nil)
}

// RunShared is RunParts that also leaves the payload of each large
// int64, float64 or complex128 array as a part pointing at the array
// (starlarklib.EncodePartsShared); shared reports whether it did. Such
// parts must be read before the Interp runs again (the array can
// change; the Interp holds the value until then): the caller copies
// them, into a sealed memfd or a buffer. keep, when not nil, is what
// body's memory lives as long as (a mapped body, quic.Mapping): large
// arrays decoded from body point into it and hold keep.
func (in *Interp) RunShared(ctx context.Context, req *protocol.Request, body []byte, keep any) (res protocol.Result, parts [][]byte, shared bool) {
	in.share, in.shared, in.keep, in.held = true, false, keep, nil
	res, parts = in.RunParts(ctx, req, body)
	shared = in.shared && parts != nil
	in.share, in.shared, in.keep = false, false, nil
	runtime.KeepAlive(keep) // body is read until RunParts returns
	return res, parts, shared
}

// encodeParts encodes a task's value as parts, sharing arrays' memory
// when RunShared asked for it.
func (in *Interp) encodeParts(v starlark.Value, o *starlarklib.EncodeOptions) ([][]byte, error) {
	if !in.share {
		return starlarklib.EncodeParts(v, o)
	}
	parts, shared, err := starlarklib.EncodePartsShared(v, o)
	in.shared = in.shared || shared
	if shared {
		in.held = v
	}
	return parts, err
}

// RunParts is Run with the value as parts whose concatenation is its
// encoding (starlarklib.EncodeParts): a large string or bytes value is a
// part that points at it, not a copy.
func (in *Interp) RunParts(ctx context.Context, req *protocol.Request, body []byte) (protocol.Result, [][]byte) {
	res := protocol.Result{
		MsgID:     req.MsgID,
		Engine:    in.cfg.ID,
		Status:    protocol.StatusOK,
		Kind:      req.Kind,
		Submitted: req.Submitted,
		Client:    req.Client,
		Label:     req.Label,
		Started:   time.Now().UnixNano(),
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := output{limit: in.cfg.MaxOutput}
	thread := &starlark.Thread{
		Name:  fmt.Sprintf("engine %d task %s", in.cfg.ID, req.MsgID),
		Print: func(_ *starlark.Thread, msg string) { out.print(msg) },
		Load:  in.ns.Load,
	}
	starlarklib.SetContext(thread, ctx)
	stopStream := in.stream(thread, req, &out)
	stepsExceeded := false
	var depth *atomic.Int64
	if in.cfg.MaxStack > 0 {
		depth = new(atomic.Int64)
	}
	meterSteps(thread, in.cfg.MaxSteps, depth, &stepsExceeded)

	var val [][]byte
	var hasValue bool
	var err error
	if ctx.Err() == nil {
		stop := context.AfterFunc(ctx, func() { thread.Cancel("task cancelled") })
		unwatch := watch(in.cfg.MaxMemory, in.cfg.MaxStack, depth, cancel)
		val, hasValue, err = in.dispatch(thread, req, body)
		unwatch()
		stop()
	} else {
		err = ctx.Err()
	}

	stopStream()
	res.Completed = time.Now().UnixNano()
	res.Stdout = out.String()
	res.ExecCount = in.count
	if err == nil {
		res.HasValue = hasValue
		return res, val
	}
	var re protocol.RemoteError
	switch {
	case ctx.Err() != nil:
		re = cancelError(ctx)
		if re.Name == "MemoryError" || re.Name == "RecursionError" {
			runtime.GC() // free the task's garbage and shrink its stack before the next task
		}
	case stepsExceeded:
		re = classify(err)
		re.Name = "Error"
		re.Message = fmt.Sprintf("execution step budget of %d steps exceeded", in.cfg.MaxSteps)
	case errors.Is(err, ErrUnknownKind):
		re = protocol.RemoteError{Name: "EngineError", Message: err.Error()}
	default:
		re = classify(err)
	}
	re.Engine = in.cfg.ID
	re.Method = string(req.Kind)
	res.Status = protocol.StatusError
	if re.Name == "TaskAborted" {
		res.Status = protocol.StatusAborted
	}
	res.Error = &re
	return res, nil
}

// publisher is the thread-local key of a task's publish_data sink.
const publisher = "pxsh.publish"

// stream starts streaming a task's output (when Config.Stream is set) and
// returns the function that stops it.
func (in *Interp) stream(thread *starlark.Thread, req *protocol.Request, out *output) func() {
	send := in.cfg.Stream
	if send == nil {
		return func() {}
	}
	head := protocol.Output{MsgID: req.MsgID, Engine: in.cfg.ID}
	eo := in.ns.EncodeOptions()
	thread.SetLocal(publisher, func(d *starlark.Dict) error {
		body, err := starlarklib.Encode(d, eo)
		if err != nil {
			return err
		}
		o := head
		o.Data = true
		send(o, body)
		return nil
	})
	every := in.cfg.OutputInterval
	if every <= 0 {
		every = DefaultOutputInterval
	}
	return repeat(every, func() bool {
		if s := out.unsent(); s != "" {
			o := head
			o.Stdout = s
			send(o, nil)
		}
		return true
	})
}

// publishData implements publish_data(dict): the task's client sees the
// dict's entries in ar.data while the task runs.
func publishData(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d *starlark.Dict
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &d); err != nil {
		return nil, err
	}
	for _, k := range d.Keys() {
		if _, ok := k.(starlark.String); !ok {
			return nil, fmt.Errorf("publish_data: keys must be strings, got %s", k.Type())
		}
	}
	if pub, ok := thread.Local(publisher).(func(*starlark.Dict) error); ok {
		if err := pub(d); err != nil {
			return nil, fmt.Errorf("publish_data: %w", err)
		}
	}
	return starlark.None, nil
}

// ErrUnknownKind is the error of a request of an unknown kind (reported as
// an EngineError).
var ErrUnknownKind = errors.New("unknown request kind")

// dispatch runs a task of any kind.
func (in *Interp) dispatch(thread *starlark.Thread, req *protocol.Request, body []byte) ([][]byte, bool, error) {
	dopts := in.ns.DecodeOptions(thread)
	dopts.Owned = true // body is the request frame's, read for this task alone
	dopts.Keep = in.keep
	dopts.Shared = req.Share != "" || req.SharedBody != "" // sibling engines of this process decode it too
	eopts := in.ns.EncodeOptions()
	switch req.Kind {
	case protocol.KindExecute:
		var code string
		if err := in.unmarshal(body, &code); err != nil {
			return nil, false, fmt.Errorf("execute: decode code: %w", err)
		}
		in.count++
		v, err := in.ns.Exec(thread, fmt.Sprintf("<px-in%d>", in.count), code, !req.Silent)
		if err != nil || v == nil || v == starlark.None {
			return nil, false, err
		}
		b, err := in.encodeParts(v, eopts)
		if err != nil {
			return nil, false, fmt.Errorf("execute: encode result: %w", err)
		}
		return b, true, nil

	case protocol.KindApply:
		in.count++
		fn, args, kwargs, err := starlarklib.DecodeCall(body, dopts)
		if err != nil {
			return nil, false, fmt.Errorf("apply: %w", err)
		}
		v, err := starlark.Call(thread, fn, args, kwargs)
		if err != nil {
			return nil, false, err
		}
		b, err := in.encodeParts(v, eopts)
		if err != nil {
			return nil, false, fmt.Errorf("apply: encode result: %w", err)
		}
		return b, true, nil

	case protocol.KindPush:
		v, err := starlarklib.Decode(body, dopts)
		if err != nil {
			return nil, false, fmt.Errorf("push: %w", err)
		}
		d, ok := v.(*starlark.Dict)
		if !ok {
			return nil, false, fmt.Errorf("push: got %s, want dict", v.Type())
		}
		for _, kv := range d.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, false, fmt.Errorf("push: got %s key, want string", kv[0].Type())
			}
			in.ns.Set(string(k), kv[1])
		}
		return nil, false, nil

	case protocol.KindPull:
		var x any
		if err := in.unmarshal(body, &x); err != nil {
			return nil, false, fmt.Errorf("pull: %w", err)
		}
		var v starlark.Value
		switch x := x.(type) {
		case string:
			var err error
			if v, err = in.ns.Eval(thread, x); err != nil {
				return nil, false, err
			}
		case []any:
			vals := make([]starlark.Value, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, false, fmt.Errorf("pull: got %T, want names", e)
				}
				var err error
				if vals[i], err = in.ns.Eval(thread, s); err != nil {
					return nil, false, err
				}
			}
			v = starlark.NewList(vals)
		default:
			return nil, false, fmt.Errorf("pull: got %T, want a name or a list of names", x)
		}
		b, err := in.encodeParts(v, eopts)
		if err != nil {
			return nil, false, fmt.Errorf("pull: encode: %w", err)
		}
		return b, true, nil

	case protocol.KindClear:
		in.ns.Clear()
		in.ns.ClearModules()
		return nil, false, nil

	case protocol.KindModules:
		var mods map[string]string
		if err := in.unmarshal(body, &mods); err != nil {
			return nil, false, fmt.Errorf("modules: %w", err)
		}
		for name, src := range mods {
			in.ns.SetModule(name, src)
		}
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("%w %q", ErrUnknownKind, req.Kind)
}

// unmarshal decodes a CBOR body with the configured limits.
func (in *Interp) unmarshal(body []byte, v any) error {
	dm, err := protocol.DecMode(in.cfg.Limits)
	if err != nil {
		return err
	}
	return dm.Unmarshal(body, v)
}
