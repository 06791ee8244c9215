package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// This is the transcript format of shell/transcript_test.go (see there),
// read for piped input: the inputs, and the output without input lines.

type section struct {
	name            string
	inputs, outputs []string
}

func parse(t *testing.T, path string) (engines int, secs []section) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	engines = 4
	var cur *section
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			secs = append(secs, section{name: strings.TrimSpace(l[3:])})
			cur = &secs[len(secs)-1]
		case cur == nil:
			if n, ok := strings.CutPrefix(l, "#engines "); ok {
				engines = 0
				for _, r := range strings.TrimSpace(n) {
					engines = engines*10 + int(r-'0')
				}
			}
		default:
			if in, ok := inputLine(l); ok {
				cur.inputs = append(cur.inputs, in)
			} else {
				cur.outputs = append(cur.outputs, l)
			}
		}
	}
	return engines, secs
}

func inputLine(l string) (string, bool) {
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

func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// match replaces each line of got that matches want's line ("<*>" stands
// for any text) by want's line.
func match(want, got string) string {
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
