package starlarklib

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/protocol"
)

// ErrNoSource is wrapped by ExportFunction errors about a function whose
// source text this namespace does not know (for example one defined in a
// loaded module).
var ErrNoSource = errors.New("source not available")

const (
	wrapName      = "__pxsh_wrap"
	defaultPrefix = "__pxsh_d"
)

// ExportFunction returns the wire form of fn: its source text recovered from
// the chunks that ran in this namespace, the values of its free variables
// (encoded, functions included) and its evaluated parameter defaults, so
// that the receiver neither sees the client's locals nor re-evaluates
// default expressions. Global names used by fn are not shipped: they
// resolve in the receiver's namespace.
func (ns *Namespace) ExportFunction(fn *starlark.Function) (*protocol.Function, error) {
	name := fn.Name()
	c, node, err := ns.findFunction(fn)
	if err != nil {
		return nil, fmt.Errorf("export function %s: %w", name, err)
	}
	if ns.exporting[fn] {
		return nil, fmt.Errorf("export function %s: it refers to itself through its free variables", name)
	}
	ns.exporting[fn] = true
	defer delete(ns.exporting, fn)

	pos := fn.Position()
	out := &protocol.Function{
		Name:   name,
		Doc:    fn.Doc(),
		File:   pos.Filename(),
		Line:   int(pos.Line),
		Col:    int(pos.Col),
		Source: c.text(node, pos),
	}
	eo := ns.EncodeOptions()
	for i := 0; i < fn.NumFreeVars(); i++ {
		b, v := fn.FreeVar(i)
		if f, ok := v.(*starlark.Function); ok && f == fn && b.Name == name {
			continue // recursion: the rebuilt def binds its own name
		}
		if v == nil {
			return nil, fmt.Errorf("export function %s: free variable %s is not assigned yet", name, b.Name)
		}
		enc, err := Encode(v, eo)
		if err != nil {
			return nil, fmt.Errorf("export function %s: free variable %s: %w", name, b.Name, err)
		}
		out.Free = append(out.Free, protocol.Binding{Name: b.Name, Value: enc})
	}
	for i := 0; i < fn.NumParams(); i++ {
		d := fn.ParamDefault(i)
		if d == nil {
			continue
		}
		pname, _ := fn.Param(i)
		enc, err := Encode(d, eo)
		if err != nil {
			return nil, fmt.Errorf("export function %s: default of %s: %w", name, pname, err)
		}
		out.Defaults = append(out.Defaults, protocol.Binding{Name: pname, Value: enc})
	}
	return out, nil
}

// findFunction finds the def statement or lambda expression of fn: in
// the chunk whose parse compiled it when that is known (a chunk run
// again under the same file name with other text may define another
// function at the same place), else in the registered sources of its
// file, newest first.
func (ns *Namespace) findFunction(fn *starlark.Function) (*chunkSource, syntax.Node, error) {
	pos := fn.Position()
	if c := ns.byParse[parseKey(pos)]; c != nil {
		if n := c.find(pos, fn.Name()); n != nil {
			return c, n, nil
		}
	}
	list := ns.sources[pos.Filename()]
	for i := len(list) - 1; i >= 0; i-- {
		if n := list[i].find(pos, fn.Name()); n != nil {
			return list[i], n, nil
		}
	}
	return nil, nil, fmt.Errorf("%w for a function defined at %s", ErrNoSource, pos)
}

// text returns the source of the function node, defined at pos: a
// lambda's expression, or a def's lines dedented to its column (lines
// inside a multi-line string kept as they are). Each is made once.
func (c *chunkSource) text(node syntax.Node, pos syntax.Position) string {
	if t, ok := c.texts[node]; ok {
		return t
	}
	src := c.src
	end := maxEnd(node)
	var t string
	if _, ok := node.(*syntax.LambdaExpr); ok {
		offs := lineOffsets(src)
		t = src[offset(src, offs, pos):offset(src, offs, end)]
	} else {
		lines := strings.Split(src, "\n")
		body := append([]string(nil), lines[pos.Line-1:end.Line]...)
		cont := stringContinuationLines(node)
		for i, l := range body {
			if !cont[int(pos.Line)+i] {
				body[i] = dedent(l, int(pos.Col)-1)
			}
		}
		t = strings.Join(body, "\n")
	}
	if c.texts == nil {
		c.texts = map[syntax.Node]string{}
	}
	c.texts[node] = t
	return t
}

// BuildFunction rebuilds a function received from a peer in this
// namespace: its free variables become closure cells again, its defaults
// are the shipped values, and its other global names resolve (late) in
// this namespace. Positions in tracebacks are those of the sender's file
// and lines. Compiled wrappers are cached by source.
func (ns *Namespace) BuildFunction(thread *starlark.Thread, f *protocol.Function) (starlark.Value, error) {
	if IsMapChunk(f) {
		return mapChunkBuiltin, nil
	}
	prog, err := ns.wrapper(f)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", f.Name, err)
	}
	do := ns.DecodeOptions(thread)
	args := make(starlark.Tuple, 0, len(f.Free)+len(f.Defaults))
	for _, bs := range [][]protocol.Binding{f.Free, f.Defaults} {
		for _, b := range bs {
			v, err := Decode(b.Value, do)
			if err != nil {
				return nil, fmt.Errorf("build function %s: %s: %w", f.Name, b.Name, err)
			}
			args = append(args, v)
		}
	}
	wrap, err := ns.wrapFunc(thread, prog)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", f.Name, FixError(err))
	}
	v, err := starlark.Call(thread, wrap, args, nil)
	if err != nil {
		return nil, fmt.Errorf("build function %s: %w", f.Name, FixError(err))
	}
	if fn, ok := v.(*starlark.Function); ok {
		if x := ns.fastFor(f); x != nil {
			rememberFast(fn, x)
		}
	}
	return v, nil
}

// wrapFunc returns the wrapper function prog defines, made once per
// program: its module defines nothing else, and the names its functions
// do not bind are looked up in ns.env when they run, so running the
// program again would make an equivalent function.
func (ns *Namespace) wrapFunc(thread *starlark.Thread, prog *starlark.Program) (starlark.Value, error) {
	if w, ok := ns.wraps[prog]; ok {
		return w, nil
	}
	g, err := prog.Init(thread, ns.env)
	if err != nil {
		return nil, err
	}
	if ns.wraps == nil || len(ns.wraps) >= maxWrapperCache {
		ns.wraps = map[*starlark.Program]starlark.Value{}
	}
	ns.wraps[prog] = g[wrapName]
	return g[wrapName], nil
}

// fastFor returns the fast form of f (compileFast), compiled once per
// name and source.
func (ns *Namespace) fastFor(f *protocol.Function) *fastExpr {
	if len(f.Free) > 0 || len(f.Defaults) > 0 {
		return nil
	}
	key := f.Name + "\x00" + f.Source
	x, ok := ns.fast[key]
	if !ok {
		x = compileFast(f)
		ns.fast[key] = x
	}
	return x
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkName(kind, name string) error {
	if !identRE.MatchString(name) || strings.HasPrefix(name, "__pxsh") {
		return fmt.Errorf("bad %s name %q", kind, name)
	}
	return nil
}

// wrapper returns the compiled program
//
//	def __pxsh_wrap(<free names>, __pxsh_d0, ...):
//	    <def source, defaults replaced by __pxsh_dN>
//	    return <name>
//
// (or "def __pxsh_wrap(...): return (<lambda>)" on the lambda's line),
// padded so that the function's lines are those of f.File.
func (ns *Namespace) wrapper(f *protocol.Function) (*starlark.Program, error) {
	// The wrapper depends only on these fields: a function shipped again
	// (every call of a loop) skips parsing and rewriting its source.
	in := inputKey(f)
	if prog, ok := ns.progs[in]; ok {
		return prog, nil
	}
	prog, err := ns.buildWrapper(f)
	if err == nil {
		ns.progs[in] = prog
	}
	return prog, err
}

// inputKey is the cache key of the wrapper of f, from what builds it.
func inputKey(f *protocol.Function) string {
	h := sha256.New()
	b := make([]byte, 0, 128)
	b = append(b, "in\x00"...)
	b = append(b, f.File...)
	b = append(b, 0)
	b = append(b, f.Name...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(f.Line), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(len(f.Source)), 10)
	b = append(b, 0)
	h.Write(b)
	io.WriteString(h, f.Source)
	b = b[:0]
	for _, bs := range [][]protocol.Binding{f.Free, f.Defaults} {
		b = append(b, 0)
		for _, x := range bs {
			b = append(b, x.Name...)
			b = append(b, 0)
		}
	}
	h.Write(b)
	return string(h.Sum(nil))
}

// buildWrapper parses f's source and compiles its wrapper (see wrapper).
func (ns *Namespace) buildWrapper(f *protocol.Function) (*starlark.Program, error) {
	var params []string
	for _, b := range f.Free {
		if err := checkName("free variable", b.Name); err != nil {
			return nil, err
		}
		params = append(params, b.Name)
	}
	defIdx := map[string]int{}
	for i, b := range f.Defaults {
		if err := checkName("parameter", b.Name); err != nil {
			return nil, err
		}
		defIdx[b.Name] = i
		params = append(params, fmt.Sprintf("%s%d", defaultPrefix, i))
	}
	file := f.File
	if file == "" {
		file = "<remote>"
	}
	opts := FileOptions()
	isLambda := f.Name == "lambda"
	var text string
	var fparams []syntax.Expr
	var root syntax.Node
	if isLambda {
		text = "(" + f.Source + "\n)"
		x, err := opts.ParseExpr(file, text, 0)
		if err != nil {
			return nil, err
		}
		p, ok := x.(*syntax.ParenExpr)
		var lam *syntax.LambdaExpr
		if ok {
			lam, ok = p.X.(*syntax.LambdaExpr)
		}
		if !ok {
			return nil, errors.New("source is not a lambda expression")
		}
		fparams, root = lam.Params, lam
	} else {
		if err := checkName("function", f.Name); err != nil {
			return nil, err
		}
		text = f.Source
		pf, err := opts.Parse(file, text, 0)
		if err != nil {
			return nil, err
		}
		var def *syntax.DefStmt
		if len(pf.Stmts) == 1 {
			def, _ = pf.Stmts[0].(*syntax.DefStmt)
		}
		if def == nil || def.Name.Name != f.Name {
			return nil, fmt.Errorf("source is not a single def of %s", f.Name)
		}
		fparams, root = def.Params, def
	}

	collectLateReads(root, ns.lateReads)

	// Replace the default expressions by the wrapper's parameters, keeping
	// the line structure.
	offs := lineOffsets(text)
	var b strings.Builder
	last, matched := 0, 0
	for _, p := range fparams {
		be, ok := p.(*syntax.BinaryExpr)
		if !ok || be.Op != syntax.EQ {
			continue
		}
		id, ok := be.X.(*syntax.Ident)
		if !ok {
			continue
		}
		i, ok := defIdx[id.Name]
		if !ok {
			continue
		}
		matched++
		s, e := syntax.Start(be.Y), maxEnd(be.Y)
		b.WriteString(text[last:offset(text, offs, s)])
		fmt.Fprintf(&b, "%s%d%s", defaultPrefix, i, strings.Repeat("\n", int(e.Line-s.Line)))
		last = offset(text, offs, e)
	}
	if matched != len(f.Defaults) {
		return nil, errors.New("defaults do not match the parameters")
	}
	b.WriteString(text[last:])
	text = b.String()

	var w strings.Builder
	head := "def " + wrapName + "(" + strings.Join(params, ", ") + "):"
	if isLambda {
		w.WriteString(strings.Repeat("\n", max(f.Line-1, 0)))
		w.WriteString(head + " return " + text + "\n")
	} else {
		w.WriteString(strings.Repeat("\n", max(f.Line-2, 0)))
		w.WriteString(head + "\n")
		cont := stringContinuationLines(root)
		for i, l := range strings.Split(text, "\n") {
			if l != "" && !cont[i+1] {
				w.WriteByte(' ')
			}
			w.WriteString(l)
			w.WriteByte('\n')
		}
		w.WriteString(" return " + f.Name + "\n")
	}
	src := w.String()
	sum := sha256.Sum256([]byte(file + "\x00" + src))
	key := string(sum[:])
	if prog, ok := ns.progs[key]; ok {
		return prog, nil
	}
	parsed, prog, err := starlark.SourceProgramOptions(opts, file, src, func(n string) bool { return !starlark.Universe.Has(n) })
	if err != nil {
		return nil, err
	}
	if len(ns.progs) >= maxWrapperCache {
		ns.progs = map[string]*starlark.Program{}
	}
	ns.progs[key] = prog
	ns.registerSource(file, src, parsed)
	return prog, nil
}

func samePos(a, b syntax.Position) bool { return a.Line == b.Line && a.Col == b.Col }

func before(a, b syntax.Position) bool {
	return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
}

// fixedEnd returns the end of n, correcting Span's end of index and slice
// expressions and parenthesized tuples, which is one column short.
func fixedEnd(n syntax.Node) syntax.Position {
	switch n := n.(type) {
	case *syntax.IndexExpr:
		p := n.Rbrack
		p.Col++
		return p
	case *syntax.SliceExpr:
		p := n.Rbrack
		p.Col++
		return p
	case *syntax.TupleExpr:
		if n.Lparen.IsValid() {
			p := n.Rparen
			p.Col++
			return p
		}
	}
	return syntax.End(n)
}

// maxEnd returns the true end of the text of n: the furthest corrected end
// of any node in its subtree.
func maxEnd(n syntax.Node) syntax.Position {
	end := fixedEnd(n)
	syntax.Walk(n, func(m syntax.Node) bool {
		if m == nil {
			return false
		}
		if e := fixedEnd(m); before(end, e) {
			end = e
		}
		return true
	})
	return end
}

// stringContinuationLines returns the lines (1-based, in n's file) that
// begin inside a multi-line string literal of n; their indentation is part
// of the string and must not change.
func stringContinuationLines(n syntax.Node) map[int]bool {
	var cont map[int]bool
	syntax.Walk(n, func(m syntax.Node) bool {
		if lit, ok := m.(*syntax.Literal); ok && (lit.Token == syntax.STRING || lit.Token == syntax.BYTES) {
			if k := strings.Count(lit.Raw, "\n"); k > 0 {
				if cont == nil {
					cont = map[int]bool{}
				}
				for l := int(lit.TokenPos.Line) + 1; l <= int(lit.TokenPos.Line)+k; l++ {
					cont[l] = true
				}
			}
		}
		return true
	})
	return cont
}

// lineOffsets returns the byte offset of the start of each line of src.
func lineOffsets(src string) []int {
	offs := []int{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// offset converts a position (1-based line and rune column) into a byte
// offset in src, clamped to src.
func offset(src string, offs []int, p syntax.Position) int {
	l := int(p.Line) - 1
	if l < 0 {
		return 0
	}
	if l >= len(offs) {
		return len(src)
	}
	o := offs[l]
	for c := int32(1); c < p.Col && o < len(src) && src[o] != '\n'; c++ {
		_, size := utf8.DecodeRuneInString(src[o:])
		o += size
	}
	return o
}

// dedent removes up to n leading blanks from l.
func dedent(l string, n int) string {
	i := 0
	for i < n && i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return l[i:]
}
