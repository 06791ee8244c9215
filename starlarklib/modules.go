package starlarklib

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	starlarktime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/starlarklib/numpy"
)

// FileOptions returns the Starlark dialect that pxsh code is compiled with:
// while loops, top-level control flow, global reassignment, recursion, sets,
// and load bindings that are visible to later chunks.
func FileOptions() *syntax.FileOptions {
	return &syntax.FileOptions{
		While:             true,
		TopLevelControl:   true,
		GlobalReassign:    true,
		Recursion:         true,
		Set:               true,
		LoadBindsGlobally: true,
	}
}

// Modules returns a new dict of the standard modules available everywhere:
// math, json, time (with a cancellable sleep), the struct constructor and
// numpy (also named np; each call makes a new one, with its own random
// stream). None of them touches the file system or the network.
func Modules() starlark.StringDict {
	members := make(starlark.StringDict, len(starlarktime.Module.Members)+1)
	for k, v := range starlarktime.Module.Members {
		members[k] = v
	}
	members["sleep"] = starlark.NewBuiltin("sleep", sleep)
	np := numpy.New()
	return starlark.StringDict{
		"np":     np,
		"numpy":  np,
		"math":   math.Module,
		"json":   JSONModule(0),
		"time":   &starlarkstruct.Module{Name: "time", Members: members},
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
	}
}

// JSONModule returns Starlark's json module whose decode refuses input
// nested deeper than maxDepth levels (0: the codec's default, 256) with a
// clear error, instead of recursing until the Go stack overflows.
func JSONModule(maxDepth int) *starlarkstruct.Module {
	if maxDepth <= 0 {
		maxDepth = defaultMaxDepth
	}
	members := make(starlark.StringDict, len(json.Module.Members))
	for k, v := range json.Module.Members {
		members[k] = v
	}
	decode := json.Module.Members["decode"].(*starlark.Builtin)
	members["decode"] = starlark.NewBuiltin("json.decode", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			if s, ok := args[0].(starlark.String); ok {
				if err := jsonDepth(string(s), maxDepth); err != nil {
					return nil, err
				}
			}
		}
		return starlark.Call(thread, decode, args, kwargs)
	})
	return &starlarkstruct.Module{Name: "json", Members: members}
}

// jsonDepth checks that JSON text nests arrays and objects at most max
// levels deep (brackets inside strings do not count).
func jsonDepth(s string, max int) error {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > max {
				return fmt.Errorf("json.decode: input nested deeper than the limit of %d levels", max)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

const contextKey = "pxsh.context"

// SetContext associates ctx with thread; blocking builtins such as
// time.sleep return early when it is done.
func SetContext(thread *starlark.Thread, ctx context.Context) {
	thread.SetLocal(contextKey, ctx)
}

// Context returns the context associated with thread by SetContext, or
// context.Background.
func Context(thread *starlark.Thread) context.Context {
	if ctx, ok := thread.Local(contextKey).(context.Context); ok && ctx != nil {
		return ctx
	}
	return context.Background()
}

// sleep implements time.sleep(seconds).
func sleep(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var secs starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &secs); err != nil {
		return nil, err
	}
	f, ok := starlark.AsFloat(secs)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want int or float", b.Name(), secs.Type())
	}
	if f < 0 {
		return nil, fmt.Errorf("%s: negative duration", b.Name())
	}
	if f > 1e9 {
		f = 1e9
	}
	ctx := Context(thread)
	t := time.NewTimer(time.Duration(f * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return starlark.None, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: cancelled: %w", b.Name(), context.Cause(ctx))
	}
}

// moduleEntry is a pushed module's cached load result.
type moduleEntry struct {
	globals starlark.StringDict
	err     error
	loading bool
}

// SetModule registers the source of a module pushed by a client (for
// example with sync_imports); load(name, ...) executes it once, in its own
// namespace with this namespace's builtins. Registering a name again
// replaces the source and forgets the cached module.
func (ns *Namespace) SetModule(name, src string) {
	ns.modSrc[name] = src
	delete(ns.modCache, name)
}

// ClearModules forgets every pushed module and its cached value.
func (ns *Namespace) ClearModules() {
	ns.modSrc = map[string]string{}
	ns.modCache = map[string]*moduleEntry{}
}

// ModuleNames returns the names of the pushed modules, sorted.
func (ns *Namespace) ModuleNames() []string {
	names := make([]string, 0, len(ns.modSrc))
	for k := range ns.modSrc {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Load is a thread.Load hook: it allows the standard modules ("math",
// "json", "time", "struct"; load("math", "math", "sqrt") binds the module or
// its members) and modules pushed with SetModule. It never reads files.
func (ns *Namespace) Load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	if v, ok := ns.std[module]; ok {
		if b, ok := ns.builtins[module]; ok {
			v = b // the host's version of a standard module (json with its depth limit)
		}
		d := starlark.StringDict{module: v}
		if m, ok := v.(*starlarkstruct.Module); ok {
			for k, mv := range m.Members {
				d[k] = mv
			}
		}
		return d, nil
	}
	if m, ok := ns.native[module]; ok {
		return m, nil
	}
	src, ok := ns.modSrc[module]
	if !ok {
		return nil, fmt.Errorf("load: module %q not available on this engine (only standard modules and modules pushed with sync_imports)", module)
	}
	if e, ok := ns.modCache[module]; ok {
		if e.loading {
			return nil, fmt.Errorf("load: cycle in load graph at module %q", module)
		}
		return e.globals, e.err
	}
	e := &moduleEntry{loading: true}
	ns.modCache[module] = e
	g, err := ns.execModule(thread, module, src)
	e.globals, e.err, e.loading = g, err, false
	if err != nil {
		delete(ns.modCache, module) // a cancelled load may succeed later
		return nil, fmt.Errorf("load %s: %w", module, FixError(err))
	}
	return g, nil
}

// execModule runs a module's source as starlark.ExecFileOptions does,
// keeping its text for the functions it defines.
func (ns *Namespace) execModule(thread *starlark.Thread, module, src string) (starlark.StringDict, error) {
	f, prog, err := starlark.SourceProgramOptions(FileOptions(), module, src, ns.builtins.Has)
	if err != nil {
		return nil, err
	}
	ns.registerSource(module, src, f)
	g, err := prog.Init(thread, ns.builtins)
	g.Freeze()
	return g, err
}
