package hub_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// dialFile dials the controller of a connection file, closed when the
// test ends.
func dialFile(t *testing.T, file string) *quic.Conn {
	t.Helper()
	conn, err := profile.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	key, err := conn.KeyBytes()
	if err != nil {
		t.Fatal(err)
	}
	qc, err := quic.Dial(ctxT(t, 10*time.Second), conn.Addresses[0], conn.Fingerprint, quic.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close(0, "test done") })
	return qc
}

// rawClient dials the cluster and says hello, as a client that will then
// misbehave.
func rawClient(t *testing.T, c *clustertest.Cluster) *quic.Conn {
	t.Helper()
	qc := dialFile(t, c.ClientFile)
	hello, _ := protocol.Marshal(protocol.THello, &protocol.Hello{Version: protocol.Version}, nil)
	if err := qc.WriteFrame(hello); err != nil {
		t.Fatal(err)
	}
	return qc
}

// watchIDs polls a client's engine ids until stop, which returns every
// list that differed from want.
func watchIDs(t *testing.T, cl *client.Client, want []int) (stop func() []string) {
	done := make(chan struct{})
	seen := make(chan []string, 1)
	go func() {
		var bad []string
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				seen <- bad
				return
			case <-tick.C:
				if got := cl.Ids(); !slices.Equal(got, want) {
					bad = append(bad, fmt.Sprint(got))
				}
			}
		}
	}()
	return func() []string { close(done); return <-seen }
}

// TestStalledClientHarmsNobody: a client that submits tasks with 1 MB
// results and never reads is disconnected as a slow consumer, while
// another client's 1,000 tasks all succeed and no engine is declared
// dead; the stalled client's results stay retrievable.
func TestStalledClientHarmsNobody(t *testing.T) {
	// DeadAfter is generous for a loaded machine; before the fix a stalled
	// client blocked the hub's engine readers for good, not for a while.
	c := clustertest.Start(t, 2, clustertest.Options{ClientQueue: 8 << 20, DeadAfter: 2 * time.Second * clustertest.Scale()})
	good := c.Client()
	watch := watchIDs(t, good, []int{0, 1})
	before := medianRoundTrip(t, good, 50)

	stalled := rawClient(t, c)
	body, _ := client.Encode("'x' * 1000000")
	const big = 100 // 100 MB of results: far over the bound plus QUIC's windows
	var stalledIDs []string
	for i := range big {
		req := protocol.Request{MsgID: fmt.Sprintf("stalled-%d", i), Kind: protocol.KindExecute, Engine: i % 2}
		p, _ := protocol.Marshal(protocol.TRequest, &req, nil)
		if err := stalled.WriteFrame(p, body); err != nil {
			t.Fatal(err)
		}
		stalledIDs = append(stalledIDs, req.MsgID)
	}

	// Meanwhile another client runs 1,000 tasks, direct to each engine so
	// that an engine declared dead would fail them with EngineError.
	during := medianRoundTrip(t, good, 50)
	t.Logf("the other client's median round trip: %v before, %v while the stalled client's results pile up", before, during)
	var ars []*client.AsyncResult
	for i := range 1000 {
		ar, err := good.View(i%2).ApplyAsync("lambda x: x + 1", i)
		if err != nil {
			t.Fatal(err)
		}
		ars = append(ars, ar)
	}
	for i, ar := range ars {
		got, err := ar.Get(ctxT(t, 60*time.Second))
		if err != nil || got[0] != int64(i+1) {
			t.Fatalf("task %d of the other client: %v, %v", i, got, err)
		}
	}

	select {
	case <-stalled.Done():
	case <-time.After(30 * time.Second * clustertest.Scale()):
		t.Fatal("the stalled client was not disconnected")
	}
	if err := stalled.Err(); !strings.Contains(fmt.Sprint(err), "slow consumer") {
		t.Errorf("stalled client closed with %v, want a slow-consumer close", err)
	}

	// Its results are in the task database.
	later := c.Client()
	tasks, err := later.HubResults(ctxT(t, 60*time.Second), stalledIDs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if s, ok := v.(string); !ok || len(s) != 1000000 {
			t.Fatalf("stalled client's result %d: %T of length %d", i, v, len(fmt.Sprint(v)))
		}
	}
	if bad := watch(); len(bad) > 0 {
		t.Errorf("the other client saw engines change: %v", bad)
	}
}

// medianRoundTrip measures n sequential calls alternating engines (for the log:
// timing is never asserted).
func medianRoundTrip(t *testing.T, cl *client.Client, n int) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		if _, err := cl.View(i%2).Apply(ctxT(t, 60*time.Second), "lambda: 1"); err != nil {
			t.Fatal(err)
		}
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[n/2]
}

// engineCmds starts n engines of a cluster started without any and
// returns them with a client.
func engineCmds(t *testing.T, c *clustertest.Cluster, n int) ([]*exec.Cmd, *client.Client) {
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = c.StartEngine(i, "--verbose")
	}
	cl := c.Client()
	c.WaitEngines(cl, n)
	return cmds, cl
}

func stop(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// TestBusyOrBrieflyStoppedEngineIsNotDead: an engine in a long Go call,
// stopped with SIGSTOP for less than DeadAfter, is not declared dead and
// finishes its task.
func TestBusyOrBrieflyStoppedEngineIsNotDead(t *testing.T) {
	dead := 1500 * time.Millisecond * clustertest.Scale()
	c := clustertest.Start(t, 0, clustertest.Options{DeadAfter: dead})
	cmds, cl := engineCmds(t, c, 1)
	watch := watchIDs(t, cl, []int{0})
	// sorted() of 3M ints is one long Go call.
	ar, err := cl.View(0).ApplyAsync("lambda: len(sorted(list(range(3000000)), reverse=True))")
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 10*time.Second, "the task to start", func() bool {
		_, ok := ar.Tasks[0].Started()
		return ok
	})
	for range 2 {
		stop(t, cmds[0], syscall.SIGSTOP)
		time.Sleep(dead / 3) // the stimulus, not synchronisation: another process's pause takes real time
		stop(t, cmds[0], syscall.SIGCONT)
	}
	got, err := ar.Get(ctxT(t, 60*time.Second))
	if err != nil || got[0] != int64(3000000) {
		t.Fatalf("task: %v, %v", got, err)
	}
	if bad := watch(); len(bad) > 0 {
		t.Errorf("engine 0 was declared dead: ids %v", bad)
	}
}

// TestDeadEngineRejoinsWithAnEmptyQueue: an engine stopped past DeadAfter
// is declared dead and its tasks fail; when it comes back it rejoins
// with the same id and namespace and runs none of the tasks whose
// clients were told they failed.
func TestDeadEngineRejoinsWithAnEmptyQueue(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	cmds, cl := engineCmds(t, c, 1)
	v := cl.View(0)
	if err := v.Execute(ctxT(t, 10*time.Second), "count = 0"); err != nil {
		t.Fatal(err)
	}
	// Still running when the stop comes, however late: the rejoin's drop
	// cancels it.
	running, err := v.ExecuteAsync("time.sleep(60)", true)
	if err != nil {
		t.Fatal(err)
	}
	var queued []*client.AsyncResult
	for range 3 {
		ar, err := v.ExecuteAsync("count = count + 1", true)
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, ar)
	}
	clustertest.Eventually(t, 10*time.Second, "the sleep to start", func() bool {
		_, ok := running.Tasks[0].Started()
		return ok
	})
	stop(t, cmds[0], syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			cmds[0].Process.Signal(syscall.SIGCONT)
		}
	}()
	for _, ar := range append([]*client.AsyncResult{running}, queued...) {
		_, err := ar.Get(ctxT(t, 20*time.Second))
		if remoteName(t, err) != "EngineError" {
			t.Fatalf("task of the stopped engine: %v, want EngineError", err)
		}
	}
	// The client must have seen the engine leave before it can tell its
	// return: the engine stays stopped until then.
	clustertest.Eventually(t, 20*time.Second, "engine 0 to leave", func() bool { return !slices.Contains(cl.Ids(), 0) })
	stop(t, cmds[0], syscall.SIGCONT)
	stopped = false
	clustertest.Eventually(t, 20*time.Second, "engine 0 to rejoin", func() bool { return slices.Contains(cl.Ids(), 0) })
	got, err := v.Pull(ctxT(t, 10*time.Second), "count")
	if err != nil || got[0] != int64(0) {
		t.Fatalf("count = %v, %v; want 0 (no failed task may run)", got, err)
	}
	// Whatever the engine finished for the failed tasks was discarded:
	// the hub's record still says EngineError and the client got nothing
	// twice.
	tasks, err := c.Client().HubResults(ctxT(t, 10*time.Second), []string{running.Tasks[0].MsgID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&client.AsyncResult{Tasks: tasks}).Get(ctxT(t, 10*time.Second)); remoteName(t, err) != "EngineError" {
		t.Errorf("recorded outcome of the running task: %v, want EngineError", err)
	}
	if n := cl.Strays(); n != 0 {
		t.Errorf("%d results arrived for tasks already failed", n)
	}
	if logs := c.Logs(); !strings.Contains(logs, "dropping its tasks") {
		t.Errorf("the engine did not report dropping its tasks:%s", logs)
	}
}

// TestShutdownHubStopsEngines: shutdown(hub=True) makes every engine
// process exit within the heartbeat bound.
func TestShutdownHubStopsEngines(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	cmds := make([]*exec.Cmd, 3)
	for i := range cmds {
		cmds[i] = c.StartEngine(i)
	}
	// A client that does not try to reconnect to the stopped controller.
	cl, err := client.Dial(ctxT(t, 10*time.Second), c.ClientFile, client.Options{Reconnect: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c.WaitEngines(cl, len(cmds))
	exited := make(chan error, len(cmds))
	for _, cmd := range cmds {
		go func() { exited <- cmd.Wait() }()
	}
	start := time.Now()
	if err := cl.Shutdown(ctxT(t, 10*time.Second), nil, true); err != nil {
		t.Fatal(err)
	}
	bound := 5 * time.Second * clustertest.Scale()
	for range cmds {
		select {
		case <-exited:
		case <-time.After(bound - time.Since(start)):
			t.Fatalf("engines still running %v after shutdown(hub=True)", bound)
		}
	}
	t.Logf("every engine exited %v after shutdown(hub=True)", time.Since(start))
}

// TestSilentConnectionClosed: an authenticated connection that never
// says hello is closed after the hello timeout.
func TestSilentConnectionClosed(t *testing.T) {
	h, err := hub.New(hub.Config{HelloTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-h.Ready()
	conn := h.Connection()
	key, _ := conn.KeyBytes()
	qc, err := quic.Dial(ctxT(t, 10*time.Second), conn.Addresses[0], conn.Fingerprint, quic.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close(0, "")
	select {
	case <-qc.Done():
	case <-time.After(10 * time.Second * clustertest.Scale()):
		t.Fatal("a connection that never said hello is still open")
	}
}

// TestPagedAnswers: hub_history and db_query come in pages that add up to
// the whole answer.
func TestPagedAnswers(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	cl := c.Client()
	ar, err := cl.View(0).MapAsync("lambda x: x", make([]any, 50))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.Get(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	all, err := cl.HubHistory(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var paged []string
	for off, n := 0, 0; n < 100; n++ {
		var page protocol.HistoryPage
		if err := cl.Control(ctxT(t, 10*time.Second), "hub_history", &protocol.PageArgs{Offset: off, Limit: 7}, &page); err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.IDs...)
		if page.Done {
			break
		}
		off = page.Next
	}
	if len(all) == 0 || !slices.Equal(paged, all) {
		t.Fatalf("paged history %d ids, whole %d", len(paged), len(all))
	}
	var rows []map[string]any
	for off, n := 0, 0; n < 100; n++ {
		var page protocol.QueryPage
		a := protocol.QueryArgs{Query: map[string]any{}, Keys: []string{"msg_id"}, Offset: off, Limit: 7}
		if err := cl.Control(ctxT(t, 10*time.Second), "db_query", &a, &page); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, page.Rows...)
		if page.Done {
			break
		}
		off = page.Next
	}
	if len(rows) != len(all) {
		t.Fatalf("paged query %d rows, want %d", len(rows), len(all))
	}
	var bad protocol.HistoryPage
	if err := cl.Control(ctxT(t, 10*time.Second), "hub_history", &protocol.PageArgs{Limit: protocol.MaxPageElements + 1}, &bad); err == nil {
		t.Error("a page over the limit: no error")
	}
}

// TestStoppedEngineRefusesPastItsQueueBound: requests for an engine that
// does not read pile up in the hub only to EngineQueue bytes; the rest fail
// at once with EngineBusy, and nothing is lost or blocked.
func TestStoppedEngineRefusesPastItsQueueBound(t *testing.T) {
	// Nothing may end the stopped engine's connection before the test's
	// own deadlines (the Gets below) do, however slow the machine: the
	// engines' QUIC idle timeout (4 s by default), the controller's (30 s)
	// and DeadAfter are raised past them. (One CI run got EngineError for
	// the last request while the engines' 4 s applied.)
	long := 5 * time.Minute * clustertest.Scale()
	t.Setenv("PXSH_ENGINE_IDLE_TIMEOUT", long.String())
	c := clustertest.Start(t, 0, clustertest.Options{EngineQueue: 1 << 20, DeadAfter: long, IdleTimeout: long, MemoryDB: true})
	cmds, cl := engineCmds(t, c, 1)
	stop(t, cmds[0], syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			cmds[0].Process.Signal(syscall.SIGCONT)
		}
	}()
	blob := strings.Repeat("x", 128<<10) // one frame: a streamed body waits for its engine instead
	var ars []*client.AsyncResult
	for i := range 40 {
		ar, err := cl.View(0).ApplyAsync("lambda s, i: len(s) + i", blob, i)
		if err != nil {
			t.Fatal(err)
		}
		ars = append(ars, ar)
	}
	// The refused ones fail while the engine is still stopped.
	_, err := ars[len(ars)-1].Get(ctxT(t, 60*time.Second))
	if remoteName(t, err) != "EngineBusy" {
		t.Fatalf("last request to a stopped engine: %v, want EngineBusy", err)
	}
	stop(t, cmds[0], syscall.SIGCONT)
	stopped = false
	ok, busy := 0, 0
	for i, ar := range ars {
		got, err := ar.Get(ctxT(t, 30*time.Second))
		switch {
		case err == nil && got[0] == int64(128<<10+i):
			ok++
		case err != nil && remoteName(t, err) == "EngineBusy":
			busy++
		default:
			t.Fatalf("task %d: %v, %v", i, got, err)
		}
	}
	if ok == 0 || busy == 0 {
		t.Errorf("%d ran and %d were refused; want some of each", ok, busy)
	}
	t.Logf("%d ran, %d refused with EngineBusy", ok, busy)
}

// TestOlderProtocolVersionRefused: a client or engine of another protocol
// version (the one before: 2, whose memfds are all sealed) is refused at
// hello or registration with an error naming both versions, not
// disconnected later by a body it cannot read.
func TestOlderProtocolVersionRefused(t *testing.T) {
	c := clustertest.Start(t, 0, clustertest.Options{})
	old := protocol.Version - 1
	want := fmt.Sprintf("protocol version %d, want %d", old, protocol.Version)
	cases := []struct {
		name, file string
		typ, reply protocol.Type
		hdr        any
	}{
		{"client", c.ClientFile, protocol.THello, protocol.TWelcome, &protocol.Hello{Version: old}},
		{"engine", c.EngineFile, protocol.TRegister, protocol.TRegistered, &protocol.Register{ID: 0, Host: "h", PID: 1, Version: old}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qc := dialFile(t, tc.file)
			first, _ := protocol.Marshal(tc.typ, tc.hdr, nil)
			if err := qc.WriteFrame(first); err != nil {
				t.Fatal(err)
			}
			// The refusal's frame, or the close that follows it, says why.
			msg := refusal(qc, tc.reply)
			if !strings.Contains(msg, want) {
				t.Fatalf("refusal %q, want it to say %q", msg, want)
			}
			select {
			case <-qc.Done():
			case <-time.After(10 * time.Second * clustertest.Scale()):
				t.Fatal("the controller kept the connection of another version open")
			}
			if !strings.Contains(qc.Err().Error(), "version mismatch") {
				t.Errorf("close reason %v, want the version mismatch", qc.Err())
			}
		})
	}
}

// refusal reads a Welcome or Registered refusal from qc: its error, or
// the connection's error when it closed first.
func refusal(qc *quic.Conn, reply protocol.Type) string {
	p, err := qc.ReadFrame()
	if err != nil {
		return err.Error()
	}
	typ, hdr, _, err := protocol.Split(p)
	if err != nil || typ != reply {
		return fmt.Sprintf("answer %v (%v), want %v", typ, err, reply)
	}
	if reply == protocol.TWelcome {
		var w protocol.Welcome
		err = protocol.UnmarshalHeader(hdr, &w)
		return fmt.Sprint(w.Error, err)
	}
	var r protocol.Registered
	err = protocol.UnmarshalHeader(hdr, &r)
	return fmt.Sprint(r.Error, err)
}
