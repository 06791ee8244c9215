package shell

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pxsh/pxsh/shell/clientlib"
	"go.starlark.net/starlark"
)

// UsageError is a magic used wrongly; it prints as "UsageError: ...".
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return "UsageError: " + e.Msg }

func usage(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// pxView is a view activated for the magics under a suffix, with the
// settings %pxconfig changes.
type pxView struct {
	view          *clientlib.DirectView
	suffix        string
	verbose       bool
	stream        bool
	groupBy       string
	progressAfter time.Duration
	last          *clientlib.AsyncResult
}

// magics holds the activated views (by suffix) and the %autopx state.
type magics struct {
	views  map[string]*pxView
	autopx *pxView
}

func newMagics() *magics { return &magics{views: map[string]*pxView{}} }

// activate serves view.activate(suffix): it (re)binds the magics with
// that suffix to v.
func (s *Shell) activate(v *clientlib.DirectView, suffix string) error {
	for _, r := range suffix {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("suffix %q: want letters, digits and underscores", suffix)
		}
	}
	s.px.views[suffix] = &pxView{view: v, suffix: suffix, stream: true, groupBy: "type", progressAfter: time.Second}
	return nil
}

// magicBases are the line magics, longest first so that %pxresult is not
// read as %px with suffix "result".
var magicBases = []string{"pxresult", "pxconfig", "autopx", "px", "result"}

// MagicNames lists the magics available now (for completion), with their
// % or %% prefix.
func (s *Shell) MagicNames() []string {
	var out []string
	for suffix := range s.px.views {
		for _, b := range magicBases {
			if b == "result" && suffix != "" {
				continue
			}
			out = append(out, "%"+b+suffix)
		}
		out = append(out, "%%px"+suffix)
	}
	out = append(out, "%lsmagic", "%timeline")
	sort.Strings(out)
	return out
}

// magic runs a line magic or a cell magic (%%px and its body).
func (s *Shell) magic(ctx context.Context, thread *starlark.Thread, code string) error {
	first, body, _ := strings.Cut(code, "\n")
	cell := strings.HasPrefix(first, "%%")
	word, rest, _ := strings.Cut(strings.TrimLeft(first, "%"), " ")
	rest = strings.TrimSpace(rest)
	if cell {
		suffix, ok := strings.CutPrefix(word, "px")
		pv := s.px.views[suffix]
		if !ok || pv == nil {
			return s.unknownMagic("%%" + word)
		}
		o, err := parsePxOpts(rest, true)
		if err != nil {
			return err
		}
		return s.pxRun(ctx, thread, pv, body, o)
	}
	switch word {
	case "lsmagic":
		s.lsmagic()
		return nil
	case "timeline":
		return s.timeline(rest)
	}
	for _, base := range magicBases {
		suffix, ok := strings.CutPrefix(word, base)
		if !ok {
			continue
		}
		pv := s.px.views[suffix]
		if pv == nil || (base == "result" && suffix != "") {
			continue
		}
		switch base {
		case "px":
			if rest == "" {
				return usage("%%px%s: missing code (e.g. %%px%s a = 5)", suffix, suffix)
			}
			return s.pxRun(ctx, thread, pv, rest, pxOpts{})
		case "pxresult", "result":
			o, err := parsePxOpts(rest, false)
			if err != nil {
				return err
			}
			if pv.last == nil {
				return usage("%%pxresult recalls last %%px result, which has not yet been used.")
			}
			return s.display(ctx, pv, pv.last, o, true)
		case "autopx":
			if s.px.autopx != nil {
				s.px.autopx = nil
				fmt.Fprintln(s.cfg.Stdout, "%autopx disabled")
			} else {
				s.px.autopx = pv
				fmt.Fprintln(s.cfg.Stdout, "%autopx enabled")
			}
			return nil
		case "pxconfig":
			o, err := parsePxOpts(rest, false)
			if err != nil {
				return err
			}
			return s.pxConfig(pv, o)
		}
	}
	if len(s.px.views) == 0 && strings.HasPrefix(word, "px") || word == "autopx" {
		return usage("no view is active for the %%px magics; activate one with rc[:].activate()")
	}
	return s.unknownMagic("%" + word)
}

func (s *Shell) unknownMagic(name string) error {
	if strings.HasPrefix(name, "%%") {
		return usage("Cell magic `%s` not found.", name)
	}
	return usage("Line magic function `%s` not found.", name)
}

// pxOpts are the options of %%px, %pxresult and %pxconfig; nil pointers
// mean "as configured".
type pxOpts struct {
	targets       *string
	block         *bool
	groupBy       string
	stream        *bool
	timeout       time.Duration
	verbose       *bool
	out           string
	local         bool
	progressAfter *time.Duration
}

// parsePxOpts parses the option line of a magic.
func parsePxOpts(line string, cell bool) (pxOpts, error) {
	var o pxOpts
	args, err := splitArgs(line)
	if err != nil {
		return o, usage("%v", err)
	}
	t, f := true, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		next := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usage("argument %s: expected one argument", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "-t", "--targets":
			v, err := next()
			if err != nil {
				return o, err
			}
			o.targets = &v
		case "-b", "--block":
			o.block = &t
		case "-a", "--noblock":
			o.block = &f
		case "--stream":
			o.stream = &t
		case "--no-stream":
			o.stream = &f
		case "--verbose":
			o.verbose = &t
		case "--no-verbose":
			o.verbose = &f
		case "-e":
			o.groupBy = "engine"
		case "-r":
			o.groupBy = "order"
		case "--group-outputs":
			v, err := next()
			if err != nil {
				return o, err
			}
			if v != "type" && v != "engine" && v != "order" {
				return o, usage("argument --group-outputs: invalid choice: '%s' (choose from 'type', 'engine', 'order')", v)
			}
			o.groupBy = v
		case "--timeout":
			v, err := next()
			if err != nil {
				return o, err
			}
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || sec <= 0 {
				return o, usage("argument --timeout: want a positive number of seconds, got %q", v)
			}
			o.timeout = time.Duration(sec * float64(time.Second))
		case "--progress-after":
			v, err := next()
			if err != nil {
				return o, err
			}
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return o, usage("argument --progress-after: want a number of seconds, got %q", v)
			}
			d := time.Duration(sec * float64(time.Second))
			if sec < 0 {
				d = -1
			}
			o.progressAfter = &d
		case "-o", "--out":
			v, err := next()
			if err != nil {
				return o, err
			}
			o.out = v
		case "--local":
			if !cell {
				return o, usage("unrecognized arguments: %s", a)
			}
			o.local = true
		default:
			return o, usage("unrecognized arguments: %s", strings.Join(args[i:], " "))
		}
	}
	return o, nil
}

// splitArgs splits an option line on blanks, honouring quotes.
func splitArgs(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("no closing quotation")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// parseTargets resolves a target string as ipyparallel does: a slice of
// the engine ids when it contains ':', 'all', else an int (single) or a
// list of ints ("0,2", "[0, 2]").
func parseTargets(spec string, ids []int) (targets []int, single, all bool, err error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "all" || spec == "'all'" || spec == `"all"`:
		return ids, false, true, nil
	case strings.Contains(spec, ":"):
		t, err := sliceTargets(spec, ids)
		return t, false, false, err
	}
	bracket := strings.HasPrefix(spec, "[") || strings.HasPrefix(spec, "(")
	inner := strings.Trim(spec, "[]() ")
	known := map[int]bool{}
	for _, id := range ids {
		known[id] = true
	}
	for _, part := range strings.Split(inner, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false, false, usage("invalid targets %q: want ints, a list or a slice", spec)
		}
		if n < 0 && -n <= len(ids) {
			n = ids[len(ids)+n]
		}
		if !known[n] {
			return nil, false, false, usage("invalid targets %q: engine %d is not registered (ids: %v)", spec, n, ids)
		}
		targets = append(targets, n)
	}
	if len(targets) == 0 {
		return nil, false, false, usage("invalid targets %q: no engines", spec)
	}
	single = len(targets) == 1 && !bracket && !strings.Contains(inner, ",")
	return targets, single, false, nil
}

// sliceTargets applies a Python slice "start:stop:step" to ids.
func sliceTargets(spec string, ids []int) ([]int, error) {
	parts := strings.Split(strings.Trim(spec, "[] "), ":")
	if len(parts) > 3 {
		return nil, usage("invalid targets slice %q", spec)
	}
	vals := make([]*int, 3)
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, usage("invalid targets slice %q", spec)
		}
		vals[i] = &n
	}
	n := len(ids)
	step := 1
	if vals[2] != nil {
		step = *vals[2]
	}
	if step == 0 {
		return nil, usage("invalid targets slice %q: step cannot be zero", spec)
	}
	norm := func(p *int, def int) int {
		if p == nil {
			return def
		}
		x := *p
		if x < 0 {
			x += n
		}
		lo, hi := 0, n
		if step < 0 {
			lo, hi = -1, n-1
		}
		return max(lo, min(x, hi))
	}
	var out []int
	if step > 0 {
		for i := norm(vals[0], 0); i < norm(vals[1], n); i += step {
			out = append(out, ids[i])
		}
	} else {
		for i := norm(vals[0], n-1); i > norm(vals[1], -1); i += step {
			out = append(out, ids[i])
		}
	}
	return out, nil
}

// pxRun runs code on the engines as %px and %%px do.
func (s *Shell) pxRun(ctx context.Context, thread *starlark.Thread, pv *pxView, code string, o pxOpts) error {
	targets, single := pv.view.MagicTargets()
	desc := targetsDesc(pv.view)
	if o.targets != nil {
		ids := pv.view.Client().Go().Ids()
		t, sg, all, err := parseTargets(*o.targets, ids)
		if err != nil {
			return err
		}
		targets, single = t, sg
		switch {
		case all:
			desc = "all"
		case sg:
			desc = strconv.Itoa(t[0])
		default:
			desc = idsDesc(t)
		}
	}
	block := pv.view.MagicBlock()
	if o.block != nil {
		block = *o.block
	}
	verbose := pv.verbose
	if o.verbose != nil {
		verbose = *o.verbose
	}
	if verbose {
		if block {
			fmt.Fprintf(s.cfg.Stdout, "Parallel execution on engine(s): %s\n", desc)
		} else {
			fmt.Fprintf(s.cfg.Stdout, "Async parallel execution on engine(s): %s\n", desc)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("NoEnginesRegistered: This operation requires engines. Try client.wait_for_engines(n) to wait for engines to register.")
	}
	ar, err := pv.view.MagicExecute(code, targets, single, false, o.timeout)
	if err != nil {
		return err
	}
	pv.last = ar
	if block {
		s.noteBlocked(ar)
	}
	if o.out != "" {
		s.ns.Set(o.out, ar)
	}
	if o.local {
		v, err := s.ns.Exec(thread, "<%px --local>", code, true)
		if err != nil {
			return err
		}
		s.show(v)
	}
	if !block {
		s.show(ar)
		return nil
	}
	return s.display(ctx, pv, ar, o, false)
}

// pxConfig applies %pxconfig's options to the active view's defaults.
func (s *Shell) pxConfig(pv *pxView, o pxOpts) error {
	if o.targets != nil {
		t, single, all, err := parseTargets(*o.targets, pv.view.Client().Go().Ids())
		if err != nil {
			return err
		}
		var v starlark.Value
		switch {
		case all:
			v = starlark.String("all")
		case single:
			v = starlark.MakeInt(t[0])
		default:
			vs := make([]starlark.Value, len(t))
			for i, id := range t {
				vs[i] = starlark.MakeInt(id)
			}
			v = starlark.NewList(vs)
		}
		if err := pv.view.SetField("targets", v); err != nil {
			return err
		}
	}
	if o.block != nil {
		if err := pv.view.SetField("block", starlark.Bool(*o.block)); err != nil {
			return err
		}
	}
	if o.verbose != nil {
		pv.verbose = *o.verbose
	}
	if o.stream != nil {
		pv.stream = *o.stream
	}
	if o.groupBy != "" {
		pv.groupBy = o.groupBy
	}
	if o.progressAfter != nil {
		pv.progressAfter = *o.progressAfter
	}
	return nil
}

// targetsDesc describes a view's targets as ipyparallel's verbose line
// does: all, an int, or a list.
func targetsDesc(v *clientlib.DirectView) string {
	t, _ := v.Attr("targets")
	switch t := t.(type) {
	case starlark.String:
		return string(t)
	case starlark.Int:
		return t.String()
	}
	ids, _ := v.MagicTargets()
	return idsDesc(ids)
}

// idsDesc prints a list of ids, shortened past 10 as ipyparallel does.
func idsDesc(ids []int) string {
	parts := make([]string, 0, len(ids))
	for i, id := range ids {
		if len(ids) > 10 && i == 4 {
			parts = append(parts, "...")
		}
		if len(ids) > 10 && i >= 4 && i < len(ids)-4 {
			continue
		}
		parts = append(parts, strconv.Itoa(id))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
