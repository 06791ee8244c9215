package starlarklib

import (
	"errors"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/protocol"
)

// errNotPredeclared is ExportBuiltin's error for a builtin the receiver
// could not name.
var errNotPredeclared = errors.New("builtin is not a predeclared name or module member")

// ExportBuiltin exports a predeclared builtin (len, or a module member
// such as sim.kernel) as the function
//
//	lambda *args, **kwargs: sim.kernel(*args, **kwargs)
//
// which the receiver rebuilds against its own predeclared names: an engine
// built with the same Go modules runs its own sim.kernel. Methods of
// values and builtins bound only to user globals cannot be exported.
func (ns *Namespace) ExportBuiltin(b *starlark.Builtin) (*protocol.Function, error) {
	path := ns.builtinPath(b)
	if path == "" {
		return nil, errNotPredeclared
	}
	return &protocol.Function{Name: "lambda", Source: "lambda *args, **kwargs: " + path + "(*args, **kwargs)"}, nil
}

// builtinPath returns the name ("len") or module path ("sim.kernel") under
// which b is predeclared, or "".
func (ns *Namespace) builtinPath(b *starlark.Builtin) string {
	if b.Receiver() != nil {
		return ""
	}
	if v, ok := starlark.Universe[b.Name()]; ok && v == starlark.Value(b) {
		return b.Name()
	}
	names := make([]string, 0, len(ns.builtins))
	for k := range ns.builtins {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic when a builtin has two names
	for _, name := range names {
		switch v := ns.builtins[name].(type) {
		case *starlark.Builtin:
			if v == b {
				return name
			}
		case *starlarkstruct.Module:
			for k, mv := range v.Members {
				if mb, ok := mv.(*starlark.Builtin); ok && mb == b && identRE.MatchString(k) {
					return name + "." + k
				}
			}
		}
	}
	return ""
}
