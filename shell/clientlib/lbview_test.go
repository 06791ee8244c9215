package clientlib_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/shell/clientlib"
)

// TestGetResultOfGoClient: a Starlark client fetches a Go client's
// load-balanced task, finds it by label, and gets the same value.
func TestGetResultOfGoClient(t *testing.T) {
	cl := sharedCluster(t)
	gc := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	label := fmt.Sprintf("go-%d", time.Now().UnixNano())
	task, err := gc.LoadBalanced(client.TaskOptions{Label: label}).ApplyAsync("lambda x: x * 3", 14)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, cl)
	h.must(fmt.Sprintf(`
rc = Client()
rows = rc.db_query({"label": %q}, keys=["label", "view_kind", "client_id"])
ids = [r["msg_id"] for r in rows]
hr = rc.get_result(ids[0])
`, label))
	if got := h.eval("ids"); got.String() != fmt.Sprintf("[%q]", task.MsgID) {
		t.Fatalf("db_query by label: %s, want [%q]", got, task.MsgID)
	}
	if got := h.eval(`rows[0]["view_kind"]`); got != starlark.String("balanced") {
		t.Errorf("view_kind: %s", got)
	}
	if got := h.eval(`rows[0]["client_id"]`); got != starlark.String(gc.ID()) {
		t.Errorf("client_id: %s, want %q", got, gc.ID())
	}
	if got := h.eval("hr.get()"); got != starlark.MakeInt(42) {
		t.Errorf("get_result: %s", got)
	}
	ar := h.eval("hr").(*clientlib.AsyncResult)
	r, _ := task.Result()
	hrr, _ := ar.Tasks()[0].Result()
	if d := time.Duration(hrr.Completed - r.Completed); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("completed differs by %v", d)
	}
	if hrr.Engine != r.Engine {
		t.Errorf("engine %d, want %d", hrr.Engine, r.Engine)
	}
}

// TestDBQueryArguments: queries convert from Starlark values (nested
// operators, lists, floats, None) and bad ones are reported.
func TestDBQueryArguments(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`
rc = Client()
ar = rc.load_balanced_view().map_async(lambda x: x, range(3), label="dbq")
ar.wait()
t0 = min(ar.submitted)
rows = rc.db_query({"label": "dbq", "submitted": {"$gte": t0 - 0.5, "$lt": t0 + 60.0}, "status": {"$in": ["ok", "error"]}, "engine_id": {"$ne": None}})
`)
	if got := h.eval("len(rows)"); got != starlark.MakeInt(3) {
		t.Errorf("rows: %s", got)
	}
	if got := h.eval(`type(rows[0]["completed"])`); got != starlark.String("float") {
		t.Errorf("completed is %s", got)
	}
	for _, bad := range []struct{ code, want string }{
		{`rc.db_query({"label": lambda: 1})`, "cannot use function"},
		{`rc.db_query({"label": {"$nope": 1}})`, "db_query"},
		{`rc.db_query({"label": "x"}, keys=[1])`, "keys must be strings"},
		{`rc.db_query({1: "x"})`, "dict keys must be strings"},
	} {
		err := h.exec("<bad>", bad.code)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.code, err, bad.want)
		}
	}
}

// TestImapCancel: cancel aborts the tasks in flight and nothing is left
// waiting in the controller.
func TestImapCancel(t *testing.T) {
	cl := sharedCluster(t)
	h := newHarness(t, cl)
	h.must(`
rc = Client()
lv = rc.load_balanced_view()
def nap(x):
    time.sleep(0.3)
    return x
it = lv.imap(nap, range(1000000), max_outstanding=8)
first = None
for r in it:
    first = r
    break
it.cancel()
rest = list(it)
ar = rc.get_result(it.msg_ids)
ar.wait(5)
`)
	if got := h.eval("first"); got != starlark.MakeInt(0) {
		t.Errorf("first: %s", got)
	}
	if got := h.eval("rest"); got.String() != "[]" {
		t.Errorf("after cancel: %s", got)
	}
	if got := h.eval("len(it.msg_ids)"); got != starlark.MakeInt(8) {
		t.Errorf("submitted %s, want 8", got)
	}
	// Every task ended: done, or aborted while queued or running.
	statuses := h.eval("ar.status").String()
	if strings.Contains(statuses, "None") || !strings.Contains(statuses, "aborted") {
		t.Errorf("statuses: %s", statuses)
	}
	st, err := cl.Client().QueueStatus(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unassigned != 0 {
		t.Errorf("unassigned: %d", st.Unassigned)
	}
}

// TestUnorderedMapMany: unordered iteration over many tasks yields each
// result once, in arrival order (within 50 ms: a watcher goroutine may
// be scheduled late on a loaded machine).
func TestUnorderedMapMany(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`
rc = Client()
ar = rc.load_balanced_view().map_async(lambda x: x, range(2000), ordered=False)
got = list(ar)
ok = sorted(got) == list(range(2000))
recv = ar.received
order = [recv[x] for x in got]
inversions = len([i for i in range(1, len(order)) if order[i] < order[i - 1] - 0.05])
`)
	if h.eval("ok") != starlark.True {
		t.Errorf("results are not a permutation of the input")
	}
	if got := h.eval("inversions"); got != starlark.MakeInt(0) {
		t.Errorf("%s results out of arrival order", got)
	}
}

// TestResultsBounded: rc.results holds a finished result only while an
// AsyncResult does, however the tasks were submitted (maps of 100 tasks
// never hit a pruning boundary by chance).
func TestResultsBounded(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`
rc = Client()
lv = rc.load_balanced_view()
def batches():
    for i in range(30):
        lv.map_sync(lambda x: x, range(100))
batches()
`)
	runtime.GC()
	runtime.GC()
	if n := starlark.Len(h.eval("rc.results")); n > 1100 {
		t.Errorf("len(rc.results) = %d after 3,000 tasks whose AsyncResults are gone, want at most 1,100", n)
	}
	if n := starlark.Len(h.eval("rc.history")); n != 3000 {
		t.Errorf("len(rc.history) = %d, want 3000", n)
	}
}

// TestClientTimeoutNone: Client(timeout=-1) means no bound, as in
// ipyparallel.
func TestClientTimeoutNone(t *testing.T) {
	h := newHarness(t, sharedCluster(t))
	h.must(`rc = Client(timeout=-1)`)
	if n := starlark.Len(h.eval("rc.ids")); n != nEngines {
		t.Errorf("len(rc.ids) = %d, want %d", n, nEngines)
	}
}
