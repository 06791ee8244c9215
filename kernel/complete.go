package kernel

import (
	"encoding/json"
	"strings"
)

// codeAt is the code and cursor position (in code points) of a
// complete_request or inspect_request.
type codeAt struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

// before returns the text of the cursor's line before the cursor.
func (c codeAt) before() (line string, cursor int) {
	r := []rune(c.Code)
	cursor = max(0, min(c.CursorPos, len(r)))
	text := string(r[:cursor])
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	return text, cursor
}

// complete answers a complete_request with the shell's completion.
func (k *Kernel) complete(m *Message) map[string]any {
	var req codeAt
	json.Unmarshal(m.Content, &req)
	line, cursor := req.before()
	matches, wordLen := k.sh.Complete(line)
	if matches == nil {
		matches = []string{}
	}
	return map[string]any{"status": "ok", "matches": matches, "cursor_start": cursor - len([]rune(line[len(line)-min(wordLen, len(line)):])),
		"cursor_end": cursor, "metadata": map[string]any{}}
}

// inspect answers an inspect_request with help for the dotted name at
// the cursor.
func (k *Kernel) inspect(m *Message) map[string]any {
	var req codeAt
	json.Unmarshal(m.Content, &req)
	r := []rune(req.Code)
	cursor := max(0, min(req.CursorPos, len(r)))
	// The dotted name around the cursor (a name just before an opening
	// parenthesis counts: f(| inspects f).
	end := cursor
	for end < len(r) && isNameRune(r[end]) {
		end++
	}
	start := end
	for start > 0 && (isNameRune(r[start-1]) || r[start-1] == '.') {
		start--
	}
	if start == end && end > 0 && r[end-1] == '(' {
		end--
		start = end
		for start > 0 && (isNameRune(r[start-1]) || r[start-1] == '.') {
			start--
		}
	}
	name := strings.Trim(string(r[start:end]), ".")
	text, found := "", false
	if name != "" {
		text, found = k.sh.Describe(name)
	}
	data := map[string]any{}
	if found {
		data["text/plain"] = text
	}
	return map[string]any{"status": "ok", "found": found, "data": data, "metadata": map[string]any{}}
}

func isNameRune(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
