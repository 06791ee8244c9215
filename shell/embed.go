package shell

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/starlarklib"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// This file is the embedding API for front ends that are not a terminal
// (the Jupyter kernel): start the session, run a cell, classify input,
// describe errors. Output goes to Config.Stdout and Config.Stderr as the
// cell runs.

// Start connects the session to its cluster (starting a private one when
// needed), binds rc and activates rc[:] for the magics, as the
// interactive shell does at start-up.
func (s *Shell) Start(ctx context.Context) error {
	s.setContext(ctx)
	defer s.setContext(context.Background())
	return s.startup(ctx)
}

// RunCell runs a notebook cell: a cell magic (%%px ...) with its body, or
// Starlark in which lines starting with % at the left margin are line
// magics; with %autopx on, the Starlark goes to the engines. It returns
// the value of the cell's last expression statement (nil if none) and
// keeps it in _. Cancelling ctx interrupts the cell: the Starlark thread
// stops and the tasks it submitted are cancelled on the engines.
func (s *Shell) RunCell(ctx context.Context, name, code string) (starlark.Value, error) {
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	thread := s.newThread()
	s.thread = thread
	s.setContext(ictx)
	defer s.setContext(context.Background())
	start := time.Now()
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			thread.Cancel("KeyboardInterrupt")
			s.cancelOutstanding(start)
		case <-done:
		}
	}()
	v, err := s.runCell(ictx, thread, name, code)
	close(done)
	<-watcherDone
	if ctx.Err() != nil {
		s.cancelOutstanding(start)
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if v != nil && v != starlark.None {
		s.ns.Set("_", v)
	}
	return v, nil
}

// runCell splits a cell into magic lines and Starlark chunks and runs
// them in order.
func (s *Shell) runCell(ctx context.Context, thread *starlark.Thread, name, code string) (starlark.Value, error) {
	if strings.HasPrefix(strings.TrimSpace(code), "%%") {
		return nil, s.magic(ctx, thread, strings.TrimSpace(code))
	}
	parts := splitCell(code)
	var last starlark.Value
	for i, p := range parts {
		last = nil
		if p.magic {
			if err := s.magic(ctx, thread, p.code); err != nil {
				return nil, err
			}
			continue
		}
		if pv := s.px.autopx; pv != nil {
			if err := s.pxRun(ctx, thread, pv, p.code, pxOpts{}); err != nil {
				return nil, err
			}
			continue
		}
		// Blank lines in front keep the cell's line numbers.
		src := strings.Repeat("\n", p.line) + p.code
		v, err := s.ns.Exec(thread, name, src, i == len(parts)-1)
		if err != nil {
			return nil, err
		}
		last = v
	}
	return last, nil
}

// cellPart is a line magic or a run of Starlark lines starting at line
// (0-based) of its cell.
type cellPart struct {
	magic bool
	line  int
	code  string
}

// splitCell cuts a cell at its line magics (lines that start with %).
// Parts of blank lines and comments only are dropped.
func splitCell(code string) []cellPart {
	var parts []cellPart
	var cur []string
	curLine := 0
	flush := func() {
		text := strings.Join(cur, "\n")
		if hasCode(text) {
			parts = append(parts, cellPart{line: curLine, code: text})
		}
		cur = nil
	}
	for i, l := range strings.Split(code, "\n") {
		if strings.HasPrefix(l, "%") {
			flush()
			parts = append(parts, cellPart{magic: true, line: i, code: strings.TrimSpace(l)})
			curLine = i + 1
			continue
		}
		if cur == nil {
			curLine = i
		}
		cur = append(cur, l)
	}
	flush()
	return parts
}

// hasCode reports whether text has a line that is not blank or a comment.
func hasCode(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// IsComplete classifies input as a console would before running it:
// "complete", "incomplete" (more lines are needed: an open bracket or
// string, a block not yet ended by a blank line, a cell magic not yet
// ended by a blank line) or "invalid". For "incomplete" it also returns
// the indentation of the next line.
func IsComplete(code string) (status, indent string) {
	trimmed := strings.TrimSpace(code)
	if trimmed == "" {
		return "complete", ""
	}
	lines := strings.Split(strings.TrimRight(code, " \t"), "\n")
	lastLine := lines[len(lines)-1]
	endsBlank := len(lines) > 1 && strings.TrimSpace(lastLine) == ""
	if strings.HasPrefix(trimmed, "%%") {
		if endsBlank {
			return "complete", ""
		}
		return "incomplete", ""
	}
	var body []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "%") {
			body = append(body, l)
		}
	}
	src := strings.Join(body, "\n")
	if !hasCode(src) {
		return "complete", ""
	}
	// The last line that is not blank decides the next line's indent.
	lastCode := ""
	for _, l := range body {
		if strings.TrimSpace(l) != "" {
			lastCode = l
		}
	}
	next := leadingSpace(lastCode)
	if strings.HasSuffix(strings.TrimSpace(lastCode), ":") {
		next += "    "
	}
	_, err := parseCell(src)
	if err != nil {
		if atEOF(err) {
			return "incomplete", next
		}
		return "invalid", ""
	}
	if !endsBlank && (next != "" || strings.HasSuffix(strings.TrimSpace(lastCode), ":")) {
		// Inside a block: a blank line ends it, as in the shell.
		return "incomplete", next
	}
	return "complete", ""
}

func leadingSpace(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

// atEOF reports whether a parse error is at the end of the input (the
// input stops inside a bracket, string or block).
func atEOF(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "end of file") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "unexpected end of") || strings.Contains(msg, "unfinished")
}

// ErrorParts describes an error as a Jupyter error message does: the
// exception name, its value and the traceback lines (for a remote error,
// the engine's traceback).
func ErrorParts(err error) (ename, evalue string, traceback []string) {
	var ue *UsageError
	var ad *alreadyDisplayed
	switch {
	case errors.Is(err, context.Canceled):
		return "KeyboardInterrupt", "", []string{"KeyboardInterrupt"}
	case errors.As(err, &ue):
		return "UsageError", ue.Msg, []string{err.Error()}
	case errors.As(err, &ad):
		return "AlreadyDisplayedError", ad.Error(), []string{ad.Error()}
	}
	report := strings.TrimRight(errorReport(err, false), "\n")
	ename, evalue = splitErrorName(err)
	return ename, evalue, strings.Split(report, "\n")
}

// splitErrorName returns an error's exception name and message: a
// remote error's class, "CompositeError", "SyntaxError", the name of a
// "TimeoutError: ..." message, else "Error" as Starlark says.
func splitErrorName(err error) (string, string) {
	var ce *client.CompositeError
	var re *client.RemoteError
	var ee *starlark.EvalError
	var se syntax.Error
	switch {
	case errors.As(err, &se):
		return "SyntaxError", se.Error()
	case errors.As(err, &ce):
		msg, _, _ := strings.Cut(ce.Error(), "\n")
		return "CompositeError", msg
	case errors.As(err, &re):
		return re.Name, re.Message
	}
	msg := err.Error()
	if errors.As(err, &ee) {
		msg = ee.Msg
	}
	if name, rest, ok := strings.Cut(msg, ": "); ok && strings.HasSuffix(name, "Error") && !strings.ContainsAny(name, " \t") {
		return name, rest
	}
	return "Error", msg
}

// parseCell parses Starlark as the shell would run it (decorator lines
// blanked: they are the shell's, not Starlark's).
func parseCell(src string) (*syntax.File, error) {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "@") {
			lines[i] = ""
		}
	}
	return starlarklib.FileOptions().Parse("<cell>", strings.Join(lines, "\n"), 0)
}

// Describe returns help text for a dotted name (rc, rc.ids, len): its
// type, value, signature and docstring for a function, and its
// attributes. It reports false when the name is unknown. It reads
// attributes only; it calls nothing.
func (s *Shell) Describe(path string) (string, bool) {
	v := s.lookupPath(path)
	if v == nil {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", path, v.Type())
	switch v.(type) {
	case *starlark.Function, *starlark.Builtin, starlark.String:
	default:
		r := v.String()
		if len(r) > 400 {
			r = r[:400] + "..."
		}
		b.WriteString(r + "\n\n")
	}
	// The same text as help(x) in the shell, from docs/STARLARK.md.
	if _, ok := v.(starlark.String); ok {
		b.WriteString("str value\n")
	} else if err := s.help(&b, v); err != nil {
		fmt.Fprintf(&b, "(no help: %v)\n", err)
	}
	return b.String(), true
}

// signature renders a Starlark function's parameters.
func signature(f *starlark.Function) string {
	var ps []string
	for i := 0; i < f.NumParams(); i++ {
		name, _ := f.Param(i)
		switch {
		case f.HasVarargs() && i == f.NumParams()-1-boolInt(f.HasKwargs()):
			name = "*" + name
		case f.HasKwargs() && i == f.NumParams()-1:
			name = "**" + name
		}
		if d := f.ParamDefault(i); d != nil {
			name += "=" + d.String()
		}
		ps = append(ps, name)
	}
	return "def " + f.Name() + "(" + strings.Join(ps, ", ") + ")"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
