package spectest

import (
	"regexp"
	"strconv"
	"strings"

	"go.starlark.net/syntax"

	"github.com/pxsh/pxsh/starlarklib"
)

// input is one top-level statement as a user types it at the prompt:
// without blank or comment-only lines (a blank line ends a compound
// statement in the shell, as in Python's), a compound statement ended by
// one blank line.
type input struct {
	text  string
	lines []int // the chunk's line of each line of text
}

// replInputs splits src into the inputs a user would type; the shell
// names the n-th one <stdin:n>.
func replInputs(src string) ([]input, error) {
	f, err := starlarklib.FileOptions().Parse("chunk", src, 0)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(src, "\n")
	literal := literalLines(f)
	var ins []input
	for i, s := range f.Stmts {
		from := int(syntax.Start(s).Line)
		if i+1 < len(f.Stmts) && int(syntax.Start(f.Stmts[i+1]).Line) == from {
			continue // several statements on one line: one input
		}
		to := len(lines)
		if i+1 < len(f.Stmts) {
			to = int(syntax.Start(f.Stmts[i+1]).Line) - 1
		}
		var in input
		var text []string
		for l := from; l <= to; l++ {
			t := strings.TrimSpace(lines[l-1])
			if !literal[l] && (t == "" || strings.HasPrefix(t, "#")) {
				continue
			}
			text = append(text, lines[l-1])
			in.lines = append(in.lines, l)
		}
		for len(text) > 0 && !literal[in.lines[len(in.lines)-1]] && strings.TrimSpace(text[len(text)-1]) == "" {
			text, in.lines = text[:len(text)-1], in.lines[:len(in.lines)-1]
		}
		switch s.(type) {
		case *syntax.DefStmt, *syntax.ForStmt, *syntax.WhileStmt, *syntax.IfStmt:
			text = append(text, "")
			in.lines = append(in.lines, 0)
		}
		in.text = strings.Join(text, "\n") + "\n"
		ins = append(ins, in)
	}
	return ins, nil
}

// feed returns the text of inputs.
func feed(ins []input) string {
	var b strings.Builder
	for _, in := range ins {
		b.WriteString(in.text)
	}
	return b.String()
}

// failedInput returns the number of the input whose top level failed
// first (the outermost frame of the first error report), 0 if none.
func failedInput(stderr string) int {
	reports := splitReports(stderr)
	if len(reports) == 0 {
		return 0
	}
	r := reports[0]
	if frames := stdinFrameRE.FindStringSubmatch(r); frames != nil {
		n, _ := strconv.Atoi(frames[1])
		return n
	}
	if m := stdinStatic.FindStringSubmatch(r); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// literalLines returns the lines that continue a multi-line string
// literal: their text (even blank) is part of the value.
func literalLines(f *syntax.File) map[int]bool {
	lit := map[int]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if l, ok := n.(*syntax.Literal); ok && (l.Token == syntax.STRING || l.Token == syntax.BYTES) {
			for k := 1; k <= strings.Count(l.Raw, "\n"); k++ {
				lit[int(l.TokenPos.Line)+k] = true
			}
		}
		return true
	})
	return lit
}

var (
	stdinFrameRE = regexp.MustCompile(`(?m)^\s*<stdin:(\d+)>:(\d+):(\d+): in `)
	stdinStatic  = regexp.MustCompile(`(?m)^<stdin:(\d+)>:(\d+):\d+: (.*)$`)
)

// replOutcome reads the errors the shell printed on stderr for the inputs
// ins: the first error gives the outcome, a second one is a problem.
func replOutcome(stderr string, ins []input, asserts []string) outcome {
	o := outcome{asserts: asserts}
	chunkLine := func(n, l string) int {
		ni, _ := strconv.Atoi(n)
		li, _ := strconv.Atoi(l)
		if ni < 1 || ni > len(ins) || li < 1 || li > len(ins[ni-1].lines) {
			return -1
		}
		return ins[ni-1].lines[li-1]
	}
	reports := splitReports(stderr)
	for i, r := range reports {
		if i > 0 {
			o.asserts = append(o.asserts, "another error after the first: "+r)
			continue
		}
		if frames := stdinFrameRE.FindAllStringSubmatch(r, -1); len(frames) > 0 {
			last := frames[len(frames)-1] // innermost
			o.errLine = chunkLine(last[1], last[2])
			o.errMsg = tracebackMsg(r)
		} else if m := stdinStatic.FindStringSubmatch(r); m != nil {
			o.errLine = chunkLine(m[1], m[2])
			o.errMsg = m[3]
		} else {
			o.errMsg = r
		}
	}
	return o
}

// splitReports splits the shell's stderr into its error reports: a
// traceback (from "Traceback" to its "Error" line) or a one-line error.
func splitReports(stderr string) []string {
	var reports []string
	var cur []string
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "Traceback"):
			cur = []string{l}
		case cur != nil:
			cur = append(cur, l)
			if msgRE.MatchString(l) {
				reports = append(reports, strings.Join(cur, "\n"))
				cur = nil
			}
		default:
			reports = append(reports, l)
		}
	}
	if cur != nil {
		reports = append(reports, strings.Join(cur, "\n"))
	}
	return reports
}
