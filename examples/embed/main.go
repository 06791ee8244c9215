// Command embed shows how a Go tool embeds the pxsh shell: it starts a
// cluster in its own process (a controller and two engines, no other
// program needed), adds a builtin of its own, and runs a pxsh session on
// its own streams. With -i it is interactive on the terminal; otherwise it
// runs a short demo session that uses the builtin and %px.
//
//	go run ./examples/embed
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pxsh/pxsh/engine"
	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/shell"
	"go.starlark.net/starlark"
)

// demo is the session run without -i.
const demo = `print(tool_name())
%px x = engine.id * 100
%px print("engine", engine.id, "has", x)
dv = rc[:]
dv.block = True
dv.apply(lambda y: x + y, 1)
`

func main() {
	interactive := flag.Bool("i", false, "run the interactive shell on the terminal")
	flag.Parse()
	var in io.Reader = strings.NewReader(demo)
	if *interactive {
		in = os.Stdin
	}
	os.Exit(run(context.Background(), in, os.Stdout, os.Stderr))
}

// run runs a shell session over in with a cluster of two in-process
// engines and returns its exit status.
func run(ctx context.Context, in io.Reader, out, errw io.Writer) int {
	sh := shell.New(shell.Config{
		Stdin: in, Stdout: out, Stderr: errw,
		Builtins: starlark.StringDict{
			"tool_name": starlark.NewBuiltin("tool_name", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
				return starlark.String("embedded in the embed example"), nil
			}),
		},
		Engines:      2,
		StartCluster: startInProcess,
		HistoryFile:  "-",
		Getenv:       func(string) string { return "" },
	})
	defer sh.Close()
	return sh.Run(ctx)
}

// startInProcess starts a controller and n engines as goroutines of this
// process; stop ends them and removes the cluster's directory.
func startInProcess(ctx context.Context, n int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "pxsh-embed-")
	if err != nil {
		return "", nil, err
	}
	h, err := hub.New(hub.Config{ProfileDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n+1)
	go func() { h.Serve(cctx); done <- struct{}{} }()
	<-h.Ready()
	conn, err := profile.Read(profile.ConnectionPath(dir, true))
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return "", nil, err
	}
	started := 1
	for i := 0; i < n; i++ {
		e, err := engine.New(engine.Config{Connection: conn, ID: i})
		if err != nil {
			cancel()
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("start engine %d: %w", i, err)
		}
		started++
		go func() { e.Serve(cctx); done <- struct{}{} }()
	}
	stop := func() {
		cancel()
		for range started {
			<-done
		}
		os.RemoveAll(dir)
	}
	return profile.ConnectionPath(dir, false), stop, nil
}
