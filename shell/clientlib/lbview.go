package clientlib

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// LoadBalancedView submits tasks that the controller's scheduler places
// on engines: rc.load_balanced_view(targets=None). Its flags are
// attributes (and set_flags); every call also takes them as keywords for
// that call only. It is meant for one Starlark thread at a time.
type LoadBalancedView struct {
	rc    *Client
	flags lbFlags

	mu   sync.Mutex
	hist []string // msg ids submitted through this view (the last client.MaxHistory)
}

var (
	_ starlark.HasAttrs    = (*LoadBalancedView)(nil)
	_ starlark.HasSetField = (*LoadBalancedView)(nil)
)

// lbFlags are a load-balanced view's flags.
type lbFlags struct {
	block    bool
	targets  []int // nil: any engine
	retries  int
	timeout  float64 // seconds; 0: none
	after    []string
	follow   []string
	depAny   bool
	success  bool
	failure  bool
	priority int
	label    string
}

// lbFlagNames are the flags, as attributes and keywords.
var lbFlagNames = []string{"block", "targets", "retries", "timeout", "after", "follow",
	"dep_any", "success", "failure", "priority", "label"}

func isLBFlag(name string) bool {
	for _, n := range lbFlagNames {
		if n == name {
			return true
		}
	}
	return false
}

func (rc *Client) newLBView(targets starlark.Value) (*LoadBalancedView, error) {
	v := &LoadBalancedView{rc: rc, flags: lbFlags{success: true}}
	if err := v.setFlag(&v.flags, "targets", targets); err != nil {
		return nil, err
	}
	return v, nil
}

// clientLoadBalancedView implements rc.load_balanced_view(targets=None,
// **flags).
func clientLoadBalancedView(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.None
	if len(args) > 1 {
		return nil, fmt.Errorf("%s: got %d positional arguments, want at most 1", b.Name(), len(args))
	}
	if len(args) == 1 {
		targets = args[0]
	}
	v, err := rc.newLBView(targets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	for _, kv := range kwargs {
		if err := v.SetField(string(kv[0].(starlark.String)), kv[1]); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
	}
	return v, nil
}

// String returns "<LoadBalancedView None>" or "<LoadBalancedView [0, 2]>".
func (v *LoadBalancedView) String() string {
	if v.flags.targets == nil {
		return "<LoadBalancedView None>"
	}
	parts := make([]string, len(v.flags.targets))
	for i, id := range v.flags.targets {
		parts[i] = fmt.Sprint(id)
	}
	return "<LoadBalancedView [" + strings.Join(parts, ", ") + "]>"
}

// Type returns "LoadBalancedView".
func (v *LoadBalancedView) Type() string { return "LoadBalancedView" }

// Freeze does nothing.
func (v *LoadBalancedView) Freeze() {}

// Truth is True.
func (v *LoadBalancedView) Truth() starlark.Bool { return true }

// Hash fails: a view is unhashable.
func (v *LoadBalancedView) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable: LoadBalancedView")
}

// Len is the number of engines the view may use now.
func (v *LoadBalancedView) Len() int {
	if v.flags.targets != nil {
		return len(v.flags.targets)
	}
	return len(v.rc.c.Ids())
}

// Attr serves flags and methods.
func (v *LoadBalancedView) Attr(name string) (starlark.Value, error) {
	f := &v.flags
	switch name {
	case "block":
		return starlark.Bool(f.block), nil
	case "targets":
		if f.targets == nil {
			return starlark.None, nil
		}
		return intList(f.targets), nil
	case "retries":
		return starlark.MakeInt(f.retries), nil
	case "timeout":
		if f.timeout == 0 {
			return starlark.None, nil
		}
		return starlark.Float(f.timeout), nil
	case "after":
		return stringList(f.after), nil
	case "follow":
		return stringList(f.follow), nil
	case "dep_any":
		return starlark.Bool(f.depAny), nil
	case "success":
		return starlark.Bool(f.success), nil
	case "failure":
		return starlark.Bool(f.failure), nil
	case "priority":
		return starlark.MakeInt(f.priority), nil
	case "label":
		if f.label == "" {
			return starlark.None, nil
		}
		return starlark.String(f.label), nil
	case "client":
		return v.rc, nil
	case "history":
		v.mu.Lock()
		defer v.mu.Unlock()
		return stringList(v.hist), nil
	}
	if m, ok := lbMethods[name]; ok {
		return method(v, name, m), nil
	}
	return nil, nil
}

// AttrNames lists the view's attributes.
func (v *LoadBalancedView) AttrNames() []string {
	return attrNames(append([]string{"client", "history"}, lbFlagNames...), lbMethods)
}

// SetField sets a flag: lview.block = True, lview.retries = 2, ...
func (v *LoadBalancedView) SetField(name string, val starlark.Value) error {
	if !isLBFlag(name) {
		return starlark.NoSuchAttrError(fmt.Sprintf("LoadBalancedView has no settable field .%s", name))
	}
	nf := v.flags
	if err := v.setFlag(&nf, name, val); err != nil {
		return err
	}
	if err := nf.check(); err != nil {
		return err
	}
	v.flags = nf
	return nil
}

func (f *lbFlags) check() error {
	if !f.success && !f.failure {
		return &namedError{"ValueError", "success and failure cannot both be False"}
	}
	return nil
}

// setFlag parses one flag into f.
func (v *LoadBalancedView) setFlag(f *lbFlags, name string, val starlark.Value) error {
	switch name {
	case "block":
		b, err := boolKw(val, "block")
		if err != nil {
			return err
		}
		f.block = b
	case "targets":
		switch t := val.(type) {
		case starlark.NoneType:
			f.targets = nil
		case starlark.String:
			if t != "all" {
				return &namedError{"ValueError", fmt.Sprintf("targets must be 'all', None, an int or a list of ints, not %s", t)}
			}
			f.targets = nil
		case starlark.Int:
			id, err := v.rc.engineAt(t)
			if err != nil {
				return err
			}
			f.targets = []int{id}
		case starlark.Iterable:
			ts, err := targetList(t, v.rc.c.Ids())
			if err != nil {
				return err
			}
			f.targets = ts
		default:
			return &namedError{"TypeError", fmt.Sprintf("targets must be 'all', None, an int or a list of ints, not %s", val.Type())}
		}
	case "retries", "priority":
		n := 0
		if val != starlark.None {
			var err error
			if n, err = starlark.AsInt32(val); err != nil {
				return &namedError{"TypeError", fmt.Sprintf("%s must be an int, not %s", name, val.Type())}
			}
		}
		if name == "retries" {
			if n < 0 {
				return &namedError{"ValueError", "retries must not be negative"}
			}
			f.retries = n
		} else {
			f.priority = n
		}
	case "timeout":
		d, ok, err := seconds(val)
		if err != nil {
			return err
		}
		if d < 0 {
			return &namedError{"ValueError", "timeout must not be negative"}
		}
		f.timeout = 0
		if ok {
			f.timeout = d.Seconds()
		}
	case "after", "follow":
		ids, err := depIDs(val)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if name == "after" {
			f.after = ids
		} else {
			f.follow = ids
		}
	case "dep_any", "success", "failure":
		b, err := boolKw(val, name)
		if err != nil {
			return err
		}
		switch name {
		case "dep_any":
			f.depAny = b
		case "success":
			f.success = b
		default:
			f.failure = b
		}
	case "label":
		switch s := val.(type) {
		case starlark.NoneType:
			f.label = ""
		case starlark.String:
			f.label = string(s)
		default:
			return &namedError{"TypeError", "label must be a string or None, not " + val.Type()}
		}
	}
	return nil
}

// depIDs collects msg ids from a dependency value: None, a msg id, an
// AsyncResult, or a list or tuple of these.
func depIDs(val starlark.Value) ([]string, error) {
	var out []string
	var add func(x starlark.Value) error
	add = func(x starlark.Value) error {
		switch d := x.(type) {
		case starlark.NoneType:
		case starlark.String:
			out = append(out, string(d))
		case *AsyncResult:
			for _, t := range d.res.Tasks {
				out = append(out, t.MsgID)
			}
		case *starlark.List, starlark.Tuple, *starlark.Set:
			it := d.(starlark.Iterable).Iterate()
			defer it.Done()
			var e starlark.Value
			for it.Next(&e) {
				if err := add(e); err != nil {
					return err
				}
			}
		default:
			return &namedError{"TypeError", "dependencies must be msg ids, AsyncResults or lists of them, not " + x.Type()}
		}
		return nil
	}
	if err := add(val); err != nil {
		return nil, err
	}
	return out, nil
}

// callFlags returns the view's flags overridden by the flag keywords of
// one call, and the other keywords.
func (v *LoadBalancedView) callFlags(kwargs []starlark.Tuple) (lbFlags, []starlark.Tuple, error) {
	f := v.flags
	var rest []starlark.Tuple
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if !isLBFlag(name) {
			rest = append(rest, kv)
			continue
		}
		if name == "block" && kv[1] == starlark.None {
			continue
		}
		if err := v.setFlag(&f, name, kv[1]); err != nil {
			return f, nil, err
		}
	}
	if err := f.check(); err != nil {
		return f, nil, err
	}
	return f, rest, nil
}

// options returns the Go client's task options of the flags.
func (f *lbFlags) options() client.TaskOptions {
	return client.TaskOptions{
		Targets: f.targets, Retries: f.retries, Priority: f.priority, Timeout: secondsDuration(f.timeout),
		After: f.after, Follow: f.follow, DepAny: f.depAny, DepSuccess: f.success, DepFailure: f.failure,
		Label: f.label,
	}
}

// request returns a load-balanced request carrying the flags.
func (f *lbFlags) request(c *client.Client, kind protocol.Kind, name string) protocol.Request {
	req := c.LoadBalanced(f.options()).Request(kind)
	req.Name = name
	return req
}

// submit sends one load-balanced apply task per body.
func (v *LoadBalancedView) submit(f lbFlags, name string, bodies [][]byte, single bool) (*AsyncResult, error) {
	res, err := v.rc.c.LoadBalanced(f.options()).SubmitEach(protocol.KindApply, name, bodies)
	v.record(res.Tasks)
	if errors.Is(err, client.ErrNoEngines) {
		return nil, errNoEngines
	}
	res.Single = single
	return v.rc.wrap(res), err
}

func (v *LoadBalancedView) record(tasks []*client.Task) {
	v.rc.h.Record(tasks)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, t := range tasks {
		v.hist = append(v.hist, t.MsgID)
	}
	if len(v.hist) > client.MaxHistory {
		v.hist = append([]string(nil), v.hist[len(v.hist)-client.MaxHistory:]...)
	}
}

var lbMethods = map[string]builtinFunc{
	"apply":        lbApply(false, false),
	"apply_sync":   lbApply(true, true),
	"apply_async":  lbApply(true, false),
	"map":          lbMap(false, false),
	"map_sync":     lbMap(true, true),
	"map_async":    lbMap(true, false),
	"imap":         lbImap,
	"set_flags":    lbSetFlags,
	"wait":         lbWait,
	"abort":        lbAbort,
	"queue_status": lbQueueStatus,
	"get_result":   viewGetResult,
	"executor":     lbExecutor,
}

// lbExecutor implements lv.executor(): an Executor over this view.
func lbExecutor(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return &Executor{view: recvLB(b)}, nil
}

func recvLB(b *starlark.Builtin) *LoadBalancedView { return b.Receiver().(*LoadBalancedView) }

// lbApply makes apply, apply_sync and apply_async: one task, whose result
// is a single value.
func lbApply(fixed, block bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		v := recvLB(b)
		if len(args) == 0 {
			return nil, fmt.Errorf("%s: missing function argument", b.Name())
		}
		f, kw, err := v.callFlags(kwargs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if fixed {
			f.block = block
		}
		body, err := starlarklib.EncodeCall(args[0], args[1:], kw, v.rc.env.NS.EncodeOptions())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		ar, err := v.submit(f, funcName(args[0]), [][]byte{body}, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return result(thread, ar, f.block)
	}
}

// lbMap makes map, map_sync and map_async: map(f, *seqs, chunksize=1,
// ordered=True, return_exceptions=False, **flags), one task per chunk.
func lbMap(fixed, block bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		v := recvLB(b)
		if fixed {
			if bv, _ := popKw(kwargs, "block"); bv != nil {
				return nil, &namedError{"TypeError", b.Name() + ": unexpected keyword argument 'block'"}
			}
		}
		f, kw, err := v.callFlags(kwargs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if fixed {
			f.block = block
		}
		var chunksize = 1
		ordered, exceptions := true, false
		var x starlark.Value
		if x, kw = popKw(kw, "chunksize"); x != nil && x != starlark.None {
			if chunksize, err = starlark.AsInt32(x); err != nil || chunksize < 1 {
				return nil, &namedError{"ValueError", fmt.Sprintf("%s: chunksize must be a positive int, got %s", b.Name(), x)}
			}
		}
		if x, kw = popKw(kw, "ordered"); x != nil {
			if ordered, err = boolKw(x, "ordered"); err != nil {
				return nil, err
			}
		}
		if x, kw = popKw(kw, "return_exceptions"); x != nil {
			if exceptions, err = boolKw(x, "return_exceptions"); err != nil {
				return nil, err
			}
		}
		seqs, n, err := mapArgs(b.Name(), args, kw)
		if err != nil {
			return nil, err
		}
		eo := v.rc.env.NS.EncodeOptions()
		var bodies [][]byte
		var chunks []int
		for _, c := range client.FixedChunks(n, chunksize) {
			off, end := c[0], c[1]
			cargs := make(starlark.Tuple, 0, 1+len(seqs))
			cargs = append(cargs, args[0])
			for _, s := range seqs {
				cargs = append(cargs, starlark.NewList(s[off:end:end]))
			}
			body, err := encodeWrappedCall(mapChunkWire, cargs, eo)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			bodies = append(bodies, body)
			chunks = append(chunks, end-off)
		}
		ar, err := v.submit(f, funcName(args[0]), bodies, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		ar.res.Combine, ar.res.Chunks, ar.exceptions, ar.unordered = client.CombineChunks, chunks, exceptions, !ordered
		if !f.block {
			return ar, nil
		}
		ar.progress(progressAfter)
		return ar.value(thread, -1, exceptions)
	}
}

func lbSetFlags(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvLB(b)
	if len(args) > 0 {
		return nil, fmt.Errorf("set_flags: takes keyword arguments only")
	}
	nf := v.flags
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if !isLBFlag(name) {
			return nil, &namedError{"KeyError", fmt.Sprintf("set_flags: unknown flag %q", name)}
		}
		if err := v.setFlag(&nf, name, kv[1]); err != nil {
			return nil, fmt.Errorf("set_flags: %w", err)
		}
	}
	if err := nf.check(); err != nil {
		return nil, fmt.Errorf("set_flags: %w", err)
	}
	v.flags = nf
	return v, nil
}

func lbWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvLB(b)
	var jobs starlark.Value = starlark.None
	var timeout starlark.Value = starlark.MakeInt(-1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if jobs == starlark.None {
		jobs = v.outstandingIDs()
	}
	return v.rc.waitJobs(jobs, timeout, nil)
}

func lbAbort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvLB(b)
	var jobs starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs); err != nil {
		return nil, err
	}
	if jobs == starlark.None {
		jobs = v.outstandingIDs()
	}
	return starlark.None, v.rc.abortJobs(jobs, nil)
}

// outstandingIDs lists the view's unfinished tasks.
func (v *LoadBalancedView) outstandingIDs() *starlark.List {
	v.mu.Lock()
	mine := make(map[string]bool, len(v.hist))
	for _, id := range v.hist {
		mine[id] = true
	}
	v.mu.Unlock()
	var out []starlark.Value
	for _, t := range v.rc.h.Outstanding() {
		if mine[t.MsgID] {
			out = append(out, starlark.String(t.MsgID))
		}
	}
	return starlark.NewList(out)
}

func lbQueueStatus(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvLB(b)
	var verbose bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "verbose?", &verbose); err != nil {
		return nil, err
	}
	dv := &DirectView{rc: v.rc, targets: v.flags.targets}
	return v.rc.queueStatus(dv, verbose)
}

// engineOf returns the engine a task ran on: the result's for a finished
// task (load-balanced tasks learn it then), otherwise the target (-1 for
// an unassigned load-balanced task).
func engineOf(t *client.Task) int {
	if t.Ready() {
		if r, _ := t.Result(); r.Engine >= 0 || t.Engine < 0 {
			return r.Engine
		}
	}
	return t.Engine
}

// Iterate yields the engine ids the view may use now (so that len(view)
// works).
func (v *LoadBalancedView) Iterate() starlark.Iterator {
	if v.flags.targets != nil {
		return intList(v.flags.targets).Iterate()
	}
	return intList(v.rc.c.Ids()).Iterate()
}
