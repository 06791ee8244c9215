package client_test

import (
	"slices"
	"testing"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
)

func TestHistory(t *testing.T) {
	h := client.NewHistory()
	a := client.NewDoneTask(protocol.Result{MsgID: "a"}, nil)
	b := client.NewDoneTask(protocol.Result{MsgID: "b"}, nil)
	h.Record([]*client.Task{a, b})
	if got := h.IDs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("IDs = %v", got)
	}
	if h.Lookup("a") != a || len(h.Held()) != 2 || len(h.Outstanding()) != 0 {
		t.Fatalf("Lookup/Held/Outstanding disagree with the recorded tasks")
	}
	h.Forget([]string{"a"})
	if h.Lookup("a") != nil || h.Lookup("b") != b || len(h.IDs()) != 2 {
		t.Fatalf("Forget: a should leave the results, not the history")
	}
	h.ClearOrder()
	if len(h.IDs()) != 0 {
		t.Fatalf("ClearOrder left %v", h.IDs())
	}
}
