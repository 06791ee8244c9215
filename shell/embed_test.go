package shell

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestSplitCell(t *testing.T) {
	parts := splitCell("x = 1\n%px y = 2\n\nif x:\n    z = 3\n%pxresult\n")
	want := []cellPart{{false, 0, "x = 1"}, {true, 1, "%px y = 2"}, {false, 2, "\nif x:\n    z = 3"}, {true, 5, "%pxresult"}}
	if len(parts) != len(want) {
		t.Fatalf("parts %+v", parts)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d: %+v, want %+v", i, parts[i], want[i])
		}
	}
}

func TestIsComplete(t *testing.T) {
	for code, want := range map[string]string{
		"x = 1": "complete", "": "complete", "%px x = 1": "complete",
		"def f():": "incomplete", "def f():\n    return 1": "incomplete", "def f():\n    return 1\n": "complete",
		"x = [1,\n2": "incomplete", "s = '''a": "incomplete", "%%px\nx = 1": "incomplete", "%%px\nx = 1\n": "complete",
		"x = )": "invalid",
	} {
		if got, _ := IsComplete(code); got != want {
			t.Errorf("IsComplete(%q) = %s, want %s", code, got, want)
		}
	}
	if _, indent := IsComplete("def f():"); indent != "    " {
		t.Errorf("indent %q", indent)
	}
}

// RunCell runs Starlark and magics without a cluster: values, line
// numbers and errors.
func TestRunCellLocal(t *testing.T) {
	s := New(Config{NoConnect: true, Getenv: func(string) string { return "" }})
	v, err := s.RunCell(context.Background(), "<cell 1>", "def f(x):\n    '''doubles'''\n    return 2 * x\n\nf(21)")
	if err != nil || v.String() != "42" {
		t.Fatalf("RunCell = %v, %v", v, err)
	}
	if got, _ := s.ns.Get("_"); got != v {
		t.Errorf("_ = %v", got)
	}
	_, err = s.RunCell(context.Background(), "<cell 2>", "a = 1\n\nb = a // 0")
	var ee *starlark.EvalError
	if !errors.As(err, &ee) || ee.CallStack[0].Pos.Line != 3 {
		t.Fatalf("error %v: want an EvalError at line 3", err)
	}
	ename, _, tb := ErrorParts(err)
	if ename != "Error" || len(tb) < 2 {
		t.Errorf("ErrorParts: %s %q", ename, tb)
	}
	_, err = s.RunCell(context.Background(), "<cell 3>", "fail('TimeoutError: Result not ready.')")
	if ename, evalue, _ := ErrorParts(err); ename != "Error" || evalue != "fail: TimeoutError: Result not ready." {
		t.Errorf("fail(): %s %q", ename, evalue)
	}
	_, err = s.RunCell(context.Background(), "<cell 3>", "%nosuchmagic")
	if ename, _, _ := ErrorParts(err); ename != "UsageError" {
		t.Errorf("unknown magic: %v (%s)", err, ename)
	}
	if text, ok := s.Describe("f"); !ok || text != "f: function\ndef f(x)\n    doubles\n" {
		t.Errorf("Describe(f) = %q, %v", text, ok)
	}
	// Inspection shows what help(x) shows, from docs/STARLARK.md.
	if text, ok := s.Describe("catch"); !ok || !strings.Contains(text, "catch(") {
		t.Errorf("Describe(catch) = %q, %v: want the help text", text, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RunCell(ctx, "<cell 4>", "1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled cell: %v", err)
	}
}
