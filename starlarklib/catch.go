package starlarklib

import (
	"fmt"

	"go.starlark.net/starlark"
)

// CatchBuiltin returns catch(f, *args, **kwargs): it calls f and returns
// its value, or the error turned into a value by toValue (a RemoteError
// value, false in a boolean test) instead of stopping the program.
// Clients and engines predeclare it, each with its own error classes.
func CatchBuiltin(toValue func(error) starlark.Value) *starlark.Builtin {
	return starlark.NewBuiltin("catch", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) == 0 {
			return nil, fmt.Errorf("catch: missing function argument")
		}
		v, err := starlark.Call(thread, args[0], args[1:], kwargs)
		if err == nil {
			return v, nil
		}
		return toValue(err), nil
	})
}
