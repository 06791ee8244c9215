// Command specbin is pxsh's shell program (pxsh run FILE, pxsh -c CODE and
// the shell, as shell.Main runs them) with the host values and modules
// that go.starlark.net's spec tests expect: package spectest runs their
// chunks in it. $PXSH_SPEC_STARLARK_DIR names go.starlark.net's directory
// (default: found with go list). assert.star's failures print as lines
// "@@SPEC-ERROR message".
package main

import (
	"context"
	"fmt"
	"os"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/internal/spectest"
	"github.com/pxsh/pxsh/shell"
)

func main() {
	dir := os.Getenv("PXSH_SPEC_STARLARK_DIR")
	if dir == "" {
		var err error
		if dir, err = spectest.StarlarkDir(); err != nil {
			fmt.Fprintln(os.Stderr, "specbin:", err)
			os.Exit(2)
		}
	}
	assert, err := spectest.LoadAssert(dir, func(th *starlark.Thread, msg string) {
		if th.Print != nil {
			th.Print(th, "@@SPEC-ERROR "+msg)
			return
		}
		fmt.Println("@@SPEC-ERROR " + msg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "specbin:", err)
		os.Exit(2)
	}
	os.Exit(shell.Main(context.Background(), os.Args[1:], shell.Config{
		Builtins: spectest.HostValues(),
		Modules:  spectest.Modules(assert),
		// The chunks need no cluster: the shell does not start one.
		NoConnect: true,
	}))
}
