package starlarklib

import (
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// A Namespace compiles each top-level statement on its own: names the
// statement binds at top level are globals of the statement's module, and
// every other name is predeclared, looked up in the namespace dict when it
// is used. Three rewrites make this mean what a single Starlark module
// means:
//
//   - Inside a compound statement (for, while, if) and for augmented
//     assignments, the resolver would resolve a read that precedes the
//     statement's first binding of the name to the namespace value, forever
//     (n = n + 1 in a loop would read the value from before the loop). The
//     statement therefore starts with "x = x" for each name it binds that
//     the namespace already holds, so that every read sees the statement's
//     global, initialised from the namespace.
//   - Functions defined by earlier statements read the namespace dict, but
//     the statement's globals reach the dict only when the statement ends.
//     Inside a compound statement, every binding of a name that some
//     earlier function reads (Namespace.lateReads) is therefore followed by
//     a call of the hidden builtin syncName, which writes the value into
//     the dict (for a loop, at the start of its body), so that such
//     functions see each rebinding at once. Other bindings cost nothing.
//   - Functions defined inside the statement would read the names it
//     assigns through the statement's globals, and so miss later
//     rebindings. Those names (not names bound by def) are renamed at top
//     level (renameGlobals), so the functions read them late like any other
//     global; the renamed globals are synced as above and merged back under
//     their own names.

// syncName is the hidden builtin that writes a statement's globals into the
// namespace while the statement runs.
const syncName = "__pxsh_sync"

// newSync returns the namespace's sync builtin: __pxsh_sync(x=x, ...)
// binds each keyword in the namespace.
func (ns *Namespace) newSync() *starlark.Builtin {
	return starlark.NewBuiltin(syncName, func(_ *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		for _, kv := range kwargs {
			if k, ok := kv[0].(starlark.String); ok {
				ns.Set(string(k), kv[1])
			}
		}
		return starlark.None, nil
	})
}

// prepareStmt returns the statements to compile for one top-level
// statement: the "x = x" prefix and the statement, its late-read names
// renamed and sync calls added when it is compound; and the renamed names,
// which the compiler must take as predeclared.
func (ns *Namespace) prepareStmt(stmt syntax.Stmt) ([]syntax.Stmt, map[string]bool) {
	compound, augmented := false, false
	switch s := stmt.(type) {
	case *syntax.ForStmt, *syntax.WhileStmt, *syntax.IfStmt:
		compound = true
	case *syntax.AssignStmt:
		augmented = s.Op != syntax.EQ
	}
	bound := boundNames([]syntax.Stmt{stmt})
	renamed := ns.lateInStmt(stmt, bound)
	if !compound && !augmented && len(renamed) == 0 {
		return []syntax.Stmt{stmt}, nil
	}
	var pre []syntax.Stmt
	if compound || augmented {
		start := syntax.Start(stmt)
		for _, name := range bound {
			if ns.env.Has(name) {
				pre = append(pre, &syntax.AssignStmt{
					OpPos: start, Op: syntax.EQ,
					LHS: &syntax.Ident{NamePos: start, Name: name},
					RHS: &syntax.Ident{NamePos: start, Name: name},
				})
			}
		}
	}
	stmts := append(pre, stmt)
	if len(renamed) > 0 {
		ns.renameGlobals(stmts, renamed)
	}
	if compound {
		late := ns.lateReads
		if len(renamed) > 0 {
			late = make(map[string]bool, len(ns.lateReads)+len(renamed))
			for k := range ns.lateReads {
				late[k] = true
			}
			for k := range renamed {
				late[k] = true
			}
		}
		stmts[len(stmts)-1] = addSyncs(stmts[len(stmts)-1:], late)[0]
	}
	return stmts, renamed
}

// hiddenPrefix starts the name under which a statement keeps a global
// that its own functions read late (see renameGlobals).
const hiddenPrefix = "__pxsh_v_"

// lateInStmt returns the names that stmt binds at top level by assignment
// or loop and that functions defined in stmt use: those functions must
// read them late, from the namespace, not from the statement's globals.
// Names bound by def (or load) are left alone: a def keeps its name.
func (ns *Namespace) lateInStmt(stmt syntax.Stmt, bound []string) map[string]bool {
	if len(bound) == 0 {
		return nil
	}
	used := map[string]bool{}
	collectLateReads(stmt, used)
	if len(used) == 0 {
		return nil
	}
	fixed := map[string]bool{}
	var walk func([]syntax.Stmt)
	walk = func(stmts []syntax.Stmt) {
		for _, s := range stmts {
			switch s := s.(type) {
			case *syntax.DefStmt:
				fixed[s.Name.Name] = true
			case *syntax.LoadStmt:
				for _, id := range s.To {
					fixed[id.Name] = true
				}
			case *syntax.ForStmt:
				walk(s.Body)
			case *syntax.WhileStmt:
				walk(s.Body)
			case *syntax.IfStmt:
				walk(s.True)
				walk(s.False)
			}
		}
	}
	walk([]syntax.Stmt{stmt})
	var late map[string]bool
	for _, name := range bound {
		if used[name] && !fixed[name] {
			if late == nil {
				late = map[string]bool{}
			}
			late[name] = true
		}
	}
	return late
}

// renameGlobals renames, in stmts, the top-level occurrences (outside
// function bodies) of the globals named in late to hidden names, so that
// the uses inside function bodies no longer refer to a global of the
// statement and resolve, late, in the namespace. Scopes come from a first
// resolution of stmts; if that fails, nothing is renamed (the compiler
// reports the error).
func (ns *Namespace) renameGlobals(stmts []syntax.Stmt, late map[string]bool) {
	f := &syntax.File{Path: "<rename>", Stmts: stmts, Options: FileOptions()}
	isPre := func(name string) bool { return late[name] || ns.isPredeclared(name) }
	if err := resolve.File(f, isPre, starlark.Universe.Has); err != nil {
		return
	}
	var walk func(n syntax.Node)
	walk = func(n syntax.Node) {
		syntax.Walk(n, func(m syntax.Node) bool {
			switch m := m.(type) {
			case *syntax.DefStmt:
				for _, p := range m.Params {
					walk(p) // defaults are evaluated at top level
				}
				return false
			case *syntax.LambdaExpr:
				for _, p := range m.Params {
					walk(p)
				}
				return false
			case *syntax.Ident:
				if b, ok := m.Binding.(*resolve.Binding); ok && b.Scope == resolve.Global && late[m.Name] {
					m.Name = hiddenPrefix + m.Name
				}
			}
			return true
		})
	}
	for _, s := range stmts {
		walk(s)
	}
}

// globalName returns the namespace name of a statement's global.
func globalName(name string) string { return strings.TrimPrefix(name, hiddenPrefix) }

// boundNames returns the names that stmts bind at top level (assignment
// targets, loop variables, defs, loads), in order of first binding. Names
// bound inside functions and comprehensions are local and not included.
func boundNames(stmts []syntax.Stmt) []string {
	var names []string
	seen := map[string]bool{}
	add := func(ids []*syntax.Ident) {
		for _, id := range ids {
			if !seen[id.Name] {
				seen[id.Name] = true
				names = append(names, id.Name)
			}
		}
	}
	var walk func([]syntax.Stmt)
	walk = func(stmts []syntax.Stmt) {
		for _, s := range stmts {
			switch s := s.(type) {
			case *syntax.AssignStmt:
				add(targetIdents(s.LHS))
			case *syntax.ForStmt:
				add(targetIdents(s.Vars))
				walk(s.Body)
			case *syntax.WhileStmt:
				walk(s.Body)
			case *syntax.IfStmt:
				walk(s.True)
				walk(s.False)
			case *syntax.DefStmt:
				add([]*syntax.Ident{s.Name})
			case *syntax.LoadStmt:
				add(s.To)
			}
		}
	}
	walk(stmts)
	return names
}

// targetIdents returns the identifiers that an assignment target binds:
// x, or the identifiers of a (nested) tuple or list; index and attribute
// targets bind none.
func targetIdents(x syntax.Expr) []*syntax.Ident {
	switch x := x.(type) {
	case *syntax.Ident:
		return []*syntax.Ident{x}
	case *syntax.ParenExpr:
		return targetIdents(x.X)
	case *syntax.TupleExpr:
		return listIdents(x.List)
	case *syntax.ListExpr:
		return listIdents(x.List)
	}
	return nil
}

func listIdents(xs []syntax.Expr) []*syntax.Ident {
	var ids []*syntax.Ident
	for _, x := range xs {
		ids = append(ids, targetIdents(x)...)
	}
	return ids
}

// addSyncs returns stmts with a sync call after every statement that
// binds names of late, and at the start of every loop body whose variables
// are in late, recursively through compound statements (not into
// functions).
func addSyncs(stmts []syntax.Stmt, late map[string]bool) []syntax.Stmt {
	if len(stmts) == 0 {
		return stmts // keep nil: IfStmt.Span tests False == nil
	}
	out := make([]syntax.Stmt, 0, len(stmts))
	for _, s := range stmts {
		switch s := s.(type) {
		case *syntax.AssignStmt:
			out = append(out, s)
			if c := syncCall(syntax.Start(s), targetIdents(s.LHS), late); c != nil {
				out = append(out, c)
			}
		case *syntax.DefStmt:
			out = append(out, s)
			if c := syncCall(s.Def, []*syntax.Ident{s.Name}, late); c != nil {
				out = append(out, c)
			}
		case *syntax.ForStmt:
			body := addSyncs(s.Body, late)
			if c := syncCall(s.For, targetIdents(s.Vars), late); c != nil {
				body = append([]syntax.Stmt{c}, body...)
			}
			s.Body = body
			out = append(out, s)
		case *syntax.WhileStmt:
			s.Body = addSyncs(s.Body, late)
			out = append(out, s)
		case *syntax.IfStmt:
			s.True = addSyncs(s.True, late)
			s.False = addSyncs(s.False, late)
			out = append(out, s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// syncCall returns the statement __pxsh_sync(x=x, ...) for the ids whose
// names are in late, placed at pos, or nil when there are none.
func syncCall(pos syntax.Position, ids []*syntax.Ident, late map[string]bool) syntax.Stmt {
	call := &syntax.CallExpr{
		Fn:     &syntax.Ident{NamePos: pos, Name: syncName},
		Lparen: pos,
		Rparen: pos,
	}
	seen := map[string]bool{}
	for _, id := range ids {
		name := globalName(id.Name)
		if seen[name] || !late[name] {
			continue
		}
		seen[name] = true
		call.Args = append(call.Args, &syntax.BinaryExpr{
			X:     &syntax.Ident{NamePos: pos, Name: name},
			OpPos: pos,
			Op:    syntax.EQ,
			Y:     &syntax.Ident{NamePos: pos, Name: id.Name},
		})
	}
	if len(call.Args) == 0 {
		return nil
	}
	return &syntax.ExprStmt{X: call}
}

// collectLateReads adds to late the names used inside the functions
// (defs and lambdas) of n: the globals among them are read from the
// namespace dict when the functions run. Locals are included too, which
// only costs a few needless syncs.
func collectLateReads(n syntax.Node, late map[string]bool) {
	syntax.Walk(n, func(m syntax.Node) bool {
		switch m := m.(type) {
		case *syntax.DefStmt, *syntax.LambdaExpr:
			syntax.Walk(m, func(k syntax.Node) bool {
				if id, ok := k.(*syntax.Ident); ok {
					late[id.Name] = true
				}
				return true
			})
			return false
		}
		return true
	})
}
