package shell

import (
	"bufio"
	"context"
	"fmt"

	"go.starlark.net/starlark"
)

// Interact runs the interactive shell until end of input; it returns the
// exit status.
func (s *Shell) Interact(ctx context.Context) int {
	sc := bufio.NewScanner(s.cfg.Stdin)
	n := 0
	for sc.Scan() {
		n++
		s.setContext(ctx)
		v, err := s.ns.Exec(s.thread, fmt.Sprintf("<stdin:%d>", n), sc.Text(), true)
		if err != nil {
			s.printError(err)
			continue
		}
		if v != nil && v != starlark.None {
			fmt.Fprintln(s.cfg.Stdout, v.String())
		}
	}
	return 0
}

func starlarkList(ss []string) *starlark.List {
	vs := make([]starlark.Value, len(ss))
	for i, x := range ss {
		vs[i] = starlark.String(x)
	}
	return starlark.NewList(vs)
}
