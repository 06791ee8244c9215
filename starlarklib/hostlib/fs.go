package hostlib

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// MaxRead bounds the size of a file fs.read_text and fs.read_bytes read
// (256 MiB, the default frame limit).
const MaxRead = 256 << 20

// tree is a directory tree fs works in: an *os.Root (confined: neither
// ".." nor symlinks leave it) or the whole file system.
type tree interface {
	Open(name string) (*os.File, error)
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	Stat(name string) (os.FileInfo, error)
	Lstat(name string) (os.FileInfo, error)
	Mkdir(name string, perm os.FileMode) error
	MkdirAll(name string, perm os.FileMode) error
	Remove(name string) error
	RemoveAll(name string) error
	FS() iofs.FS
	Close() error
}

// anyTree is the whole file system; names are relative to "/".
type anyTree struct{}

func (anyTree) abs(n string) string               { return "/" + n }
func (t anyTree) Open(n string) (*os.File, error) { return os.Open(t.abs(n)) }
func (t anyTree) OpenFile(n string, f int, p os.FileMode) (*os.File, error) {
	return os.OpenFile(t.abs(n), f, p)
}
func (t anyTree) Stat(n string) (os.FileInfo, error)     { return os.Stat(t.abs(n)) }
func (t anyTree) Lstat(n string) (os.FileInfo, error)    { return os.Lstat(t.abs(n)) }
func (t anyTree) Mkdir(n string, p os.FileMode) error    { return os.Mkdir(t.abs(n), p) }
func (t anyTree) MkdirAll(n string, p os.FileMode) error { return os.MkdirAll(t.abs(n), p) }
func (t anyTree) Remove(n string) error                  { return os.Remove(t.abs(n)) }
func (t anyTree) RemoveAll(n string) error               { return os.RemoveAll(t.abs(n)) }
func (anyTree) FS() iofs.FS                              { return os.DirFS("/") }
func (anyTree) Close() error                             { return nil }

// loc is a path resolved against the grant: the tree that holds it, its
// name inside the tree ("." for the tree's top), and the directory that
// tree is (to turn names back into paths).
type loc struct {
	t    tree
	name string
	top  string
}

// open resolves p (absolute, or relative to the working directory; ".."
// is applied lexically) to a tree, or fails with a PermissionError when p
// is outside every allowed root.
func (h *host) open(op, p string) (*loc, error) {
	g := h.cfg.Grant
	if !g.AnyPath && len(g.Roots) == 0 {
		return nil, h.denied("fs", "fs=/DIR")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("fs.%s: %w", op, err)
	}
	if g.AnyPath {
		return &loc{t: anyTree{}, name: relName("/", abs), top: "/"}, nil
	}
	best := ""
	for _, r := range g.Roots {
		if within(r, abs) && len(r) > len(best) {
			best = r
		}
	}
	if best == "" {
		return nil, &PermissionError{Msg: fmt.Sprintf("fs.%s: %s is outside the allowed roots %s of %s (%s)",
			op, p, strings.Join(g.Roots, ":"), h.cfg.Place, fmt.Sprintf(h.cfg.Hint, "fs=DIR"))}
	}
	r, err := os.OpenRoot(best)
	if err != nil {
		return nil, fmt.Errorf("fs.%s: open root: %w", op, err)
	}
	return &loc{t: r, name: relName(best, abs), top: best}, nil
}

// within reports whether the clean absolute path p is dir or below it.
func within(dir, p string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// relName returns p's name under dir for a tree ("." for dir itself).
func relName(dir, p string) string {
	if p == dir {
		return "."
	}
	return strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
}

func (h *host) fsModule() *starlarkstruct.Module {
	m := starlark.StringDict{}
	add := func(name string, f func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) {
		m[name] = starlark.NewBuiltin("fs."+name, f)
	}
	add("read_text", h.fsRead(false))
	add("read_bytes", h.fsRead(true))
	add("write_text", h.fsWrite(false))
	add("write_bytes", h.fsWrite(true))
	add("list", h.fsList)
	add("glob", h.fsGlob)
	add("stat", h.fsStat)
	add("exists", h.fsExists)
	add("mkdir", h.fsMkdir)
	add("remove", h.fsRemove)
	return &starlarkstruct.Module{Name: "fs", Members: m}
}

// openFile opens p for reading under an allowed root; the file stays
// usable after its root is closed.
func (h *host) openFile(b *starlark.Builtin, p string) (*os.File, error) {
	l, err := h.open(opName(b), p)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	f, err := l.t.Open(l.name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return f, nil
}

// opName is a builtin's name without "fs.".
func opName(b *starlark.Builtin) string { return strings.TrimPrefix(b.Name(), "fs.") }

func (h *host) fsRead(binary bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var p string
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p); err != nil {
			return nil, err
		}
		f, err := h.openFile(b, p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, MaxRead+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if len(data) > MaxRead {
			return nil, fmt.Errorf("%s: %s is larger than %d bytes", b.Name(), p, MaxRead)
		}
		if binary {
			return starlark.Bytes(data), nil
		}
		return starlark.String(data), nil
	}
}

func (h *host) fsWrite(binary bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var p string
		var data starlark.Value
		var appendMode bool
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p, "data", &data, "append?", &appendMode); err != nil {
			return nil, err
		}
		var s string
		switch v := data.(type) {
		case starlark.String:
			if binary {
				return nil, fmt.Errorf("%s: data: got string, want bytes", b.Name())
			}
			s = string(v)
		case starlark.Bytes:
			if !binary {
				return nil, fmt.Errorf("%s: data: got bytes, want string", b.Name())
			}
			s = string(v)
		default:
			return nil, fmt.Errorf("%s: data: got %s, want string or bytes", b.Name(), data.Type())
		}
		l, err := h.open(opName(b), p)
		if err != nil {
			return nil, err
		}
		defer l.t.Close()
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if appendMode {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := l.t.OpenFile(l.name, flag, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if _, err := io.WriteString(f, s); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return starlark.None, nil
	}
}

func (h *host) fsList(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p := "."
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path?", &p); err != nil {
		return nil, err
	}
	f, err := h.openFile(b, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	slices.Sort(names)
	return stringList(names), nil
}

func stringList(ss []string) *starlark.List {
	out := make([]starlark.Value, len(ss))
	for i, s := range ss {
		out[i] = starlark.String(s)
	}
	return starlark.NewList(out)
}

// fsGlob implements fs.glob(pattern): the matches, sorted, as absolute
// paths for an absolute pattern, else relative to the working directory.
// The pattern's directory part before the first wildcard must lie in one
// allowed root.
func (h *host) fsGlob(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern); err != nil {
		return nil, err
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	abs, err := filepath.Abs(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	fixed := abs
	if i := strings.IndexAny(abs, `*?[\`); i >= 0 {
		fixed = filepath.Dir(abs[:i+1])
	}
	l, err := h.open(opName(b), fixed)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	rel := relName(l.top, abs)
	matches, err := iofs.Glob(l.t.FS(), rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	wd, _ := os.Getwd()
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		p := path.Join(l.top, m)
		if !filepath.IsAbs(pattern) && wd != "" {
			if r, err := filepath.Rel(wd, p); err == nil {
				p = r
			}
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return stringList(out), nil
}

func (h *host) fsStat(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	l, err := h.open(opName(b), p)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	fi, err := l.t.Stat(l.name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"name":    starlark.String(fi.Name()),
		"size":    starlark.MakeInt64(fi.Size()),
		"mode":    starlark.MakeInt(int(fi.Mode().Perm())),
		"is_dir":  starlark.Bool(fi.IsDir()),
		"is_file": starlark.Bool(fi.Mode().IsRegular()),
		"mtime":   starlark.Float(float64(fi.ModTime().UnixNano()) / 1e9),
	}), nil
}

func (h *host) fsExists(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	l, err := h.open(opName(b), p)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	_, err = l.t.Stat(l.name)
	switch {
	case err == nil:
		return starlark.True, nil
	case errors.Is(err, iofs.ErrNotExist):
		return starlark.False, nil
	}
	return nil, fmt.Errorf("%s: %w", b.Name(), err)
}

func (h *host) fsMkdir(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	var parents, existOK bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p, "parents?", &parents, "exist_ok?", &existOK); err != nil {
		return nil, err
	}
	l, err := h.open(opName(b), p)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	if parents {
		err = l.t.MkdirAll(l.name, 0o755)
	} else {
		err = l.t.Mkdir(l.name, 0o755)
	}
	if errors.Is(err, iofs.ErrExist) && existOK {
		if fi, serr := l.t.Stat(l.name); serr == nil && fi.IsDir() {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.None, nil
}

func (h *host) fsRemove(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	var recursive bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &p, "recursive?", &recursive); err != nil {
		return nil, err
	}
	l, err := h.open(opName(b), p)
	if err != nil {
		return nil, err
	}
	defer l.t.Close()
	if l.name == "." && !h.cfg.Grant.AnyPath {
		return nil, &PermissionError{Msg: fmt.Sprintf("%s: %s is an allowed root: it cannot be removed", b.Name(), p)}
	}
	if recursive {
		err = l.t.RemoveAll(l.name)
	} else {
		err = l.t.Remove(l.name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.None, nil
}
