package clientlib

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/pxsh/pxsh/protocol"
)

func TestTimelineSVG(t *testing.T) {
	ms := int64(1e6)
	spans := []span{
		{id: "a-1", engine: 0, kind: protocol.KindApply, status: protocol.StatusOK, submitted: 0, started: 1 * ms, completed: 5 * ms},
		{id: "a-2", engine: 1, kind: protocol.KindExecute, status: protocol.StatusError, submitted: 0, started: 2 * ms, completed: 3 * ms},
		{id: "a-3", engine: 1, kind: protocol.KindApply, status: "", submitted: 1 * ms, started: 3 * ms, completed: 9 * ms},
	}
	var buf bytes.Buffer
	writeTimelineSVG(&buf, spans, "<AsyncResult(f): pending>")
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	bars, titles := 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, buf.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "title" {
			var s string
			dec.DecodeElement(&s, &se)
			titles = append(titles, s)
			bars++
		}
	}
	if bars != 3 {
		t.Fatalf("%d bars, want 3:\n%s", bars, buf.String())
	}
	for _, want := range []string{"a-2 execute on engine 1: 1ms", `fill="#c92a2a"`, `fill="url(#run)"`, "engine 0", "engine 1", "3 tasks, 9ms"} {
		if !strings.Contains(buf.String(), want) && !strings.Contains(strings.Join(titles, "\n"), want) {
			t.Errorf("SVG lacks %q:\n%s", want, buf.String())
		}
	}
}
