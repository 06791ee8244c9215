package clientlib

// This file holds the view methods that ship local code to the engines:
// run(filename) and sync_imports(*files).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
)

// viewRun implements run(filename, targets=, block=): it runs a local
// file's code on the engines.
func viewRun(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	var filename string
	if err := starlark.UnpackArgs(b.Name(), args, kw, "filename", &filename); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ar, err := v.execute(string(src)+"\n", true, o)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ar.res.Name = "run"
	return waited(thread, ar, o.block)
}

// viewSyncImports implements sync_imports(*files, quiet=False): each local
// .star file is shipped to the engines as a module (so that load('f.star',
// ...) works there) and registered on the client too.
func viewSyncImports(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	o, kw, err := v.opts(kwargs)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	qv, kw := popKw(kw, "quiet")
	quiet, err := boolKw(qv, "quiet")
	if err != nil {
		return nil, err
	}
	if len(kw) > 0 {
		return nil, &namedError{"TypeError", fmt.Sprintf("sync_imports: unexpected keyword argument %s", kw[0][0])}
	}
	mods := map[string]string{}
	var names []string
	for _, a := range args {
		path, ok := a.(starlark.String)
		if !ok {
			return nil, &namedError{"TypeError", "sync_imports: file names must be strings, not " + a.Type()}
		}
		src, err := os.ReadFile(string(path))
		if err != nil {
			return nil, fmt.Errorf("sync_imports: %w", err)
		}
		// Check it compiles before shipping it.
		if _, err := starlarklib.FileOptions().Parse(string(path), src, 0); err != nil {
			return nil, fmt.Errorf("sync_imports: %w", err)
		}
		mods[string(path)] = string(src)
		if base := filepath.Base(string(path)); base != string(path) {
			mods[base] = string(src)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(string(path)), ".star"))
	}
	body, err := protocol.MarshalValue(mods)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	ar, err := v.rc.submit(protocol.Request{Kind: protocol.KindModules, Name: "sync_imports", Label: o.label}, body, o.targets, o.single)
	if err != nil {
		return nil, fmt.Errorf("sync_imports: %w", err)
	}
	for name, src := range mods {
		v.rc.env.NS.SetModule(name, src)
	}
	if !quiet {
		w := v.rc.env.stdout(thread)
		for _, n := range names {
			fmt.Fprintf(w, "importing %s on engine(s)\n", n)
		}
	}
	ar.res.Combine = client.CombineNone
	_, err = ar.value(thread, -1, false)
	return starlark.None, err
}
