package shell

import (
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// keywords are Starlark's keywords, offered by completion.
var keywords = []string{"and", "break", "continue", "def", "elif", "else", "for", "if", "in",
	"lambda", "load", "not", "or", "pass", "return", "while"}

// Complete proposes completions for the text before the cursor: magic
// names at the start of a line, attributes after a dot (rc., dv., ar. or
// any value's attributes, without calling anything), else global names,
// builtins and keywords. It returns whole words and the length of the
// word they replace.
func (s *Shell) Complete(before string) ([]string, int) {
	trimmed := strings.TrimLeft(before, " \t")
	if strings.HasPrefix(trimmed, "%") && !strings.ContainsAny(trimmed, " \t") {
		return filterPrefix(s.MagicNames(), trimmed), len(trimmed)
	}
	// The dotted name that ends at the cursor.
	i := len(before)
	for i > 0 && isNameByte(before[i-1]) || i > 0 && before[i-1] == '.' {
		i--
	}
	word := before[i:]
	if word == "" || word[0] >= '0' && word[0] <= '9' {
		if word == "" {
			return nil, 0
		}
	}
	if dot := strings.LastIndexByte(word, '.'); dot >= 0 {
		v := s.lookupPath(word[:dot])
		if v == nil {
			return nil, 0
		}
		prefix := word[dot+1:]
		var names []string
		if h, ok := v.(starlark.HasAttrs); ok {
			names = h.AttrNames()
		}
		return filterPrefix(names, prefix), len(prefix)
	}
	names := append([]string(nil), keywords...)
	for k := range s.builtins {
		names = append(names, k)
	}
	for k := range s.ns.Globals() {
		names = append(names, k)
	}
	for k := range starlark.Universe {
		names = append(names, k)
	}
	return filterPrefix(dedup(names), word), len(word)
}

// lookupPath evaluates a dotted name (a.b.c) by attribute access only.
func (s *Shell) lookupPath(path string) starlark.Value {
	parts := strings.Split(path, ".")
	v, ok := s.ns.Get(parts[0])
	if !ok {
		v, ok = starlark.Universe[parts[0]]
		if !ok {
			return nil
		}
	}
	for _, p := range parts[1:] {
		h, ok := v.(starlark.HasAttrs)
		if !ok || p == "" {
			return nil
		}
		x, err := h.Attr(p)
		if err != nil || x == nil {
			return nil
		}
		v = x
	}
	return v
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func filterPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !strings.HasPrefix(n, "__") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func dedup(names []string) []string {
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
