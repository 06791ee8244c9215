package clientlib

// This file holds helpers that convert Starlark arguments (timeouts,
// keyword flags, sequences) and build method values.

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pxsh/pxsh/protocol"
	"go.starlark.net/starlark"
)

// attrNames returns names and the keys of the method tables, sorted.
func attrNames(names []string, tables ...map[string]builtinFunc) []string {
	for _, t := range tables {
		names = slices.AppendSeq(names, maps.Keys(t))
	}
	slices.Sort(names)
	return names
}

func protocolError(name, msg string) protocol.RemoteError {
	return protocol.RemoteError{Name: name, Message: msg, Engine: -1}
}

// seconds converts a Starlark number (or None) to a duration; ok is false
// for None.
func seconds(v starlark.Value) (time.Duration, bool, error) {
	switch x := v.(type) {
	case nil, starlark.NoneType:
		return 0, false, nil
	case starlark.Int:
		n, _ := x.Int64()
		return time.Duration(n) * time.Second, true, nil
	case starlark.Float:
		return time.Duration(float64(x) * float64(time.Second)), true, nil
	}
	return 0, false, &namedError{"TypeError", "timeout must be a number or None, got " + v.Type()}
}

// unixFloat converts unix nanoseconds to float seconds (0 → None).
func unixFloat(ns int64) starlark.Value {
	if ns == 0 {
		return starlark.None
	}
	return starlark.Float(float64(ns) / 1e9)
}

// builtinAttr returns a method bound to recv, for Attr implementations.
func method(recv starlark.Value, name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
	return starlark.NewBuiltin(name, fn).BindReceiver(recv)
}

func intList(ids []int) *starlark.List {
	vs := make([]starlark.Value, len(ids))
	for i, id := range ids {
		vs[i] = starlark.MakeInt(id)
	}
	return starlark.NewList(vs)
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// seqValues returns the elements of any iterable (a string gives its
// characters).
func seqValues(v starlark.Value, what string) ([]starlark.Value, error) {
	switch x := v.(type) {
	case starlark.String:
		var out []starlark.Value
		for _, r := range string(x) {
			out = append(out, starlark.String(string(r)))
		}
		return out, nil
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = x.Index(i)
		}
		return out, nil
	case starlark.Tuple:
		return append([]starlark.Value(nil), x...), nil
	case starlark.Iterable:
		var out []starlark.Value
		if s, ok := v.(starlark.Sequence); ok {
			out = make([]starlark.Value, 0, s.Len())
		}
		it := x.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			out = append(out, e)
		}
		return out, nil
	}
	return nil, &namedError{"TypeError", fmt.Sprintf("%s: %s is not iterable", what, v.Type())}
}

// popKw removes keyword name from kwargs and returns its value (nil when
// absent).
func popKw(kwargs []starlark.Tuple, name string) (starlark.Value, []starlark.Tuple) {
	for i, kv := range kwargs {
		if string(kv[0].(starlark.String)) == name {
			rest := append(append([]starlark.Tuple(nil), kwargs[:i]...), kwargs[i+1:]...)
			return kv[1], rest
		}
	}
	return nil, kwargs
}

func boolKw(v starlark.Value, name string) (bool, error) {
	switch x := v.(type) {
	case nil, starlark.NoneType:
		return false, nil
	case starlark.Bool:
		return bool(x), nil
	}
	return false, &namedError{"TypeError", fmt.Sprintf("%s must be a bool, not %s", name, v.Type())}
}
