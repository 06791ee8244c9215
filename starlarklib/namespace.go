package starlarklib

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
)

// Namespace is a persistent, mutable Starlark namespace, like Python's
// __main__: chunks of code run in it one after another, and globals are
// late-bound, so a function defined in an earlier chunk sees later
// rebindings of the names it uses.
//
// Each top-level statement of a chunk is compiled on its own, with every
// name that is not a Starlark universal builtin resolved through the
// namespace dict, which is the module's predeclared environment and is
// shared by reference; the statement's new globals are merged back into
// the dict. Compound statements are rewritten so that this means what one
// Starlark module means (see namespace_stmt.go); the remaining differences
// are those of late binding, listed in docs/STARLARK.md.
//
// A Namespace is not safe for concurrent use.
type Namespace struct {
	builtins  starlark.StringDict
	env       starlark.StringDict // builtins + user globals, shared by all modules
	user      map[string]bool     // names bound by user code
	std       starlark.StringDict // standard modules for load
	sources   map[string][]*chunkSource
	byParse   map[syntax.Position]*chunkSource // by parseKey, the last maxParses parses
	parses    []syntax.Position                // their keys, a ring from parseNext
	parseNext int
	progs     map[string]*starlark.Program // compiled function wrappers
	fast      map[string]*fastExpr         // by name and source; nil: not fast
	modSrc    map[string]string
	modCache  map[string]*moduleEntry
	native    map[string]starlark.StringDict // modules given by Go code

	exporting map[*starlark.Function]bool
	limits    protocol.Limits
	sync      *starlark.Builtin // see namespace_stmt.go
	lateReads map[string]bool   // names used by the functions compiled here

	wraps map[*starlark.Program]starlark.Value // the function each wrapper defines
}

// chunkSource is the text of one compiled chunk, kept to recover the source
// of the functions it defines.
type chunkSource struct {
	filename, src string
	defs          map[defKey]syntax.Node // its functions, indexed on first use
	texts         map[syntax.Node]string // their sources, as exported
}

// defKey is where a function is defined, and its name ("lambda" for a
// lambda).
type defKey struct {
	line, col int32
	name      string
}

// find returns the def statement or lambda expression at pos named name.
func (c *chunkSource) find(pos syntax.Position, name string) syntax.Node {
	if c.defs == nil {
		c.index()
	}
	return c.defs[defKey{pos.Line, pos.Col, name}]
}

// index parses the chunk's text again (a parse that was compiled is
// resolved) and indexes its functions.
func (c *chunkSource) index() {
	c.defs = map[defKey]syntax.Node{}
	f, err := FileOptions().Parse(c.filename, c.src, 0)
	if err != nil {
		return
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.DefStmt:
			c.defs[defKey{n.Def.Line, n.Def.Col, n.Name.Name}] = n
		case *syntax.LambdaExpr:
			c.defs[defKey{n.Lambda.Line, n.Lambda.Col, "lambda"}] = n
		}
		return true
	})
}

// parseKey is pos without its line and column: what is left tells the
// parse pos comes from, since each parse holds a file name of its own (a
// syntax.Position points to it).
func parseKey(pos syntax.Position) syntax.Position {
	pos.Line, pos.Col = 0, 0
	return pos
}

// maxParses bounds the parses whose chunk is known exactly.
const maxParses = 4096

// maxWrapperCache bounds the number of compiled function wrappers kept.
const maxWrapperCache = 1024

// outName is the hidden global that receives an expression's value.
const outName = "__pxsh_out"

// NewNamespace returns an empty namespace whose predeclared names are
// builtins (kept by Clear). Starlark's universal builtins are always
// available.
func NewNamespace(builtins starlark.StringDict) *Namespace {
	ns := &Namespace{
		builtins:  make(starlark.StringDict, len(builtins)),
		env:       make(starlark.StringDict, len(builtins)),
		user:      map[string]bool{},
		std:       Modules(),
		sources:   map[string][]*chunkSource{},
		byParse:   map[syntax.Position]*chunkSource{},
		progs:     map[string]*starlark.Program{},
		fast:      map[string]*fastExpr{},
		modSrc:    map[string]string{},
		modCache:  map[string]*moduleEntry{},
		native:    map[string]starlark.StringDict{},
		lateReads: map[string]bool{},
		exporting: map[*starlark.Function]bool{},
	}
	for k, v := range builtins {
		ns.builtins[k] = v
		ns.env[k] = v
	}
	ns.sync = ns.newSync()
	ns.env[syncName] = ns.sync
	return ns
}

// isPredeclared is the resolver's predicate: a name not bound in the
// statement itself is looked up at run time in the namespace, unless it is
// a universal builtin that the namespace does not shadow.
func (ns *Namespace) isPredeclared(name string) bool {
	return ns.env.Has(name) || !starlark.Universe.Has(name)
}

// Get returns the value bound to name (a user global or a builtin).
func (ns *Namespace) Get(name string) (starlark.Value, bool) {
	v, ok := ns.env[name]
	return v, ok
}

// Set binds name to v as a user global.
func (ns *Namespace) Set(name string, v starlark.Value) {
	ns.env[name] = v
	ns.user[name] = true
}

// Clear removes every user global and restores the builtins. Pushed
// modules are kept (see ClearModules).
func (ns *Namespace) Clear() {
	for k := range ns.user {
		delete(ns.env, k)
	}
	ns.user = map[string]bool{}
	for k, v := range ns.builtins {
		ns.env[k] = v
	}
	ns.env[syncName] = ns.sync
}

// Globals returns a new dict of the user globals (builtins excluded).
func (ns *Namespace) Globals() starlark.StringDict {
	d := make(starlark.StringDict, len(ns.user))
	for k := range ns.user {
		if v, ok := ns.env[k]; ok {
			d[k] = v
		}
	}
	return d
}

// Exec runs a chunk of code named filename in the namespace. When
// wantValue is set and the last statement is an expression, Exec returns
// its value; otherwise it returns nil. Top-level "@expr" lines before a def
// apply decorators (bottom-up) right after the def. Errors are
// *syntax.Error, resolve.ErrorList or *starlark.EvalError (with positions
// in filename), or errors of the thread's Load hook.
func (ns *Namespace) Exec(thread *starlark.Thread, filename, src string, wantValue bool) (starlark.Value, error) {
	clean, decs, err := extractDecorators(filename, src)
	if err != nil {
		return nil, err
	}
	opts := FileOptions()
	f, err := opts.Parse(filename, clean, 0)
	if err != nil {
		return nil, err
	}
	if err := applyNestedDecorators(filename, f.Stmts, decs); err != nil {
		return nil, err
	}
	ns.registerSource(filename, clean, f)
	for i, stmt := range f.Stmts {
		if wantValue && i == len(f.Stmts)-1 {
			if es, ok := stmt.(*syntax.ExprStmt); ok {
				return ns.evalExpr(thread, filename, es.X)
			}
		}
		stmts, late := ns.prepareStmt(stmt)
		sub := &syntax.File{Path: filename, Stmts: stmts, Options: opts}
		if err := ns.run(thread, sub, late); err != nil {
			return nil, err
		}
		if def, ok := stmt.(*syntax.DefStmt); ok {
			ds := decs[int(def.Def.Line)]
			for j := len(ds) - 1; j >= 0; j-- {
				if err := ns.execSource(thread, filename, decoratorSource(ds[j], def.Name.Name)); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, nil
}

// execSource compiles and runs a generated source.
func (ns *Namespace) execSource(thread *starlark.Thread, filename, src string) error {
	f, err := FileOptions().Parse(filename, src, 0)
	if err != nil {
		return err
	}
	return ns.run(thread, f, nil)
}

// run resolves, compiles and runs a file whose statements come from a
// parsed chunk (late: names its functions read from the namespace, even
// universal ones), then merges its globals into the namespace (even after an
// error, like a REPL).
func (ns *Namespace) run(thread *starlark.Thread, f *syntax.File, late map[string]bool) error {
	isPre := ns.isPredeclared
	if len(late) > 0 {
		isPre = func(name string) bool { return late[name] || ns.isPredeclared(name) }
	}
	prog, err := starlark.FileProgram(f, isPre)
	if err != nil {
		return FixError(err)
	}
	collectLateReads(f, ns.lateReads)
	g, err := prog.Init(thread, ns.env)
	for k, v := range g {
		ns.Set(globalName(k), v)
	}
	return FixError(err)
}

// evalExpr evaluates an expression of a parsed chunk.
func (ns *Namespace) evalExpr(thread *starlark.Thread, filename string, x syntax.Expr) (starlark.Value, error) {
	start := syntax.Start(x)
	stmt := &syntax.AssignStmt{OpPos: start, Op: syntax.EQ, LHS: &syntax.Ident{NamePos: start, Name: outName}, RHS: x}
	f := &syntax.File{Path: filename, Stmts: []syntax.Stmt{stmt}, Options: FileOptions()}
	prog, err := starlark.FileProgram(f, ns.isPredeclared)
	if err != nil {
		return nil, FixError(err)
	}
	collectLateReads(f, ns.lateReads)
	g, err := prog.Init(thread, ns.env)
	if err != nil {
		return nil, FixError(err)
	}
	v := g[outName]
	if v == nil {
		v = starlark.None
	}
	return v, nil
}

// Eval evaluates an expression in the namespace (as pull and Reference do).
// A missing name is an error "name 'x' is not defined".
func (ns *Namespace) Eval(thread *starlark.Thread, expr string) (starlark.Value, error) {
	x, err := FileOptions().ParseExpr("<eval>", expr, 0)
	if err != nil {
		return nil, err
	}
	return ns.evalExpr(thread, "<eval>", x)
}

// registerSource keeps the text of a chunk that f, a parse of it, was
// compiled from, so that ExportFunction can recover the functions it
// defines.
func (ns *Namespace) registerSource(filename, src string, f *syntax.File) {
	if !strings.Contains(src, "def") && !strings.Contains(src, "lambda") {
		return
	}
	c := ns.chunk(filename, src)
	if f == nil || len(f.Stmts) == 0 {
		return
	}
	start, _ := f.Stmts[0].Span()
	k := parseKey(start)
	if _, ok := ns.byParse[k]; !ok {
		if len(ns.parses) < maxParses {
			ns.parses = append(ns.parses, k)
		} else {
			delete(ns.byParse, ns.parses[ns.parseNext])
			ns.parses[ns.parseNext] = k
			ns.parseNext = (ns.parseNext + 1) % maxParses
		}
	}
	ns.byParse[k] = c
}

// chunk returns the kept chunk of filename with text src, adding it.
func (ns *Namespace) chunk(filename, src string) *chunkSource {
	list := ns.sources[filename]
	for _, c := range list {
		if c.src == src {
			return c
		}
	}
	c := &chunkSource{filename: filename, src: src}
	ns.sources[filename] = append(list, c)
	return c
}

// SetNativeModule makes load(name, ...) give the members of a module
// implemented by Go code (an embedding program's, or a test's). It takes
// precedence over pushed modules and is kept by Clear and ClearModules.
func (ns *Namespace) SetNativeModule(name string, members starlark.StringDict) {
	ns.native[name] = members
}

// SetLimits sets the decoding limits used by DecodeOptions and by
// BuildFunction for the values a function carries.
func (ns *Namespace) SetLimits(l protocol.Limits) { ns.limits = l }

// EncodeOptions returns codec options that export functions of this
// namespace.
func (ns *Namespace) EncodeOptions() *EncodeOptions {
	return &EncodeOptions{ExportFunction: ns.ExportFunction, ExportBuiltin: ns.ExportBuiltin}
}

// DecodeOptions returns codec options that rebuild received functions in
// this namespace on thread and evaluate received References with Eval (as
// an engine does; a client should set Reference to nil). The caller may
// set Limits.
func (ns *Namespace) DecodeOptions(thread *starlark.Thread) *DecodeOptions {
	return &DecodeOptions{
		Limits:        ns.limits,
		BuildFunction: func(f *protocol.Function) (starlark.Value, error) { return ns.BuildFunction(thread, f) },
		Reference:     func(expr string) (starlark.Value, error) { return ns.Eval(thread, expr) },
	}
}

var (
	uninitRE = regexp.MustCompile(`internal error: predeclared variable (\w+) is uninitialized`)
	hiddenRE = regexp.MustCompile(hiddenPrefix + `(\w+)`)
)

// FixError rewrites Starlark's message about a missing global
// ("predeclared variable x is uninitialized", from late binding) into
// Python's "name 'x' is not defined".
func FixError(err error) error {
	if err == nil {
		return nil
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		ee.Msg = uninitRE.ReplaceAllString(ee.Msg, "name '$1' is not defined")
		ee.Msg = hiddenRE.ReplaceAllString(ee.Msg, "$1")
		return err
	}
	if strings.Contains(err.Error(), "predeclared variable") {
		return fmt.Errorf("%s", uninitRE.ReplaceAllString(err.Error(), "name '$1' is not defined"))
	}
	return err
}
