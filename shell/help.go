package shell

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pxsh/pxsh/docs"
)

// helpSection is a "## " section of a doc: its intro text and its table
// rows.
type helpSection struct {
	title string
	intro []string
	rows  []helpRow
}

// helpRow is one table row: the names its first cell documents, the cell
// itself (usage) and the rest (meaning).
type helpRow struct {
	names []string
	usage string
	text  string
}

var (
	helpOnce sync.Once
	helpDocs map[string][]helpSection // file → sections
)

// loadHelp parses docs/STARLARK.md and docs/SHELL.md (embedded).
func loadHelp() map[string][]helpSection {
	helpOnce.Do(func() {
		helpDocs = map[string][]helpSection{}
		for _, f := range []string{"STARLARK.md", "SHELL.md"} {
			b, err := docs.FS.ReadFile(f)
			if err != nil {
				panic(err) // embedded: cannot happen
			}
			helpDocs[f] = parseDoc(string(b))
		}
	})
	return helpDocs
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// parseDoc splits Markdown into sections with their tables' rows.
func parseDoc(md string) []helpSection {
	var out []helpSection
	var cur *helpSection
	inCode := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		switch {
		case inCode:
		case strings.HasPrefix(line, "## "):
			out = append(out, helpSection{title: strings.TrimPrefix(line, "## ")})
			cur = &out[len(out)-1]
		case cur == nil:
		case strings.HasPrefix(line, "|"):
			cells := splitRow(line)
			if len(cells) < 2 || strings.HasPrefix(cells[0], "---") || strings.Trim(cells[0], "-: ") == "" && strings.Trim(cells[1], "-: ") == "" {
				continue
			}
			row := helpRow{usage: cells[0], text: strings.Join(cells[1:], " — ")}
			for _, m := range codeSpan.FindAllStringSubmatch(cells[0], -1) {
				if n := rowName(m[1]); n != "" {
					row.names = append(row.names, n)
				}
			}
			if len(row.names) == 0 {
				continue // a header row
			}
			cur.rows = append(cur.rows, row)
		case len(cur.rows) == 0 && strings.TrimSpace(line) != "":
			cur.intro = append(cur.intro, line)
		}
	}
	return out
}

// splitRow splits a table row on its unescaped pipes.
func splitRow(line string) []string {
	line = strings.Trim(strings.TrimSpace(line), "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			b.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

var rowNameRE = regexp.MustCompile(`^(?:[a-z]{1,3}\.)?(%{0,2}[A-Za-z_][A-Za-z0-9_]*)`)

// rowName is the name a code span documents: rc.wait(...) → wait,
// apply(f) → apply, %px CODE → %px.
func rowName(code string) string {
	m := rowNameRE.FindStringSubmatch(code)
	if m == nil {
		return ""
	}
	return m[1]
}

// typeSections maps a value's type to the STARLARK.md sections that
// document it (by title prefix).
var typeSections = map[string][]string{
	"Client":           {"Client", "The hub's task database"},
	"DirectView":       {"DirectView"},
	"LoadBalancedView": {"LoadBalancedView"},
	"Executor":         {"Executor"},
	"AsyncResult":      {"AsyncResult", "Executor"},
	"AsyncMapResult":   {"AsyncResult", "Executor"},
	"AsyncHubResult":   {"AsyncResult", "Executor"},
	"LazyMapIterator":  {"LoadBalancedView"},
	"RemoteError":      {"Errors"},
	"CompositeError":   {"Errors"},
	"builtin":          {"Builtins"},
}

// aliases lets help("dv.map") name a type by its usual variable.
var aliases = map[string]string{"rc": "Client", "dv": "DirectView", "lv": "LoadBalancedView", "ex": "Executor", "ar": "AsyncResult"}

func sectionsFor(typ string) []helpSection {
	var out []helpSection
	for _, prefix := range typeSections[typ] {
		for _, s := range loadHelp()["STARLARK.md"] {
			if strings.HasPrefix(s.title, prefix) {
				out = append(out, s)
			}
		}
	}
	return out
}

// findRow finds the row documenting name among sections; foo_sync and
// foo_async fall back to foo.
func findRow(secs []helpSection, name string) (helpRow, bool) {
	for _, n := range []string{name, strings.TrimSuffix(strings.TrimSuffix(name, "_sync"), "_async")} {
		for _, s := range secs {
			for _, r := range s.rows {
				if slices.Contains(r.names, n) {
					return r, true
				}
			}
		}
	}
	return helpRow{}, false
}

var emphasis = regexp.MustCompile("\\*\\*([A-Za-z][^*`]*?)\\*\\*")

// plain strips Markdown emphasis and code marks.
func plain(s string) string {
	s = emphasis.ReplaceAllString(s, "$1")
	return strings.ReplaceAll(s, "`", "")
}

// wrap writes text wrapped at 78 columns with an indent.
func wrap(w io.Writer, text, indent string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > 78 {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}

func writeRow(w io.Writer, r helpRow) {
	fmt.Fprintln(w, plain(r.usage))
	wrap(w, plain(r.text), "    ")
}

func writeSection(w io.Writer, s helpSection) {
	fmt.Fprintln(w, plain(s.title))
	if len(s.intro) > 0 {
		wrap(w, plain(strings.Join(s.intro, " ")), "  ")
	}
	for _, r := range s.rows {
		fmt.Fprint(w, "  ")
		fmt.Fprintln(w, plain(r.usage))
		wrap(w, plain(r.text), "      ")
	}
}

// helpOverview is help() without an argument.
func (s *Shell) helpOverview(w io.Writer) {
	fmt.Fprintln(w, "pxsh: Starlark with ipyparallel's client. help(x) documents any pxsh object or method")
	io.WriteString(w, `(help(rc), help(dv.map), help(ar.get), help(Client)); help("%px") a magic; dir(x) lists`+"\n")
	fmt.Fprintln(w, "its attributes; %lsmagic lists the magics. The full text: docs/STARLARK.md, docs/SHELL.md.")
	fmt.Fprintln(w)
	var names []string
	for k := range s.builtins {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Predeclared:", strings.Join(names, ", "))
	fmt.Fprintln(w, "Objects: rc = Client(), dv = rc[:] (DirectView), lv = rc.load_balanced_view(),")
	fmt.Fprintln(w, "ex = rc.executor(), ar = dv.apply_async(f) (AsyncResult)")
}

// help writes the documentation of v.
func (s *Shell) help(w io.Writer, v starlark.Value) error {
	switch x := v.(type) {
	case starlark.String:
		return s.helpName(w, string(x))
	case *starlark.Builtin:
		if recv := x.Receiver(); recv != nil {
			if r, ok := findRow(sectionsFor(recv.Type()), x.Name()); ok {
				fmt.Fprintf(w, "%s.%s: ", recv.Type(), x.Name())
				writeRow(w, r)
				return nil
			}
			fmt.Fprintf(w, "%s.%s: a method of %s with no entry of its own in docs/STARLARK.md; help(%q) shows the section\n",
				recv.Type(), x.Name(), recv.Type(), recv.Type())
			return nil
		}
		if r, ok := findRow(sectionsFor("builtin"), x.Name()); ok {
			writeRow(w, r)
			return nil
		}
		if x.Name() == "help" {
			s.helpOverview(w)
			return nil
		}
		fmt.Fprintf(w, "%s: a built-in function of Starlark (see the Starlark spec, \"Built-in functions\")\n", x.Name())
		return nil
	case *starlark.Function:
		fmt.Fprintf(w, "def %s(%s)\n", x.Name(), strings.Join(params(x), ", "))
		if d := x.Doc(); d != "" {
			wrap(w, d, "    ")
		}
		return nil
	case *starlarkstruct.Module:
		var names []string
		for k := range x.Members {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "module %s: %s\n", x.Name, strings.Join(names, ", "))
		return nil
	}
	if secs := sectionsFor(v.Type()); len(secs) > 0 {
		for i, sec := range secs {
			if i > 0 {
				fmt.Fprintln(w)
			}
			writeSection(w, sec)
		}
		return nil
	}
	fmt.Fprintf(w, "%s value", v.Type())
	if h, ok := v.(starlark.HasAttrs); ok {
		fmt.Fprintf(w, "; attributes: %s", strings.Join(h.AttrNames(), ", "))
	}
	fmt.Fprintln(w)
	return nil
}

func params(f *starlark.Function) []string {
	out := make([]string, f.NumParams())
	for i := range out {
		out[i], _ = f.Param(i)
	}
	return out
}

// helpName documents a name given as a string: a magic ("%px"), a
// type or a variable alias with an optional method ("dv.map",
// "AsyncResult"), or a predeclared name.
func (s *Shell) helpName(w io.Writer, name string) error {
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, "%") {
		for _, sec := range loadHelp()["SHELL.md"] {
			for _, r := range sec.rows {
				if slices.Contains(r.names, name) {
					writeRow(w, r)
					return nil
				}
			}
		}
		return fmt.Errorf("help: no magic %s (%%lsmagic lists them)", name)
	}
	typ, method, _ := strings.Cut(name, ".")
	if t, ok := aliases[typ]; ok {
		typ = t
	}
	if secs := sectionsFor(typ); len(secs) > 0 && typ != "builtin" {
		if method == "" {
			for i, sec := range secs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				writeSection(w, sec)
			}
			return nil
		}
		if r, ok := findRow(secs, method); ok {
			fmt.Fprintf(w, "%s.%s: ", typ, method)
			writeRow(w, r)
			return nil
		}
		return fmt.Errorf("help: %s has no documented %s", typ, method)
	}
	if v, ok := s.builtins[name]; ok {
		return s.help(w, v)
	}
	if v, ok := s.ns.Get(name); ok {
		return s.help(w, v)
	}
	return fmt.Errorf("help: nothing documents %q", name)
}

// helpBuiltin is help(x).
func (s *Shell) helpBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs("help", args, kwargs, "x?", &v); err != nil {
		return nil, err
	}
	if v == nil {
		s.helpOverview(s.cfg.Stdout)
		return starlark.None, nil
	}
	return starlark.None, s.help(s.cfg.Stdout, v)
}
