// Package transcript reads pxsh transcripts for tests: pasted sessions
// (testdata/*.txt) whose lines starting with ">>> " or "... " are typed
// input and whose other lines are the expected output (stdout and stderr
// together). "## name" lines start a section; before the first section,
// lines starting with "#" are comments and "#engines N" sets the number of
// engines (default 4).
package transcript

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Section is a named part of a transcript.
type Section struct {
	Name  string
	Lines []string // input and output lines, as in the file
}

// Transcript is a parsed transcript file.
type Transcript struct {
	Engines  int
	Sections []Section
}

// Parse reads a transcript file.
func Parse(path string) (*Transcript, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tr := &Transcript{Engines: 4}
	var cur *Section
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			tr.Sections = append(tr.Sections, Section{Name: strings.TrimSpace(l[3:])})
			cur = &tr.Sections[len(tr.Sections)-1]
		case cur == nil:
			if n, ok := strings.CutPrefix(l, "#engines "); ok {
				if tr.Engines, err = strconv.Atoi(strings.TrimSpace(n)); err != nil {
					return nil, fmt.Errorf("%s: bad #engines line %q", path, l)
				}
			}
		default:
			cur.Lines = append(cur.Lines, l)
		}
	}
	for i := range tr.Sections {
		s := &tr.Sections[i]
		for len(s.Lines) > 0 && strings.TrimSpace(s.Lines[len(s.Lines)-1]) == "" {
			s.Lines = s.Lines[:len(s.Lines)-1]
		}
	}
	return tr, nil
}

// InputLine returns the typed text of an input line.
func InputLine(l string) (string, bool) {
	for _, p := range []string{">>>", "..."} {
		if l == p {
			return "", true
		}
		if rest, ok := strings.CutPrefix(l, p+" "); ok {
			return rest, true
		}
	}
	return "", false
}

// Inputs returns the section's typed lines.
func (s Section) Inputs() []string {
	var in []string
	for _, l := range s.Lines {
		if x, ok := InputLine(l); ok {
			in = append(in, x)
		}
	}
	return in
}

// OutputOnly is the expected output without the input lines (what piped
// input prints), normalized.
func (s Section) OutputOnly() string {
	var out []string
	for _, l := range s.Lines {
		if _, ok := InputLine(l); !ok {
			out = append(out, l)
		}
	}
	return Normalize(strings.Join(out, "\n"))
}

// Normalize trims trailing blanks of every line and trailing newlines.
func Normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// Match returns got with every line that matches the corresponding line
// of want (where "<*>" stands for any text) replaced by want's line, so
// that a diff shows only real differences.
func Match(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(wl), len(gl)) {
		if !strings.Contains(wl[i], "<*>") {
			continue
		}
		parts := strings.Split(wl[i], "<*>")
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		if regexp.MustCompile("^" + strings.Join(parts, ".*?") + "$").MatchString(gl[i]) {
			gl[i] = wl[i]
		}
	}
	return strings.Join(gl, "\n")
}
