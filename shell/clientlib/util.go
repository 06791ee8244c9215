package clientlib

import (
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
