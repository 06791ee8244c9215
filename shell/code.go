package shell

import (
	"errors"
	"io"
	"strings"

	"github.com/pxsh/pxsh/starlarklib"
)

// Prompts of the interactive shell, in the Python convention.
const (
	PS1 = ">>> "
	PS2 = "... "
)

// codeReader assembles whole inputs from lines: a line magic, a cell
// magic with its body (ended by a blank line), or a Starlark statement,
// whose continuation lines the parser asks for (an open bracket or block
// continues; a blank line ends a compound statement).
type codeReader struct {
	lr      LineReader
	pending []string // lines read ahead by the parser, not yet used
}

// ReadCode returns the next input, "" for a blank line, io.EOF at end of
// input and ErrInterrupt when the user pressed Ctrl-C.
func (c *codeReader) ReadCode() (string, error) {
	first, err := c.line(PS1)
	if err != nil {
		return "", err
	}
	trimmed := strings.TrimSpace(first)
	switch {
	case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		return "", nil
	case strings.HasPrefix(trimmed, "%%"):
		lines := []string{first}
		for {
			l, err := c.line(PS2)
			if errors.Is(err, io.EOF) || (err == nil && strings.TrimSpace(l) == "") {
				break
			}
			if err != nil {
				return "", err
			}
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n"), nil
	case strings.HasPrefix(trimmed, "%"):
		return first, nil
	}
	return c.statement(first)
}

// line returns a pending line or reads one.
func (c *codeReader) line(prompt string) (string, error) {
	if len(c.pending) > 0 {
		l := c.pending[0]
		c.pending = c.pending[1:]
		return l, nil
	}
	return c.lr.ReadLine(prompt)
}

// statement reads the rest of a Starlark statement that starts with first.
func (c *codeReader) statement(first string) (string, error) {
	var lines []string
	// Decorator lines are not Starlark syntax: keep them and parse from
	// the def that follows.
	for strings.HasPrefix(strings.TrimSpace(first), "@") {
		lines = append(lines, first)
		l, err := c.line(PS2)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return strings.Join(lines, "\n"), nil
			}
			return "", err
		}
		first = l
	}
	fed := []string{first}
	var readErr error
	started := false
	readline := func() ([]byte, error) {
		if !started {
			started = true
			if strings.Contains(first, "\n") {
				// A multi-line history entry: complete as it stands.
				return []byte(first + "\n\n"), nil
			}
			return []byte(first + "\n"), nil
		}
		l, err := c.line(PS2)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			readErr = err
			return nil, err
		}
		fed = append(fed, l)
		return []byte(l + "\n"), nil
	}
	f, perr := starlarklib.FileOptions().ParseCompoundStmt("<stdin>", readline)
	if readErr != nil {
		return "", readErr
	}
	if perr == nil && f != nil && len(f.Stmts) > 0 && !strings.Contains(first, "\n") {
		// Lines the parser read past the statement's end (a dedented line
		// after a block, in piped input) belong to the next input.
		_, end := f.Stmts[len(f.Stmts)-1].Span()
		if last := int(end.Line); last >= 1 && last < len(fed) {
			rest := fed[last:]
			for len(rest) > 0 && strings.TrimSpace(rest[0]) == "" {
				rest = rest[1:]
			}
			c.pending = append(append([]string(nil), rest...), c.pending...)
			fed = fed[:last]
		}
	}
	lines = append(lines, fed...)
	return strings.TrimRight(strings.Join(lines, "\n"), "\n "), nil
}
