package client

import (
	"reflect"
	"testing"

	"github.com/pxsh/pxsh/protocol"
)

// A gather's result is allocated once at its full length: the tasks'
// lists and tuples are counted before it is made, not grown task by task.
func TestCollectGatherSizedOnce(t *testing.T) {
	var tasks []*Task
	for i, v := range []any{[]any{int64(1), int64(2), int64(3), int64(4)}, Tuple{int64(5), int64(6)}, "seven"} {
		body, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, NewDoneTask(protocol.Result{MsgID: string(rune('a' + i)), Status: protocol.StatusOK, HasValue: true}, body))
	}
	a := &AsyncResult{Tasks: tasks, Combine: CombineGather}
	out, err := Collect[any](a, goDecoder{a}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), "seven"}
	if !reflect.DeepEqual(out, want) || cap(out) != len(want) {
		t.Fatalf("gather = %v (cap %d), want %v (cap %d)", out, cap(out), want, len(want))
	}
}
