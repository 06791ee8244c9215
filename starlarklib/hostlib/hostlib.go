// Package hostlib holds the Starlark modules that reach the host a task
// runs on: sh (run programs), fs (files under allowed roots), env (the
// environment) and host (name, CPU count). What they may do is decided by a
// Grant: engines get none unless their cluster was started with --allow;
// the user's own shell gets everything.
//
// hostlib imports starlarklib and go.starlark.net only; like starlarklib,
// it must not import engine, hub, quic, client or shell.
package hostlib

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Grant is a set of host capabilities. The zero Grant allows nothing
// beyond the host module. A Grant is a plain value, safe to copy.
type Grant struct {
	// Sh allows the sh module (running programs).
	Sh bool
	// Env allows env.get and env.names.
	Env bool
	// Roots are the directories the fs module may use (absolute,
	// cleaned); none means fs is not allowed unless AnyPath is set.
	Roots []string
	// AnyPath allows fs on every path (the user's own shell).
	AnyPath bool
}

// All is the grant of the user's own process: every capability, fs on
// any path.
var All = Grant{Sh: true, Env: true, AnyPath: true}

// ParseGrant parses an --allow value: a comma-separated list of "sh",
// "env" and "fs=ROOT[:ROOT...]" ("" grants nothing). Roots must be
// absolute directories; they are cleaned, and need not exist yet.
func ParseGrant(spec string) (Grant, error) {
	var g Grant
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		name, val, hasVal := strings.Cut(item, "=")
		switch {
		case item == "":
		case name == "sh" && !hasVal:
			g.Sh = true
		case name == "env" && !hasVal:
			g.Env = true
		case name == "fs":
			if val == "" {
				return Grant{}, fmt.Errorf("parse --allow %q: fs needs roots, e.g. fs=/scratch:/data", spec)
			}
			for _, r := range strings.Split(val, ":") {
				if !filepath.IsAbs(r) {
					return Grant{}, fmt.Errorf("parse --allow %q: fs root %q is not an absolute path", spec, r)
				}
				r = filepath.Clean(r)
				if !slices.Contains(g.Roots, r) {
					g.Roots = append(g.Roots, r)
				}
			}
		default:
			return Grant{}, fmt.Errorf("parse --allow %q: unknown capability %q (want sh, env or fs=ROOT:ROOT)", spec, item)
		}
	}
	return g, nil
}

// Caps lists the granted capabilities in --allow syntax: "sh", "env",
// "fs=/a:/b" (or "fs=*" for AnyPath).
func (g Grant) Caps() []string {
	var out []string
	if g.Sh {
		out = append(out, "sh")
	}
	if g.Env {
		out = append(out, "env")
	}
	switch {
	case g.AnyPath:
		out = append(out, "fs=*")
	case len(g.Roots) > 0:
		out = append(out, "fs="+strings.Join(g.Roots, ":"))
	}
	return out
}

// String returns the grant in --allow syntax ("" for none).
func (g Grant) String() string { return strings.Join(g.Caps(), ",") }

// Config configures the modules.
type Config struct {
	// Grant is what the modules may do.
	Grant Grant
	// Place names where code runs, in errors; "" means "this engine".
	Place string
	// Hint tells how to grant a capability; %s is replaced by the
	// capability in --allow syntax. "" means "start the cluster with
	// --allow %s".
	Hint string
	// MaxOutput bounds what sh keeps of each of stdout and stderr; 0
	// means DefaultMaxOutput.
	MaxOutput int
}

// DefaultMaxOutput is how many bytes of each output stream sh keeps by
// default (1 MiB); the rest is read and dropped.
const DefaultMaxOutput = 1 << 20

// Modules returns the predeclared names hostlib provides: sh, fs, env and
// host. Names whose capability is not granted exist but fail with a
// PermissionError saying how to grant it.
func Modules(cfg Config) starlark.StringDict {
	if cfg.Place == "" {
		cfg.Place = "this engine"
	}
	if cfg.Hint == "" {
		cfg.Hint = "start the cluster with --allow %s"
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	h := &host{cfg: cfg}
	return starlark.StringDict{
		"sh":   starlark.NewBuiltin("sh", h.sh),
		"fs":   h.fsModule(),
		"env":  h.envModule(),
		"host": hostModule(),
	}
}

// host carries the configuration the builtins share.
type host struct{ cfg Config }

// PermissionError is the error of using a capability that is not granted.
type PermissionError struct {
	Msg string
}

func (e *PermissionError) Error() string { return e.Msg }

// ErrorName returns "PermissionError", the class remote errors report.
func (e *PermissionError) ErrorName() string { return "PermissionError" }

// denied returns the PermissionError for capability what (as named to the
// user) that needs the grant spec.
func (h *host) denied(what, spec string) error {
	return &PermissionError{Msg: fmt.Sprintf("%s is not allowed on %s (%s)", what, h.cfg.Place, fmt.Sprintf(h.cfg.Hint, spec))}
}

// TimeoutError is the error of a program that ran past sh's timeout.
type TimeoutError struct{ Msg string }

func (e *TimeoutError) Error() string { return e.Msg }

// ErrorName returns "TimeoutError", the class remote errors report.
func (e *TimeoutError) ErrorName() string { return "TimeoutError" }

func hostModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "host", Members: starlark.StringDict{
		"name": starlark.NewBuiltin("host.name", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
				return nil, err
			}
			n, err := os.Hostname()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return starlark.String(n), nil
		}),
		"cpus": starlark.NewBuiltin("host.cpus", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
				return nil, err
			}
			return starlark.MakeInt(runtime.NumCPU()), nil
		}),
	}}
}

func (h *host) envModule() *starlarkstruct.Module {
	get := func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name string
		var def starlark.Value = starlark.None
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def); err != nil {
			return nil, err
		}
		if !h.cfg.Grant.Env {
			return nil, h.denied("env", "env")
		}
		if v, ok := os.LookupEnv(name); ok {
			return starlark.String(v), nil
		}
		return def, nil
	}
	names := func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		if !h.cfg.Grant.Env {
			return nil, h.denied("env", "env")
		}
		var out []starlark.Value
		env := os.Environ()
		slices.Sort(env)
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			out = append(out, starlark.String(k))
		}
		return starlark.NewList(out), nil
	}
	return &starlarkstruct.Module{Name: "env", Members: starlark.StringDict{
		"get":   starlark.NewBuiltin("env.get", get),
		"names": starlark.NewBuiltin("env.names", names),
	}}
}
