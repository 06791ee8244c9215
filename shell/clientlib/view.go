package clientlib

import (
	"fmt"
	"runtime"
	"strings"
	"unicode"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// DirectView addresses engines explicitly: rc[...] and
// rc.direct_view(targets).
type DirectView struct {
	rc *Client
	// targets are fixed engine ids; nil means every engine registered at
	// the time of each call ('all').
	targets []int
	// single marks a view made by an int index: results are one value,
	// not a list.
	single bool
	block  bool
	// label tags the view's tasks in the hub's database (label=).
	label string
}

var (
	_ starlark.HasAttrs    = (*DirectView)(nil)
	_ starlark.HasSetField = (*DirectView)(nil)
	_ starlark.HasSetKey   = (*DirectView)(nil)
)

func (v *DirectView) String() string {
	if v.targets == nil {
		return "<DirectView all>"
	}
	if v.single {
		return fmt.Sprintf("<DirectView %d>", v.targets[0])
	}
	parts := make([]string, len(v.targets))
	for i, id := range v.targets {
		parts[i] = fmt.Sprint(id)
	}
	return "<DirectView [" + strings.Join(parts, ", ") + "]>"
}
func (v *DirectView) Type() string          { return "DirectView" }
func (v *DirectView) Freeze()               {}
func (v *DirectView) Truth() starlark.Bool  { return true }
func (v *DirectView) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: DirectView") }

// Len is the number of engines the view addresses now.
func (v *DirectView) Len() int { return len(v.Targets()) }

// Targets returns the engine ids a call would address now.
func (v *DirectView) Targets() []int {
	if v.targets == nil {
		return v.rc.c.Ids()
	}
	return v.targets
}

// Client returns the view's client.
func (v *DirectView) Client() *Client { return v.rc }

func (v *DirectView) targetsValue() starlark.Value {
	if v.targets == nil {
		return starlark.String("all")
	}
	if v.single {
		return starlark.MakeInt(v.targets[0])
	}
	return intList(v.targets)
}

// Attr serves flags and methods.
func (v *DirectView) Attr(name string) (starlark.Value, error) {
	switch name {
	case "block":
		return starlark.Bool(v.block), nil
	case "targets":
		return v.targetsValue(), nil
	case "client":
		return v.rc, nil
	case "label":
		if v.label == "" {
			return starlark.None, nil
		}
		return starlark.String(v.label), nil
	}
	if m, ok := viewMethods[name]; ok {
		return method(v, name, m), nil
	}
	if m, ok := moreViewMethods[name]; ok {
		return method(v, name, m), nil
	}
	return nil, nil
}

// AttrNames lists the view's attributes.
func (v *DirectView) AttrNames() []string {
	return attrNames([]string{"block", "targets", "client", "label"}, viewMethods, moreViewMethods)
}

// SetField sets view.block and view.targets.
func (v *DirectView) SetField(name string, val starlark.Value) error {
	switch name {
	case "block":
		b, ok := val.(starlark.Bool)
		if !ok {
			return fmt.Errorf("block must be a bool, not %s", val.Type())
		}
		v.block = bool(b)
		return nil
	case "targets":
		nv, err := v.rc.viewFor(val)
		if err != nil {
			return err
		}
		v.targets, v.single = nv.targets, nv.single
		return nil
	case "label":
		l, err := labelArg(val)
		if err != nil {
			return err
		}
		v.label = l
		return nil
	}
	return starlark.NoSuchAttrError(fmt.Sprintf("DirectView has no settable field .%s", name))
}

// Get implements dv['a']: a blocking pull.
func (v *DirectView) Get(k starlark.Value) (starlark.Value, bool, error) {
	name, ok := k.(starlark.String)
	if !ok {
		return nil, false, fmt.Errorf("view key must be a name, not %s", k.Type())
	}
	ar, err := v.pull(starlark.Tuple{name}, v.callOpts())
	if err != nil {
		return nil, false, err
	}
	val, err := ar.value(nil, -1, false)
	return val, true, err
}

// SetKey implements dv['a'] = x: a push that waits when the view blocks.
func (v *DirectView) SetKey(k, val starlark.Value) error {
	name, ok := k.(starlark.String)
	if !ok {
		return fmt.Errorf("view key must be a name, not %s", k.Type())
	}
	d := starlark.NewDict(1)
	d.SetKey(name, val)
	ar, err := v.push(d, v.callOpts())
	if err != nil {
		return err
	}
	if !v.block {
		return nil
	}
	_, err = ar.value(nil, -1, false)
	return err
}

// callOpts are the per-call flags every view method accepts.
type callOpts struct {
	block   bool
	targets []int
	single  bool
	label   string
}

// callOpts returns the view's own flags.
func (v *DirectView) callOpts() callOpts {
	return callOpts{block: v.block, targets: v.Targets(), single: v.single, label: v.label}
}

// labelArg parses a label= value (a string or None).
func labelArg(val starlark.Value) (string, error) {
	switch s := val.(type) {
	case starlark.NoneType:
		return "", nil
	case starlark.String:
		return string(s), nil
	}
	return "", &namedError{"TypeError", "label must be a string or None, not " + val.Type()}
}

// opts pops block=, targets= and label= from kwargs.
func (v *DirectView) opts(kwargs []starlark.Tuple) (callOpts, []starlark.Tuple, error) {
	o := v.callOpts()
	var rest []starlark.Tuple
	for _, kv := range kwargs {
		switch string(kv[0].(starlark.String)) {
		case "block":
			if kv[1] == starlark.None {
				continue
			}
			b, ok := kv[1].(starlark.Bool)
			if !ok {
				return o, nil, fmt.Errorf("block must be a bool, not %s", kv[1].Type())
			}
			o.block = bool(b)
		case "targets":
			if kv[1] == starlark.None {
				continue
			}
			nv, err := v.rc.viewFor(kv[1])
			if err != nil {
				return o, nil, err
			}
			o.targets, o.single = nv.Targets(), nv.single
		case "label":
			l, err := labelArg(kv[1])
			if err != nil {
				return o, nil, err
			}
			o.label = l
		default:
			rest = append(rest, kv)
		}
	}
	if len(o.targets) == 0 {
		return o, nil, fmt.Errorf("no engines registered")
	}
	return o, rest, nil
}

// result returns ar, or its value when the call blocks.
func result(thread *starlark.Thread, ar *AsyncResult, block bool) (starlark.Value, error) {
	if !block {
		return ar, nil
	}
	return ar.value(thread, -1, false)
}

// viewMethods are the direct view's methods; moreViewMethods
// adds the rest.
var viewMethods = map[string]builtinFunc{
	"apply":       viewApply(false, false),
	"apply_sync":  viewApply(true, true),
	"apply_async": viewApply(true, false),
	"execute":     viewExecute,
	"push":        viewPush,
	"pull":        viewPull,
	"set_flags":   viewSetFlags,
}

var moreViewMethods = map[string]builtinFunc{
	"activate":     viewActivate,
	"map":          viewMap(false, false),
	"map_sync":     viewMap(true, true),
	"map_async":    viewMap(true, false),
	"run":          viewRun,
	"update":       viewPush,
	"get":          viewGet,
	"scatter":      viewScatter,
	"gather":       viewGather,
	"remote":       viewRemote,
	"parallel":     viewParallel,
	"sync_imports": viewSyncImports,
	"clear":        viewClear,
	"wait":         viewWait,
	"abort":        viewAbort,
	"queue_status": viewQueueStatus,
	"get_result":   viewGetResult,
}

func recvView(b *starlark.Builtin) *DirectView { return b.Receiver().(*DirectView) }

// viewApply makes apply (fixed=false: the view's block flag) and
// apply_sync/apply_async (fixed block).
func viewApply(fixed, block bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		v := recvView(b)
		if len(args) == 0 {
			return nil, fmt.Errorf("%s: missing function argument", b.Name())
		}
		o, kw, err := v.opts(kwargs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if fixed {
			o.block = block
		}
		body, err := starlarklib.EncodeCall(args[0], args[1:], kw, v.rc.env.NS.EncodeOptions())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		req := protocol.Request{Kind: protocol.KindApply, Name: funcName(args[0]), Label: o.label}
		ar, err := v.rc.submit(req, body, o.targets, o.single)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return result(thread, ar, o.block)
	}
}

func funcName(f starlark.Value) string {
	if c, ok := f.(starlark.Callable); ok {
		return c.Name()
	}
	return f.Type()
}

func viewExecute(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("execute: %w", err)
	}
	var code string
	silent := true
	if err := starlark.UnpackArgs(b.Name(), args, kw, "code", &code, "silent?", &silent); err != nil {
		return nil, err
	}
	ar, err := v.execute(code, silent, o)
	if err != nil {
		return nil, err
	}
	return waited(thread, ar, o.block)
}

// waited returns ar; when the call blocks it first waits for it and
// raises its failure (ipyparallel's execute and run return their
// AsyncResult even when blocking).
func waited(thread *starlark.Thread, ar *AsyncResult, block bool) (starlark.Value, error) {
	if block {
		if _, err := ar.value(thread, -1, false); err != nil {
			return nil, err
		}
	}
	return ar, nil
}

func (v *DirectView) execute(code string, silent bool, o callOpts) (*AsyncResult, error) {
	body, err := starlarklib.Encode(starlark.String(code), nil)
	if err != nil {
		return nil, err
	}
	return v.rc.submit(protocol.Request{Kind: protocol.KindExecute, Silent: silent, Label: o.label}, body, o.targets, o.single)
}

func viewPush(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	var ns *starlark.Dict
	if err := starlark.UnpackArgs(b.Name(), args, kw, "ns", &ns); err != nil {
		return nil, err
	}
	for _, k := range ns.Keys() {
		if _, ok := k.(starlark.String); !ok {
			return nil, fmt.Errorf("push: names must be strings, got %s", k.Type())
		}
	}
	ar, err := v.push(ns, o)
	if err != nil {
		return nil, err
	}
	return result(thread, ar, o.block)
}

func (v *DirectView) push(ns *starlark.Dict, o callOpts) (*AsyncResult, error) {
	for _, k := range ns.Keys() {
		if s, ok := k.(starlark.String); !ok || !isIdentifier(string(s)) {
			return nil, &namedError{"ValueError", fmt.Sprintf("push: %s is not a variable name (only plain names can be pushed)", k)}
		}
	}
	// A large string, bytes or array value goes from where it is into
	// the stream (an array's into the memfd or a copy before the submit
	// returns), not through a copy in the encoded body.
	parts, shared, err := starlarklib.EncodePartsShared(ns, v.rc.env.NS.EncodeOptions())
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	req := protocol.Request{Kind: protocol.KindPush, Label: o.label}
	if shared {
		// The parts point into ns's arrays, whose memory may be a mapping
		// that only they keep mapped: ns is held until they are copied.
		defer runtime.KeepAlive(ns)
		return v.rc.submitVolatileParts(req, parts, o.targets, o.single)
	}
	return v.rc.submitParts(req, parts, o.targets, o.single)
}

func viewPull(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	var names starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kw, "names", &names); err != nil {
		return nil, err
	}
	var exprs starlark.Tuple
	multi := false
	switch n := names.(type) {
	case starlark.String:
		exprs = starlark.Tuple{n}
	case starlark.Tuple, *starlark.List:
		multi = true
		it := n.(starlark.Iterable).Iterate()
		var x starlark.Value
		for it.Next(&x) {
			s, ok := x.(starlark.String)
			if !ok {
				it.Done()
				return nil, fmt.Errorf("pull: names must be strings, got %s", x.Type())
			}
			exprs = append(exprs, s)
		}
		it.Done()
	default:
		return nil, fmt.Errorf("pull: names must be a string or a list of strings, not %s", names.Type())
	}
	var ar *AsyncResult
	if multi {
		ar, err = v.pullMany(exprs, o)
	} else {
		ar, err = v.pull(exprs, o)
	}
	if err != nil {
		return nil, err
	}
	return result(thread, ar, o.block)
}

func (v *DirectView) pull(exprs starlark.Tuple, o callOpts) (*AsyncResult, error) {
	body, err := starlarklib.Encode(exprs[0], nil)
	if err != nil {
		return nil, err
	}
	return v.rc.submit(protocol.Request{Kind: protocol.KindPull, Label: o.label}, body, o.targets, o.single)
}

func (v *DirectView) pullMany(exprs starlark.Tuple, o callOpts) (*AsyncResult, error) {
	body, err := starlarklib.Encode(starlark.NewList(exprs), nil)
	if err != nil {
		return nil, err
	}
	return v.rc.submit(protocol.Request{Kind: protocol.KindPull, Label: o.label}, body, o.targets, o.single)
}

func viewSetFlags(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	if len(args) > 0 {
		return nil, fmt.Errorf("set_flags: takes keyword arguments only")
	}
	for _, kv := range kwargs {
		if err := v.SetField(string(kv[0].(starlark.String)), kv[1]); err != nil {
			return nil, fmt.Errorf("set_flags: %w", err)
		}
	}
	return v, nil
}

// Iterate yields the engine ids the view addresses now (so that len(view)
// works).
func (v *DirectView) Iterate() starlark.Iterator { return intList(v.Targets()).Iterate() }

// viewGet implements dv.get(name): dv[name].
func viewGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name starlark.String
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &name); err != nil {
		return nil, err
	}
	v, _, err := recvView(b).Get(name)
	return v, err
}

// viewClear implements clear(targets=, block=): resets the engines'
// namespaces and forgets their pushed modules.
func viewClear(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	if err := starlark.UnpackArgs(b.Name(), args, kw); err != nil {
		return nil, err
	}
	ar, err := v.rc.submit(protocol.Request{Kind: protocol.KindClear, Label: o.label}, nil, o.targets, o.single)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	ar.res.Combine = client.CombineNone
	return result(thread, ar, o.block)
}

// isIdentifier reports whether s is a Starlark variable name.
func isIdentifier(s string) bool {
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return s != ""
}
